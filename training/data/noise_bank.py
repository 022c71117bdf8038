"""Noise tiles generated once per process and cropped at random: drawing fresh full-size noise for
every image costs more than the rest of the augmentation."""
from functools import lru_cache

import numpy as np
from PIL import Image

TILE_SHAPE = (512, 2560)  # covers typical systems (128-256 px high, up to ~2000 wide) without wrapping
_SEED = 20240601  # fixed, so a given rng gives the same augmentation in every process


@lru_cache(maxsize=None)
def _tiles() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(_SEED)
    sensor = rng.standard_normal(TILE_SHAPE, dtype=np.float32)
    # Paper fibres: blotches a few pixels wide, made by blurring white noise, scaled to unit spread.
    blotches = Image.fromarray(rng.standard_normal(TILE_SHAPE, dtype=np.float32))
    blotches = blotches.resize((TILE_SHAPE[1] // 4, TILE_SHAPE[0] // 4), Image.BOX)
    blotches = np.asarray(blotches.resize(TILE_SHAPE[::-1], Image.BICUBIC), dtype=np.float32)
    paper = blotches / blotches.std()
    return {"sensor": sensor, "paper": paper}


def noise_crop(kind: str, shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """A random crop of the `kind` tile ("sensor": per-pixel N(0, 1); "paper": smooth, unit spread)."""
    tile = _tiles()[kind]
    height, width = shape
    top = int(rng.integers(max(tile.shape[0] - height, 0) + 1))
    left = int(rng.integers(max(tile.shape[1] - width, 0) + 1))
    if top + height <= tile.shape[0] and left + width <= tile.shape[1]:
        return tile[top : top + height, left : left + width]  # a view: no copy
    rows = (top + np.arange(height)) % tile.shape[0]
    cols = (left + np.arange(width)) % tile.shape[1]
    return tile[np.ix_(rows, cols)]
