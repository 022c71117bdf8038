"""A resumable batch sampler that groups systems of similar width.

Images are scaled to one height, so a batch is as wide as its widest image: random batches of
systems from 2 to 8 measures pad about half of every input. Each epoch is shuffled with its own seed,
cut into pools of `pool_batches` batches, each pool sorted by aspect ratio and cut into batches, and
the batches shuffled again: nearly no padding, still random. The order is a pure function of
(seed, epoch), so a resumed run can start in the middle of an epoch (`start`).

Batches hold keys (epoch, index) for training.batches.splits.SystemRows, which derives per-row
augmentation seeds from them. With several processes each takes every world_size-th batch.
`repeats` (one count per row) oversamples rare rows: a row with count 3 comes three times an epoch, in
different batches as a rule (and with the same augmentation seed: the key does not tell the copies apart).
"""
import io

import numpy as np
from datasets import Image
from PIL import Image as PILImage


def aspect_ratios(dataset, image_column: str = "image", batch_size: int = 512) -> np.ndarray:
    """width / height of every image, read from the encoded headers (nothing is decoded)."""
    raw = dataset.select_columns([image_column]).cast_column(image_column, Image(decode=False))
    ratios = []
    for batch in raw.iter(batch_size=batch_size):
        for image in batch[image_column]:
            data = image["bytes"] if image["bytes"] is not None else open(image["path"], "rb").read()
            with PILImage.open(io.BytesIO(data)) as opened:
                ratios.append(opened.width / opened.height)
    return np.asarray(ratios, dtype=np.float64)


class WidthBucketSampler:
    """Use as DataLoader(batch_sampler=...). `sort_keys` (one per row, e.g. aspect_ratios) or None
    for plain shuffled batches; pool_batches=1 also means no bucketing."""

    def __init__(self, num_rows: int, batch_size: int, sort_keys=None, pool_batches: int = 32, seed: int = 0,
                 rank: int = 0, world_size: int = 1, drop_last: bool = True, repeats=None):
        self.num_rows, self.batch_size = num_rows, batch_size
        self.repeats = None if repeats is None else np.asarray(repeats, dtype=np.int64)
        if self.repeats is not None and (len(self.repeats) != num_rows or (self.repeats < 0).any()):
            raise ValueError(f"repeats needs one count >= 0 per row ({num_rows} rows)")
        self.sort_keys = None if sort_keys is None else np.asarray(sort_keys)
        self.pool_batches, self.seed = pool_batches, seed
        self.rank, self.world_size, self.drop_last = rank, world_size, drop_last
        self.epoch, self.start = 0, 0

    def set_epoch(self, epoch: int, start: int = 0) -> None:
        """The epoch to iterate next, from its global batch `start` (a multiple of world_size)."""
        self.epoch, self.start = epoch, start

    def epoch_batches(self, epoch: int) -> list[list[int]]:
        """Every batch of an epoch as row indices, before sharding over processes."""
        rng = np.random.default_rng([self.seed, epoch])
        if self.repeats is None:
            order = rng.permutation(self.num_rows)
        else:
            order = rng.permutation(np.repeat(np.arange(self.num_rows), self.repeats))
        if self.sort_keys is not None and self.pool_batches > 1:
            pool = self.pool_batches * self.batch_size
            pools = [order[i: i + pool] for i in range(0, len(order), pool)]
            order = np.concatenate([p[np.argsort(self.sort_keys[p], kind="stable")] for p in pools])
        batches = [order[i: i + self.batch_size].tolist() for i in range(0, len(order), self.batch_size)]
        if self.drop_last and batches and len(batches[-1]) < self.batch_size:
            batches.pop()
        batches = [batches[i] for i in rng.permutation(len(batches))]
        return batches[: len(batches) - len(batches) % self.world_size]  # the same count on every process

    def __len__(self) -> int:
        """Global batches per epoch."""
        rows = self.num_rows if self.repeats is None else int(self.repeats.sum())
        full, rest = divmod(rows, self.batch_size)
        count = full + (1 if rest and not self.drop_last else 0)
        return count - count % self.world_size

    def __iter__(self):
        batches = self.epoch_batches(self.epoch)
        for position in range(self.start + self.rank, len(batches), self.world_size):
            yield [(self.epoch, index) for index in batches[position]]


__all__ = ["WidthBucketSampler", "aspect_ratios"]
