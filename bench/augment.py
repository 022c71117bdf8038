"""Milliseconds per image of the camera augmentation, op by op and in total, at typical system sizes.

    python bench/augment.py [--repeats 30]

Measured in process CPU time: the work is single-threaded, and wall time on a shared machine mostly
measures the neighbours.
"""
import argparse
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from training.data.augment import DEFAULT_OP_PROBS, OPS, CameraAugment  # noqa: E402

SIZES = ((128, 500), (128, 1000), (256, 2000))  # (height, width)


def staff_image(height: int, width: int, rng: np.random.Generator) -> Image.Image:
    """A stand-in grand staff: two five-line staves, barlines, noteheads and stems."""
    image = Image.new("L", (width, height), 255)
    draw = ImageDraw.Draw(image)
    space = height / 22
    staff_tops = (4 * space, 13 * space)
    for top in staff_tops:
        for line in range(5):
            y = top + line * space
            draw.line((space, y, width - space, y), fill=0, width=max(1, round(space / 8)))
        for x in np.arange(space, width, width / 4):
            draw.line((x, top, x, top + 4 * space), fill=0, width=max(1, round(space / 5)))
        for x in np.arange(3 * space, width - 2 * space, 2.5 * space):
            y = top + rng.integers(-2, 10) * space / 2
            draw.ellipse((x, y - space / 2, x + 1.3 * space, y + space / 2), fill=0)
            draw.line((x + 1.3 * space, y, x + 1.3 * space, y - 3.5 * space), fill=0, width=1)
    return image


def ms_per_image(augment: CameraAugment, image: Image.Image, repeats: int) -> float:
    rng = np.random.default_rng(0)
    augment(image, rng)  # warm-up: builds the noise bank
    start = time.process_time()
    for _ in range(repeats):
        augment(image, rng)
    return (time.process_time() - start) / repeats * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args()
    images = [staff_image(h, w, np.random.default_rng(0)) for h, w in SIZES]
    settings = [(name, CameraAugment(p=1.0, op_probs={name: 1.0})) for name in OPS]
    settings += [
        ("all ops", CameraAugment(p=1.0, op_probs=dict.fromkeys(OPS, 1.0))),
        ("default, p=1", CameraAugment(p=1.0, op_probs=DEFAULT_OP_PROBS)),
        ("default, p=0.5", CameraAugment(p=0.5, op_probs=DEFAULT_OP_PROBS)),
    ]
    print(f"{'ms / image':<16}" + "".join(f"{f'{h}x{w}':>12}" for h, w in SIZES))
    for name, augment in settings:
        times = [ms_per_image(augment, image, args.repeats) for image in images]
        print(f"{name:<16}" + "".join(f"{t:>12.2f}" for t in times))


if __name__ == "__main__":
    main()
