"""The engraver's geometry as training targets on the encoder's patch grid.

A row's `token_boxes` (training/data/token_geometry.py) are in its image's pixels; the image processor
scales each image by `fit_size` and cuts it into patches. Here each label position gets its token's box
in patch units (`patch_boxes`: what cross-attention supervision pulls the decoder towards), and each
patch a multi-hot over the vocabulary of the tokens whose symbol it holds (`dense_targets`: what the
encoder's dense head learns to say is there: noteheads by pitch, rests, accidentals, clefs, key and
time signatures, barlines, stems, beams ...). A token's dense box is its own glyph (stem, beam,
accidental) where it has one, else its symbol's. Rows without geometry get NaN boxes and no targets.
"""
import numpy as np

from acai_hf.model.image_processing_acai import fit_size

MIN_OVERLAP = 0.3  # a patch holds a symbol when it holds this share of the symbol (or of itself)


def image_scale(size: tuple[int, int], image_processor) -> tuple[float, float]:
    """(x, y) factors from the image's pixels to the processed image's, as the image processor scales it."""
    width, height = size
    h, w = fit_size(height, width, image_processor.target_height, image_processor.max_patches,
                    image_processor.patch_size, image_processor.width_scale)
    return w / width, h / height


def patch_boxes(boxes, scale: tuple[float, float], patch: int, length: int, glyph_boxes=None) -> np.ndarray:
    """(length, 4) boxes in patch units [x0, y0, x1, y1], NaN where a position has no box. With
    `glyph_boxes`, a token that has a glyph of its own gets the union of its symbol's box and the glyph:
    a duration is read from the notehead and its stem, flag or beam, an accidental beside its note."""
    table = np.full((length, 4), np.nan, dtype=np.float32)
    if boxes is None:
        return table
    sx, sy = scale
    glyph_boxes = glyph_boxes or [None] * len(boxes)
    for position, (box, glyph) in enumerate(zip(boxes[:length], glyph_boxes)):
        if box is not None and glyph is not None:
            box = (min(box[0], glyph[0]), min(box[1], glyph[1]), max(box[2], glyph[2]), max(box[3], glyph[3]))
        if box is not None:
            table[position] = (box[0] * sx / patch, box[1] * sy / patch, box[2] * sx / patch, box[3] * sy / patch)
    return table


def dense_targets(token_ids, boxes, glyph_boxes, scale, patch: int, grid: tuple[int, int], vocab: int) -> np.ndarray:
    """(grid rows * grid columns, vocab) uint8: 1 where the patch holds the symbol of a token of that id."""
    rows, columns = grid
    targets = np.zeros((rows, columns, vocab), dtype=np.uint8)
    if boxes is None:
        return targets.reshape(rows * columns, vocab)
    sx, sy = scale
    glyph_boxes = glyph_boxes or [None] * len(boxes)
    for token, box, glyph in zip(token_ids, boxes, glyph_boxes):
        box = glyph if glyph is not None else box
        if box is None:
            continue
        x0, y0, x1, y1 = box[0] * sx / patch, box[1] * sy / patch, box[2] * sx / patch, box[3] * sy / patch
        area = max((x1 - x0) * (y1 - y0), 1e-6)
        for row in range(max(0, int(y0)), min(rows, int(np.ceil(y1)))):
            for column in range(max(0, int(x0)), min(columns, int(np.ceil(x1)))):
                overlap = (min(x1, column + 1) - max(x0, column)) * (min(y1, row + 1) - max(y0, row))
                if overlap >= MIN_OVERLAP * min(area, 1.0):
                    targets[row, column, token] = 1
    return targets.reshape(rows * columns, vocab)


def keys_in_boxes(boxes, grid: tuple[int, int]):
    """(B, T, 4) patch-unit boxes (NaN: none) -> (B, T, N) bool: the keys (patches, row-major) each
    position's box touches, and (B, T) which positions have a box. Torch in, torch out."""
    import torch

    rows, columns = grid
    row = torch.arange(rows, device=boxes.device).repeat_interleave(columns).to(boxes.dtype)
    column = torch.arange(columns, device=boxes.device).repeat(rows).to(boxes.dtype)
    known = torch.isfinite(boxes[..., 0])
    b = torch.nan_to_num(boxes, nan=-10.0)[..., None, :]  # (B, T, 1, 4)
    inside = (column + 1 > b[..., 0]) & (column < b[..., 2]) & (row + 1 > b[..., 1]) & (row < b[..., 3])
    return inside & known[..., None], known


__all__ = ["dense_targets", "image_scale", "keys_in_boxes", "patch_boxes"]
