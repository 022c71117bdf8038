"""Rows {image, lmx} -> one model batch: pixel_values, pixel_mask, labels (-100 padded).

With an `augment` (training.data.augment.CameraAugment) each image is augmented and its clean
version comes along as `clean_pixel_values` (the MAE reconstruction target; same size, so it shares
`pixel_mask`). Augmentation is reproducible when a row carries a `seed` (see
training.datasets_io.SystemRows): a resumed run then sees the very same augmented images.
With `with_measure_spans`, `measure_spans` (B, most measures, 2) holds where each measure lies, found
on the clean image (training.measure_spans), NaN for systems where the barlines could not be trusted.
"""
import numpy as np
import torch

from training.measure_spans import measure_spans


class SystemCollator:
    """A DataLoader `collate_fn`. `max_label_length` truncates labels (the decoder's position table
    bounds them); `with_labels=False` skips tokenizing (MAE only needs pixels)."""

    def __init__(self, processor, augment=None, max_label_length=None, with_labels=True, seed=0,
                 with_measure_spans=False):
        self.processor = processor
        self.with_measure_spans = with_measure_spans
        self.augment = augment
        self.max_label_length = max_label_length
        self.with_labels = with_labels
        self.rng = np.random.default_rng(seed)  # only for rows without a seed of their own

    def __call__(self, rows: list[dict]) -> dict:
        images, cleans = [], []
        for row in rows:
            image = row["image"]
            if self.augment is not None:
                rng = np.random.default_rng(row["seed"]) if "seed" in row else self.rng
                image, clean = self.augment.pair(image, rng)
                cleans.append(clean)
            images.append(image)
        batch = dict(self.processor.image_processor(images, return_tensors="pt"))
        if cleans:
            batch["clean_pixel_values"] = self.processor.image_processor(cleans, return_tensors="pt")["pixel_values"]
        if self.with_labels:
            labels = self.processor(text_target=[row["lmx"] for row in rows])["labels"]
            if self.max_label_length is not None:
                labels = labels[:, : self.max_label_length]
            batch["labels"] = labels
        if self.with_measure_spans:
            batch["measure_spans"] = self.spans(rows)
        return {name: torch.as_tensor(value) for name, value in batch.items()}

    @staticmethod
    def spans(rows: list[dict]) -> torch.Tensor:
        found = [measure_spans(row["image"], row["lmx"].split().count("measure")) for row in rows]
        most = max([1] + [len(spans) for spans in found if spans is not None])
        table = torch.full((len(rows), most, 2), float("nan"))
        for index, spans in enumerate(found):
            if spans is not None:
                table[index, : len(spans)] = torch.from_numpy(spans).float()
        return table


__all__ = ["SystemCollator"]
