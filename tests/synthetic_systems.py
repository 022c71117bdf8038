"""A tiny data set in our system schema for training tests: drawn 'staves' with the golds of the
TEDn reference cases (real LMX + MusicXML pairs), saved with save_to_disk."""
import io
import json

import numpy as np
from datasets import Dataset, DatasetDict
from PIL import Image

from training.data.schema import FEATURES, GEOMETRY_COLUMNS


def gold_pairs(vectors_path) -> list[tuple[str, str]]:
    """Distinct (gold MusicXML, gold LMX) pairs of tests/data/tedn_vectors.jsonl, shortest first."""
    seen = {}
    with open(vectors_path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                case = json.loads(line)
                seen.setdefault(case["gold_musicxml"], case["gold_lmx"])
    return sorted(seen.items(), key=lambda pair: len(pair[1].split()))


def staff_image(width: int, rng) -> bytes:
    pixels = np.full((40, width), 255, np.uint8)
    for y in (8, 12, 16, 20, 24):
        pixels[y, :] = 0
    for x in rng.integers(0, width - 2, 8):
        pixels[6:30, x:x + 2] = 0
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def synthetic_split(n: int, golds, seed: int = 0) -> Dataset:
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        musicxml, lmx = golds[i % len(golds)]
        rows.append({"image": {"bytes": staff_image(int(rng.integers(120, 260)), rng), "path": None},
                     "lmx": lmx, "musicxml": musicxml, "source": "synthetic", "piece_id": f"s{seed}-{i}",
                     "system_index": 0, "n_measures": lmx.split().count("measure"), "engraving": "{}",
                     **dict.fromkeys(GEOMETRY_COLUMNS)})
    return Dataset.from_list(rows, features=FEATURES)


def save_synthetic_dataset(path, vectors_path, n_train: int = 8, n_dev: int = 2, n_test: int = 0) -> str:
    golds = gold_pairs(vectors_path)[:4]
    splits = {"train": synthetic_split(n_train, golds), "dev": synthetic_split(n_dev, golds, 1)}
    if n_test:
        splits["test"] = synthetic_split(n_test, golds, 2)
    DatasetDict(splits).save_to_disk(str(path))
    return str(path)
