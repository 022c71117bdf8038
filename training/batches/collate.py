"""Rows {image, lmx} -> one model batch: pixel_values, pixel_mask, labels (-100 padded).

With an `augment` (training.data.augment.CameraAugment) each image is augmented and its clean
version comes along as `clean_pixel_values` (the MAE reconstruction target; same size, so it shares
`pixel_mask`). Augmentation is reproducible when a row carries a `seed` (see
training.batches.splits.SystemRows): a resumed run then sees the very same augmented images.
With `with_measure_spans`, `measure_spans` (B, most measures, 2) holds where each measure lies, found
on the clean image (training.geometry.measure_spans), NaN for systems where the barlines could not be trusted.
With `with_geometry`, rows that carry the engraver's geometry (`token_boxes`, `token_glyph_boxes`;
augmentation moves them with the pixels) add `token_patch_boxes` (B, T, 4: each label position's box
in patch units, NaN where none; with `box_glyphs` joined with the token's own glyph) and `dense_targets` (B, N, V: what each patch holds) from
training.geometry.targets. With `short_prob` > 0 (the short-to-long curriculum; the trainer lowers it
as training goes on), that share of the rows with geometry is cut after its first one or two measures
(training.geometry.short_crops), drawn from the row's own seed.
"""
import numpy as np
import torch

from acai_hf.page.grayscale import to_grayscale
from training.data.schema import GEOMETRY_COLUMNS
from training.geometry.measure_spans import measure_spans
from training.geometry.short_crops import crop_to_measures
from training.geometry.targets import dense_targets, image_scale, patch_boxes


class SystemCollator:
    """A DataLoader `collate_fn`. `max_label_length` truncates labels (the decoder's position table
    bounds them); `with_labels=False` skips tokenizing (MAE only needs pixels)."""

    def __init__(self, processor, augment=None, max_label_length=None, with_labels=True, seed=0,
                 with_measure_spans=False, with_geometry=False, box_glyphs=False):
        self.processor = processor
        self.box_glyphs = box_glyphs
        self.with_measure_spans = with_measure_spans
        self.with_geometry = with_geometry
        self.short_prob = 0.0
        self.augment = augment
        self.max_label_length = max_label_length
        self.with_labels = with_labels
        self.rng = np.random.default_rng(seed)  # only for rows without a seed of their own

    def __call__(self, rows: list[dict]) -> dict:
        if self.short_prob > 0:
            rows = [self.shortened(row) for row in rows]
        images, cleans, geometries = [], [], []
        for row in rows:
            image = row["image"]
            geometry = {name: row.get(name) for name in GEOMETRY_COLUMNS} if self.with_geometry else None
            if self.augment is not None:
                rng = np.random.default_rng(row["seed"]) if "seed" in row else self.rng
                clean = to_grayscale(image)  # as CameraAugment.pair: the MAE target
                image, geometry = self.augment.apply(clean, rng, geometry)
                cleans.append(clean)
            images.append(image)
            geometries.append(geometry)
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
        if self.with_geometry and self.with_labels:
            batch.update(self.geometry(images, geometries, batch["labels"], batch["pixel_values"].shape[-2:]))
        return {name: torch.as_tensor(value) for name, value in batch.items()}

    def shortened(self, row: dict) -> dict:
        """The row cut after its first 1 or 2 measures with probability `short_prob`, else as it is."""
        rng = np.random.default_rng([*row["seed"], 1]) if "seed" in row else self.rng
        if rng.random() >= self.short_prob:
            return row
        cut = crop_to_measures(row["image"], row["lmx"], row.get("token_boxes"), row.get("token_glyph_boxes"),
                               int(rng.integers(1, 3)))
        if cut is None:
            return row
        image, lmx, boxes, glyph_boxes = cut
        return {**row, "image": image, "lmx": lmx, "token_boxes": boxes, "token_glyph_boxes": glyph_boxes}

    def geometry(self, images, geometries, labels, pixel_shape) -> dict:
        image_processor = self.processor.image_processor
        patch = image_processor.patch_size
        grid = (pixel_shape[0] // patch, pixel_shape[1] // patch)
        vocab = len(self.processor.tokenizer)
        boxes, dense = [], []
        for image, geometry, label_row in zip(images, geometries, labels):
            scale = image_scale(image.size, image_processor)
            token_boxes = geometry["token_boxes"]
            glyphs = geometry["token_glyph_boxes"] if self.box_glyphs else None
            boxes.append(patch_boxes(token_boxes, scale, patch, labels.shape[1], glyphs))
            ids = [int(i) for i in label_row[: len(token_boxes)]] if token_boxes is not None else []
            dense.append(dense_targets(ids, token_boxes, geometry["token_glyph_boxes"], scale, patch, grid, vocab))
        return {"token_patch_boxes": np.stack(boxes), "dense_targets": np.stack(dense)}

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
