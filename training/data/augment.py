"""Online camera-like augmentation of grayscale system images.

Clean renders are stored and augmented on the fly (each image costs milliseconds). The output
keeps the input's size and stays grayscale; geometry fills exposed area with white. For MAE
pretraining the clean image is the reconstruction target, so `pair` returns it alongside.
`apply` also moves a row's engraver geometry (token boxes, staff lines) with the pixels.
"""
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from training.data import augment_photometric as photometric
from training.data.augment_geometry import Warp, random_warp
from acai_hf.page.grayscale import to_grayscale

# In the order a photo is made: print, pose, optics, paper and light, sensor, tone curve, file.
OPS = ("ink", "warp", "blur", "paper", "illumination", "noise", "contrast", "jpeg")
TONE_OPS = {  # act in place on brightness in [0, 1]
    "paper": photometric.paper,
    "illumination": photometric.illumination,
    "noise": photometric.sensor_noise,
}
DEFAULT_OP_PROBS = {
    "ink": 0.3,
    "warp": 0.8,
    "blur": 0.5,
    "paper": 0.5,
    "illumination": 0.6,
    "noise": 0.6,
    "contrast": 0.5,
    "jpeg": 0.5,
}


@dataclass
class CameraAugment:
    """With probability `p` an image is augmented; then each op runs with its own probability.

    `strength` scales every op's range (0: no change, 1: the intended camera-like range).
    """

    p: float = 0.5
    strength: float = 1.0
    op_probs: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_OP_PROBS))

    def __post_init__(self):
        unknown = set(self.op_probs) - set(OPS)
        if unknown:
            raise ValueError(f"unknown augmentation ops {sorted(unknown)}; known: {list(OPS)}")
        self.op_probs = {name: float(self.op_probs.get(name, 0.0)) for name in OPS}

    def __call__(
        self, image: Image.Image | np.ndarray, rng: np.random.Generator | None = None
    ) -> Image.Image:
        """The augmented image ("L", same size); deterministic for a given rng state."""
        return self.apply(image, rng)[0]

    def apply(
        self, image: Image.Image | np.ndarray, rng: np.random.Generator | None = None, geometry: dict | None = None
    ) -> tuple[Image.Image, dict | None]:
        """The augmented image and the geometry moved with it: `geometry` maps names to lists of boxes
        ([x0, y0, x1, y1] or None), except "staff_lines" (per staff, the y of its lines)."""
        rng = np.random.default_rng() if rng is None else rng
        image = to_grayscale(image)
        if rng.random() >= self.p:
            return image, geometry
        # Decide every op first, so the draws that follow do not depend on which ops ran.
        chosen = {name for name in OPS if rng.random() < self.op_probs[name]}
        strength = self.strength
        if "ink" in chosen:
            image = Image.fromarray(photometric.ink_thickness(np.asarray(image), rng, strength))
        if "warp" in chosen:
            drawn = random_warp(image.size, rng, strength)
            image = drawn.image(image)
            geometry = moved_geometry(drawn, geometry)
        if "blur" in chosen:
            image = photometric.blur(image, rng, strength)
        tone_ops = [op for name, op in TONE_OPS.items() if name in chosen]
        if tone_ops:
            light = np.asarray(image).astype(np.float32) * (1 / 255)
            for op in tone_ops:
                op(light, rng, strength)
            image = Image.fromarray((np.clip(light, 0.0, 1.0) * 255 + 0.5).astype(np.uint8))
        if "contrast" in chosen:
            image = photometric.contrast(image, rng, strength)
        if "jpeg" in chosen:
            image = photometric.jpeg(image, rng, strength)
        return image, geometry

    def pair(
        self, image: Image.Image | np.ndarray, rng: np.random.Generator | None = None
    ) -> tuple[Image.Image, Image.Image]:
        """(augmented, clean): the clean grayscale image is the MAE reconstruction target."""
        clean = to_grayscale(image)
        return self(clean, rng), clean


def moved_geometry(drawn: Warp, geometry: dict | None) -> dict | None:
    if geometry is None:
        return None
    moved = {}
    for name, value in geometry.items():
        if value is None:
            moved[name] = None
        elif name == "staff_lines":
            moved[name] = [[drawn.y(y) for y in lines] for lines in value]
        else:
            moved[name] = [drawn.box(box) for box in value]
    return moved


@dataclass
class CameraTransform:
    """A batch transform for `datasets.Dataset.with_transform`: augments `image_column` and, unless
    `clean_column` is None, adds the clean images under that name.

    Each call draws fresh OS entropy, so DataLoader workers never repeat each other's augmentations.
    A class rather than a closure, so that spawned DataLoader workers can pickle it.
    """

    augment: CameraAugment
    image_column: str = "image"
    clean_column: str | None = "clean_image"

    def __call__(self, batch: dict) -> dict:
        rng = np.random.default_rng()
        pairs = [self.augment.pair(image, rng) for image in batch[self.image_column]]
        batch[self.image_column] = [augmented for augmented, _ in pairs]
        if self.clean_column is not None:
            batch[self.clean_column] = [clean for _, clean in pairs]
        return batch
