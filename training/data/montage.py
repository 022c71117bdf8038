"""Random dataset images next to their ground truth engraved again by Verovio, to check by eye.

With `boxes`, each token's box is drawn on its image, coloured by the kind of token (`KIND_COLOURS`),
and the glyph boxes (stems, beams, accidentals, ...) thinly in grey-blue: the geometry checked by eye.
"""
import io
import json
import random
from pathlib import Path

import pyarrow.parquet as pq
from lmx.linearization.vocabulary import PITCH_TOKENS
from PIL import Image, ImageDraw

from training.data import render

GAP = 12  # pixels between panels
PITCHES = set(PITCH_TOKENS)
KIND_COLOURS = {
    "note": (220, 30, 30),  # pitch and rest tokens: the notehead or rest glyph
    "clef": (0, 160, 0),
    "key": (255, 140, 0),
    "time": (150, 0, 200),
    "measure": (0, 90, 255),
}
GLYPH_COLOUR = (90, 160, 200)
STAFF_LINE_COLOUR = (0, 200, 120)


def token_kind(token: str) -> str | None:
    if token in PITCHES or token == "rest":
        return "note"
    if token.startswith("clef:"):
        return "clef"
    if token.startswith("key:"):
        return "key"
    if token == "time":
        return "time"
    if token == "measure":
        return "measure"
    return None  # the other tokens share a box drawn already


def sample_rows(dataset_dir: Path, split: str, n: int, seed: int, boxes: bool = False) -> list[dict]:
    files = sorted((Path(dataset_dir) / "data").glob(f"{split}-*.parquet"))
    columns = ["image", "musicxml", "piece_id", "source", "system_index", "n_measures", "engraving"]
    if boxes:
        columns += ["lmx", "token_boxes", "token_glyph_boxes", "staff_lines"]
    rows = [row for file in files for row in pq.read_table(file, columns=columns).to_pylist()]
    return random.Random(seed).sample(rows, min(n, len(rows)))


def with_boxes(image: Image.Image, row: dict) -> Image.Image:
    """The image in colour with every token's box, its glyph boxes and ticks at the staff lines."""
    image = image.convert("RGB")
    draw = ImageDraw.Draw(image)
    for box in row.get("token_glyph_boxes") or []:
        if box is not None:
            draw.rectangle(box, outline=GLYPH_COLOUR)
    for token, box in zip(row["lmx"].split(), row.get("token_boxes") or []):
        kind = token_kind(token)
        if box is not None and kind is not None:
            draw.rectangle(box, outline=KIND_COLOURS[kind])
    for lines in row.get("staff_lines") or []:
        for y in lines:
            draw.line((0, y, 6, y), fill=STAFF_LINE_COLOUR, width=1)
    return image


def panel(row: dict, boxes: bool = False) -> Image.Image:
    """Caption, the dataset image, and below it the ground-truth MusicXML drawn at the same scale."""
    image = Image.open(io.BytesIO(row["image"]["bytes"])).convert("L")
    if boxes:
        image = with_boxes(image, row)
    scale = json.loads(row["engraving"]).get("pixels_per_space", 9.0)
    truth = render.render_single_system(row["musicxml"], scale)
    font = json.loads(row["engraving"]).get("font", "")
    caption = f"{row['source']} {row['piece_id']} system {row['system_index']} ({row['n_measures']} measures) {font}"
    width = max(image.width, truth.width, 8 * len(caption))
    sheet = Image.new(image.mode, (width, 16 + image.height + GAP + truth.height), "white")
    ImageDraw.Draw(sheet).text((2, 2), caption, fill="black")
    sheet.paste(image, (0, 16))
    sheet.paste(truth.convert(image.mode), (0, 16 + image.height + GAP))
    middle = 16 + image.height + GAP // 2
    ImageDraw.Draw(sheet).line((0, middle, width, middle), fill="gray")
    return sheet


def montage(dataset_dir: Path, out: Path, n: int = 20, split: str = "train", seed: int = 0, columns: int = 2,
            boxes: bool = False):
    """A grid of n panels, written as one PNG."""
    panels = [panel(row, boxes) for row in sample_rows(dataset_dir, split, n, seed, boxes)]
    if not panels:
        raise SystemExit(f"no {split} systems in {dataset_dir}")
    rows = [panels[i : i + columns] for i in range(0, len(panels), columns)]
    cell_width = max(p.width for p in panels)
    heights = [max(p.height for p in row) for row in rows]
    size = (columns * (cell_width + 2 * GAP), sum(heights) + 2 * GAP * len(rows))
    sheet = Image.new(panels[0].mode, size, "white")
    top = 0
    for row, height in zip(rows, heights):
        for column, item in enumerate(row):
            sheet.paste(item, (column * (cell_width + 2 * GAP), top))
        top += height + 2 * GAP
        ImageDraw.Draw(sheet).line((0, top - GAP, sheet.width, top - GAP), fill="black", width=2)
    sheet.save(out)
