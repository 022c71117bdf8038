"""Camera augmentation: same size and mode, deterministic per seed, white fill, clean target kept."""
import pickle

import numpy as np
import pytest
from datasets import Dataset, Image
from PIL import Image as PILImage

from training.data.augment import OPS, CameraAugment, CameraTransform
from training.data.augment_geometry import warp

ALWAYS = CameraAugment(p=1.0, op_probs=dict.fromkeys(OPS, 1.0))


def _staff(height=64, width=300) -> PILImage.Image:
    pixels = np.full((height, width), 255, dtype=np.uint8)
    pixels[10:40:6, 5:-5] = 0  # staff lines
    pixels[12:30, 50:54] = 0  # a stem
    return PILImage.fromarray(pixels)


@pytest.mark.parametrize("size", [(300, 64), (64, 300), (1200, 128), (9, 7)])
def test_size_and_mode_are_kept(size):
    image = _staff(size[1], size[0]) if size[0] > 60 else PILImage.new("L", size, 255)
    for seed in range(5):
        out = ALWAYS(image, np.random.default_rng(seed))
        assert out.mode == "L" and out.size == size


def test_numpy_and_colour_inputs_become_grayscale():
    pixels = np.asarray(_staff())
    assert ALWAYS(pixels, np.random.default_rng(0)).size == (300, 64)
    rgb = np.dstack([pixels] * 3)
    assert ALWAYS(rgb, np.random.default_rng(0)).mode == "L"
    with pytest.raises(TypeError):
        ALWAYS(pixels.astype(np.float32))


def test_deterministic_per_seed():
    image = _staff()
    default = CameraAugment(p=1.0)
    for augment in (ALWAYS, default):
        first = np.asarray(augment(image, np.random.default_rng(7)))
        again = np.asarray(augment(image, np.random.default_rng(7)))
        other = np.asarray(augment(image, np.random.default_rng(8)))
        assert np.array_equal(first, again)
        assert not np.array_equal(first, other)


@pytest.mark.parametrize("name", OPS)
def test_every_op_changes_pixels(name):
    image = _staff()
    augment = CameraAugment(p=1.0, op_probs={name: 1.0})
    changed = [
        not np.array_equal(np.asarray(augment(image, np.random.default_rng(seed))), image)
        for seed in range(4)
    ]
    assert any(changed)


def test_geometry_fills_with_white():
    white = PILImage.new("L", (400, 96), 255)
    for seed in range(10):
        rng = np.random.default_rng(seed)
        assert np.asarray(warp(white, rng, strength=1.0)).min() >= 250
        only_geometry = CameraAugment(p=1.0, op_probs={"warp": 1.0})
        assert np.asarray(only_geometry(white, rng)).min() >= 250


def test_geometry_keeps_the_music_inside_the_frame():
    """Even a wide system tilted by 2 degrees loses no ink: it is shrunk instead of cropped."""
    image = _staff(64, 1000)
    ink = (255 - np.asarray(image, dtype=np.float64)).sum()
    for seed in range(10):
        warped = warp(image, np.random.default_rng(seed), strength=1.0)
        warped_ink = (255 - np.asarray(warped, dtype=np.float64)).sum()
        # Shrinking scales ink by the area factor; cropping would lose whole lines at the ends.
        assert warped_ink > 0.4 * ink


def test_probability_zero_and_strength_zero_leave_the_image():
    image = _staff()
    assert CameraAugment(p=0.0)(image) is image
    unchanged = CameraAugment(p=1.0, strength=0.0, op_probs=dict.fromkeys(OPS, 1.0) | {"jpeg": 0.0})
    assert np.abs(np.asarray(unchanged(image)).astype(int) - np.asarray(image)).max() <= 1


def test_unknown_op_is_refused():
    with pytest.raises(ValueError, match="unknown augmentation ops"):
        CameraAugment(op_probs={"sepia": 1.0})


def test_pair_returns_the_clean_image_unchanged():
    image = _staff()
    before = np.asarray(image).copy()
    augmented, clean = ALWAYS.pair(image, np.random.default_rng(3))
    assert np.array_equal(np.asarray(clean), before)
    assert np.array_equal(np.asarray(image), before)
    assert augmented.size == clean.size
    assert not np.array_equal(np.asarray(augmented), before)


def test_dataset_transform_adds_clean_images():
    rows = Dataset.from_dict({"image": [_staff(), _staff(32, 100).convert("RGB")], "lmx": ["a", "b"]})
    rows = rows.cast_column("image", Image())
    augmented = rows.with_transform(CameraTransform(ALWAYS))
    row = augmented[1]
    assert row["image"].mode == "L" and row["image"].size == (100, 32)
    assert row["clean_image"].mode == "L" and row["lmx"] == "b"
    batch = augmented[:2]
    assert len(batch["image"]) == len(batch["clean_image"]) == 2
    plain = rows.with_transform(CameraTransform(ALWAYS, clean_column=None))
    assert "clean_image" not in plain[0]
    assert pickle.loads(pickle.dumps(augmented))[0]["image"].size == (300, 64)  # spawned workers
