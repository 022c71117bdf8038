"""Random dataset images next to their ground truth engraved again by Verovio, to check by eye."""
import io
import json
import random
from pathlib import Path

import pyarrow.parquet as pq
from PIL import Image, ImageDraw

from training.data import render

GAP = 12  # pixels between panels


def sample_rows(dataset_dir: Path, split: str, n: int, seed: int) -> list[dict]:
    files = sorted((Path(dataset_dir) / "data").glob(f"{split}-*.parquet"))
    columns = ["image", "musicxml", "piece_id", "source", "system_index", "n_measures", "engraving"]
    rows = [row for file in files for row in pq.read_table(file, columns=columns).to_pylist()]
    return random.Random(seed).sample(rows, min(n, len(rows)))


def panel(row: dict) -> Image.Image:
    """Caption, the dataset image, and below it the ground-truth MusicXML drawn at the same scale."""
    image = Image.open(io.BytesIO(row["image"]["bytes"])).convert("L")
    scale = json.loads(row["engraving"]).get("pixels_per_space", 9.0)
    truth = render.render_single_system(row["musicxml"], scale)
    caption = f"{row['source']} {row['piece_id']} system {row['system_index']} ({row['n_measures']} measures)"
    width = max(image.width, truth.width, 8 * len(caption))
    sheet = Image.new("L", (width, 16 + image.height + GAP + truth.height), 255)
    ImageDraw.Draw(sheet).text((2, 2), caption, fill=0)
    sheet.paste(image, (0, 16))
    sheet.paste(truth, (0, 16 + image.height + GAP))
    ImageDraw.Draw(sheet).line((0, 16 + image.height + GAP // 2, width, 16 + image.height + GAP // 2), fill=160)
    return sheet


def montage(dataset_dir: Path, out: Path, n: int = 20, split: str = "train", seed: int = 0, columns: int = 2):
    """A grid of n panels, written as one PNG."""
    panels = [panel(row) for row in sample_rows(dataset_dir, split, n, seed)]
    if not panels:
        raise SystemExit(f"no {split} systems in {dataset_dir}")
    rows = [panels[i : i + columns] for i in range(0, len(panels), columns)]
    cell_width = max(p.width for p in panels)
    heights = [max(p.height for p in row) for row in rows]
    sheet = Image.new("L", (columns * (cell_width + 2 * GAP), sum(heights) + 2 * GAP * len(rows)), 255)
    top = 0
    for row, height in zip(rows, heights):
        for column, item in enumerate(row):
            sheet.paste(item, (column * (cell_width + 2 * GAP), top))
        top += height + 2 * GAP
        ImageDraw.Draw(sheet).line((0, top - GAP, sheet.width, top - GAP), fill=0, width=2)
    sheet.save(out)
