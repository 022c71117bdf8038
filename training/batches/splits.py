"""`--dataset` specs -> train / dev splits, and the torch view of a split that training reads.

A spec is anything training.data.loaders.load_system_dataset accepts: our engine's output folder,
an OLiMPiC-layout folder, a save_to_disk folder or a Hugging Face dataset name.
"""
import zlib

import torch

from training.data.loaders import load_system_dataset
from training.data.sources import corpus


def held_out(piece_id: str, fraction: float) -> bool:
    """A stable per-piece coin (crc32, not Python's salted hash): whole pieces go to dev."""
    return zlib.crc32(piece_id.encode()) % 10_000 < fraction * 10_000


def load_splits(spec, train_split="train", dev_split="dev", image_column="image", lmx_column="lmx",
                dev_fraction=0.05):
    """(train, dev) Datasets in our schema. Without a dev split (e.g. an engine build still at work)
    `dev_fraction` of the train pieces is held out instead."""
    dataset = load_system_dataset(spec, image_column=image_column, lmx_column=lmx_column)
    if train_split not in dataset:
        raise KeyError(f"no {train_split!r} split in {spec}; it has {sorted(dataset)}")
    train = without_example_pieces(dataset[train_split])
    if dev_split in dataset:
        return train, dataset[dev_split]
    in_dev = [held_out(piece, dev_fraction) for piece in train["piece_id"]]
    dev = train.select([i for i, flag in enumerate(in_dev) if flag])
    train = train.select([i for i, flag in enumerate(in_dev) if not flag])
    return train, dev


def without_example_pieces(train):
    """`train` less the rows of the example pages' pieces (corpus.EXAMPLE_PIECES), which builds made before
    they went to dev still hold."""
    if "piece_id" not in train.column_names:
        return train
    examples = corpus.example_keys()
    kept = [i for i, piece in enumerate(train["piece_id"]) if corpus.piece_key(piece) not in examples]
    return train if len(kept) == len(train) else train.select(kept)


class SystemRows(torch.utils.data.Dataset):
    """Rows {image (PIL), lmx, seed} of a Hugging Face split (plus any other `columns`, e.g. the
    gold musicxml GRPO's rewards read). A key is an index, or (epoch, index) as WidthBucketSampler
    yields: the row's augmentation seed is then (seed, epoch, index), so a row is augmented
    differently every epoch and identically in a resumed run."""

    def __init__(self, dataset, seed: int = 0, columns: tuple[str, ...] = ("image", "lmx")):
        self.dataset = dataset.select_columns(list(columns))
        self.seed = seed

    def __len__(self):
        return len(self.dataset)

    def __getitem__(self, key):
        epoch, index = key if isinstance(key, tuple) else (0, key)
        row = self.dataset[int(index)]
        return {**row, "seed": [self.seed, epoch, int(index)]}


__all__ = ["load_splits", "SystemRows", "held_out"]
