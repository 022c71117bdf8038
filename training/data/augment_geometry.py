"""Camera geometry: a small rotation and perspective, as when a system is photographed slightly
askew and then cropped by an axis-aligned box. Newly exposed area is white paper."""
import math

import numpy as np
from PIL import Image

MAX_ROTATION_DEGREES = 2.0
MAX_CORNER_SHIFT = 0.02  # fraction of the image height each corner may move


def warp(image: Image.Image, rng: np.random.Generator, strength: float) -> Image.Image:
    """Rotate and perspective-distort `image` ("L"), shrunk just enough to stay inside its frame."""
    width, height = image.size
    corners = np.array([(0, 0), (width, 0), (width, height), (0, height)], dtype=np.float64)
    angle = math.radians(rng.uniform(-1, 1) * MAX_ROTATION_DEGREES * strength)
    shift = rng.uniform(-1, 1, size=(4, 2)) * MAX_CORNER_SHIFT * height * strength
    moved = _rotate(corners, angle, center=(width / 2, height / 2)) + shift
    placed = _fit_inside(moved, width, height, rng)
    coefficients = _perspective_coefficients(output_quad=placed, input_quad=corners)
    return image.transform(
        image.size, Image.PERSPECTIVE, coefficients, Image.BILINEAR, fillcolor=255
    )


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
    """PIL's 8 coefficients mapping each output pixel back to where it is read in the input."""
    rows, targets = [], []
    for (x, y), (u, v) in zip(output_quad, input_quad):
        rows.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
        rows.append([0, 0, 0, x, y, 1, -v * x, -v * y])
        targets += [u, v]
    return tuple(np.linalg.solve(np.array(rows), np.array(targets)))
