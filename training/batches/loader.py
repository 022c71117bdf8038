"""The DataLoader every trainer reads, and its endless stream of batches from a saved data position.

A position is (epoch, global batches of that epoch done): WidthBucketSampler's order is a pure function
of (seed, epoch), so a resumed run continues mid-epoch with the very batches it would have seen.
"""
import torch
from torch.utils.data import DataLoader


def batch_loader(rows, sampler, collator, workers: int, seed: int) -> DataLoader:
    """`sampler` cuts `rows` into batches; worker processes stay up between epochs. The loader has its own
    generator: making an iterator must not draw from the global RNG, which a resume restores."""
    return DataLoader(rows, batch_sampler=sampler, collate_fn=collator, num_workers=workers,
                      persistent_workers=workers > 0, generator=torch.Generator().manual_seed(seed))


def micro_batches(loader, sampler, epoch: int, position: int, world: int):
    """Endless (epoch, global position after this batch, batch) from the saved (epoch, position); each of
    `world` processes reads every world-th batch."""
    while True:
        sampler.set_epoch(epoch, position)
        for batch in loader:
            position += world
            yield epoch, position, batch
        epoch, position = epoch + 1, 0


__all__ = ["batch_loader", "micro_batches"]
