"""Camera photometry: ink, optics, paper, light, sensor noise, tone curve and compression.

Every op draws its own parameters from the given rng; `strength` scales how far they may go
(0 leaves the image as it is, 1 is the intended camera-like range).
"""
import io
import math

import numpy as np
from PIL import Image, ImageFilter

from training.data.noise_bank import noise_crop

LIGHT_FIELD_STEP = 8  # light varies slowly: computed on a grid this many times coarser, upscaled


def ink_thickness(pixels: np.ndarray, rng: np.random.Generator, strength: float) -> np.ndarray:
    """Bolder or fainter print: a 3-pixel min (bolder) or max (fainter) filter, partly blended in."""
    bolder = rng.random() < 0.6
    axes = [(0,), (1,), (0, 1)][rng.integers(3)]
    # Full thinning would erase 1-pixel staff lines, so fainter print only goes half way.
    amount = min(1.0, rng.uniform(0.3, 1.0 if bolder else 0.5) * strength)
    spread = pixels
    for axis in axes:
        spread = _three_tap(spread, np.minimum if bolder else np.maximum, axis)
    weight = int(round(amount * 256))
    mixed = pixels.astype(np.uint16) * (256 - weight) + spread.astype(np.uint16) * weight
    return ((mixed + 128) >> 8).astype(np.uint8)


def _three_tap(pixels: np.ndarray, pick, axis: int) -> np.ndarray:
    """Each pixel replaced by `pick` of itself and its two neighbours along `axis`."""
    out = pixels.copy()
    head = [slice(None)] * 2
    tail = [slice(None)] * 2
    head[axis], tail[axis] = slice(1, None), slice(None, -1)
    head, tail = tuple(head), tuple(tail)
    pick(out[head], pixels[tail], out=out[head])
    pick(out[tail], pixels[head], out=out[tail])
    return out


def blur(image: Image.Image, rng: np.random.Generator, strength: float) -> Image.Image:
    """Defocus (gaussian) most of the time, otherwise a short hand-shake streak (motion)."""
    if rng.random() < 0.7:
        return image.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 1.3) * strength))
    length = min(4.0, rng.uniform(1, 4) * strength)
    return image.filter(_motion_kernel(length, angle=rng.uniform(0, math.pi)))


def _motion_kernel(length: float, angle: float) -> ImageFilter.Kernel:
    """A 5x5 kernel holding an anti-aliased line segment through its centre."""
    weights = np.zeros((5, 5))
    for t in np.linspace(-length / 2, length / 2, 33):
        x, y = 2 + t * math.cos(angle), 2 + t * math.sin(angle)
        x0, y0 = int(math.floor(x)), int(math.floor(y))
        fx, fy = x - x0, y - y0
        for dy, wy in ((0, 1 - fy), (1, fy)):
            for dx, wx in ((0, 1 - fx), (1, fx)):
                if 0 <= y0 + dy < 5 and 0 <= x0 + dx < 5:
                    weights[y0 + dy, x0 + dx] += wx * wy
    return ImageFilter.Kernel((5, 5), weights.ravel().tolist(), scale=weights.sum())


def paper(light: np.ndarray, rng: np.random.Generator, strength: float) -> None:
    """Off-white paper with a faint fibre texture (in place, on brightness in [0, 1])."""
    level = 1.0 - rng.uniform(0, 0.2) * strength
    grain = rng.uniform(0, 0.05) * strength
    light *= level + grain * noise_crop("paper", light.shape, rng)


def illumination(light: np.ndarray, rng: np.random.Generator, strength: float) -> None:
    """Uneven light: a linear falloff, sometimes a soft shadow edge across the system (in place)."""
    height, width = light.shape
    rows = np.linspace(0, 1, max(2, math.ceil(height / LIGHT_FIELD_STEP)))[:, None]
    cols = np.linspace(0, width / height, max(2, math.ceil(width / LIGHT_FIELD_STEP)))[None, :]
    direction = rng.uniform(0, 2 * math.pi)
    ramp = cols * math.cos(direction) + rows * math.sin(direction)
    ramp = (ramp - ramp.min()) / max(np.ptp(ramp), 1e-6)
    field = 1.0 - rng.uniform(0, 0.35) * strength * ramp
    if rng.random() < 0.5:
        normal = rng.uniform(0, 2 * math.pi)
        centre_x, centre_y = rng.uniform(0, width / height), rng.uniform(0, 1)
        distance = (cols - centre_x) * math.cos(normal) + (rows - centre_y) * math.sin(normal)
        softness = rng.uniform(0.05, 0.5)  # in system heights
        darkness = rng.uniform(0.1, 0.4) * strength
        field = field * (1.0 - darkness / (1.0 + np.exp(-distance / softness)))
    coarse = Image.fromarray(field.astype(np.float32))
    light *= np.asarray(coarse.resize((width, height), Image.BILINEAR))


def contrast(image: Image.Image, rng: np.random.Generator, strength: float) -> Image.Image:
    """The camera's tone curve: gamma, and ink that is dark grey rather than black.

    Applied as a 256-entry lookup table after the sensor noise, as a camera's processing does.
    """
    gamma = math.exp(rng.uniform(-0.4, 0.4) * strength)
    black = rng.uniform(0, 0.3) * strength
    curve = black + (1.0 - black) * np.linspace(0.0, 1.0, 256) ** gamma
    return image.point((curve * 255 + 0.5).astype(np.uint8).tolist())


def sensor_noise(light: np.ndarray, rng: np.random.Generator, strength: float) -> None:
    """Additive gaussian sensor noise (in place)."""
    sigma = rng.uniform(0.01, 0.06) * strength
    light += sigma * noise_crop("sensor", light.shape, rng)


def jpeg(image: Image.Image, rng: np.random.Generator, strength: float) -> Image.Image:
    """A JPEG round trip: blocking and ringing as in photos shared from a phone."""
    quality = int(np.clip(round(95 - rng.uniform(0, 65) * strength), 10, 95))
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality)
    buffer.seek(0)
    with Image.open(buffer) as compressed:
        return compressed.convert("L")
