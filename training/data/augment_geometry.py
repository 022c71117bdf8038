"""Camera geometry: a small rotation and perspective, as when a system is photographed slightly
askew and then cropped by an axis-aligned box. Newly exposed area is white paper.

The engraver's boxes move with the pixels: `Warp.box` maps a box's corners through the same
perspective and returns the box around them (`Warp.y` does a staff line's height at mid-width).
"""
import math
from dataclasses import dataclass

import numpy as np
from PIL import Image

MAX_ROTATION_DEGREES = 2.0
MAX_CORNER_SHIFT = 0.02  # fraction of the image height each corner may move


@dataclass(frozen=True)
class Warp:
    """One drawn perspective: `backward` reads each output pixel in the input (PIL's coefficients),
    `forward` takes an input point to where it lands."""

    size: tuple[int, int]
    backward: tuple[float, ...]
    forward: tuple[float, ...]

    def image(self, image: Image.Image) -> Image.Image:
        return image.transform(self.size, Image.PERSPECTIVE, self.backward, Image.BILINEAR, fillcolor=255)

    def points(self, xs: np.ndarray, ys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        a, b, c, d, e, f, g, h = self.forward
        scale = g * xs + h * ys + 1
        return (a * xs + b * ys + c) / scale, (d * xs + e * ys + f) / scale

    def box(self, box):
        """The box around a box's moved corners, inside the image (None stays None)."""
        if box is None:
            return None
        x0, y0, x1, y1 = box
        xs, ys = self.points(np.array([x0, x1, x1, x0], float), np.array([y0, y0, y1, y1], float))
        width, height = self.size
        return [
            round(float(np.clip(xs.min(), 0, width)), 1), round(float(np.clip(ys.min(), 0, height)), 1),
            round(float(np.clip(xs.max(), 0, width)), 1), round(float(np.clip(ys.max(), 0, height)), 1),
        ]  # fmt: skip

    def y(self, y: float) -> float:
        """Where a horizontal line at height y crosses the middle of the image once moved."""
        _, moved = self.points(np.array([self.size[0] / 2]), np.array([float(y)]))
        return round(float(moved[0]), 2)


def random_warp(size: tuple[int, int], rng: np.random.Generator, strength: float) -> Warp:
    """A rotation and perspective of an image of this size, shrunk just enough to stay inside its frame."""
    width, height = size
    corners = np.array([(0, 0), (width, 0), (width, height), (0, height)], dtype=np.float64)
    angle = math.radians(rng.uniform(-1, 1) * MAX_ROTATION_DEGREES * strength)
    shift = rng.uniform(-1, 1, size=(4, 2)) * MAX_CORNER_SHIFT * height * strength
    moved = _rotate(corners, angle, center=(width / 2, height / 2)) + shift
    placed = _fit_inside(moved, width, height, rng)
    return Warp(
        size=(width, height),
        backward=_perspective_coefficients(output_quad=placed, input_quad=corners),
        forward=_perspective_coefficients(output_quad=corners, input_quad=placed),
    )


def warp(image: Image.Image, rng: np.random.Generator, strength: float) -> Image.Image:
    """Rotate and perspective-distort `image` ("L") within its frame."""
    return random_warp(image.size, rng, strength).image(image)


def _rotate(points: np.ndarray, angle: float, center: tuple[float, float]) -> np.ndarray:
    cos, sin = math.cos(angle), math.sin(angle)
    rotation = np.array([[cos, -sin], [sin, cos]])
    return (points - center) @ rotation.T + center


def _fit_inside(quad: np.ndarray, width: int, height: int, rng: np.random.Generator) -> np.ndarray:
    """Scale the quad down until its bounding box fits the frame, then place it at random within it.

    On a wide system even 2 degrees lifts one end by several staff spaces; cropping would cut music
    off, whereas a smaller tilted system inside a white box is what a user's crop of a photo is.
    """
    low, high = quad.min(axis=0), quad.max(axis=0)
    size = high - low
    scale = min(1.0, width / size[0], height / size[1])
    quad = (quad - low) * scale
    slack = np.array([width, height]) - size * scale
    return quad + rng.uniform(0, 1, size=2) * slack


def _perspective_coefficients(output_quad: np.ndarray, input_quad: np.ndarray) -> tuple[float, ...]:
    """The 8 coefficients of the perspective that takes each output_quad corner to its input_quad corner
    (PIL's convention: for an image transform, where each output pixel is read in the input)."""
    rows, targets = [], []
    for (x, y), (u, v) in zip(output_quad, input_quad):
        rows.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
        rows.append([0, 0, 0, x, y, 1, -v * x, -v * y])
        targets += [u, v]
    return tuple(np.linalg.solve(np.array(rows), np.array(targets)))
