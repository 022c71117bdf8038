"""Short-to-long curriculum: a system cut after its first measures, at a barline the engraver drew.

SMT++ and DAN learn faster by growing from short inputs to long ones. Our engine renders systems of
1 to ~8 measures; early in training a row can instead be cut after its first one or two measures: the
image at the start of the next measure (its `measure` token's box), the LMX before that token. Key,
clefs and time signature stand at the system's start, so the cut keeps a complete, valid system.
Rows without geometry, or with no more measures than asked for, stay whole.
"""
from PIL import Image


def crop_to_measures(image: Image.Image, lmx: str, token_boxes, token_glyph_boxes, measures: int):
    """(image, lmx, token_boxes, token_glyph_boxes) of the first `measures` measures, or None when the
    row cannot be cut there."""
    if token_boxes is None:
        return None
    tokens = lmx.split()
    starts = [index for index, token in enumerate(tokens) if token == "measure"]
    if len(starts) <= measures:
        return None
    cut = starts[measures]
    box = token_boxes[cut]
    if box is None:
        return None
    # the measure's box spans a staff space either side of its start: keep the barline, not what follows
    right = int(round((box[0] + box[2]) / 2 + (box[2] - box[0]) / 4))
    if right <= 0 or right >= image.width:
        return None
    kept = token_boxes[:cut]
    glyphs = token_glyph_boxes[:cut] if token_glyph_boxes is not None else None
    return image.crop((0, 0, right, image.height)), " ".join(tokens[:cut]), _inside(kept, right), _inside(glyphs, right)


def _inside(boxes, right: int):
    if boxes is None:
        return None
    return [None if box is None or box[0] >= right else [box[0], box[1], min(box[2], right), box[3]] for box in boxes]


__all__ = ["crop_to_measures"]
