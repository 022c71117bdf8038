"""Make the bundled example pages: python examples/make_examples.py [--out examples]

Each page is engraved by our data engine (Verovio, the systems stacked on an A4 sheet at about 300 dpi)
from a piece that is not reserved for testing, and comes with NAME.json: for every system its box on
the page (the system's ink), its LMX ground truth and its number of measures. Deterministic: the same
code and packages give the same files.
"""
import argparse
import io
import json
import random
import sys
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from training.data import pages, pipeline, render, slicing  # noqa: E402
from training.data.sources import corpus, grand_staff  # noqa: E402
from training.data.sources.procedural import generate_piece  # noqa: E402

GRAY_LEVELS = 16  # pages are stored as 4-bit grey PNGs: small, and no visible loss


@dataclass(frozen=True)
class Example:
    name: str
    title: str
    source: str  # "corpus-piano", "chorale" or "procedural"
    piece: str  # corpus path, or the procedural seed
    measures: int  # the first this many measures
    font: str
    staff_space: float  # pixels
    photo: bool = False  # slightly rotated, unevenly lit, as a phone photo
    seed: int = 0


EXAMPLES = (
    Example("polonaise", "Polonaise (C. Schumann, op. 1 no. 2)", "corpus-piano",
            "schumann_clara/polonaise_op1n2.mxl", 15, "Leipzig", 19.0),
    Example("chorale", "Chorale (J. S. Bach, BWV 1.6)", "chorale", "bach/bwv1.6.mxl", 20, "Bravura", 21.0),
    Example("sonatina_photo", "Sonatina", "procedural", "2024", 16, "Leland", 17.0, photo=True, seed=3),
)


def piece_musicxml(example: Example) -> str:
    if example.source == "procedural":
        return generate_piece(int(example.piece), 0.55, n_measures=example.measures)
    if corpus.piece_key(example.piece) in corpus.reserved_keys():
        raise ValueError(f"{example.piece} is reserved for testing; choose another piece")
    if example.piece not in corpus.EXAMPLE_PIECES:
        raise ValueError(f"add {example.piece} to corpus.EXAMPLE_PIECES, so that training never sees it")
    score = corpus.read_score(example.piece)
    if example.source == "corpus-piano":
        part = grand_staff.piano_part(score, 0, example.measures)
    else:
        from training.data.sources import reduction

        parts = corpus.four_parts(score, by_name=True)
        part = reduction.reduce_to_grand_staff(parts, 0, example.measures)
    return slicing.to_string(grand_staff.to_score(part))


def make_example(example: Example, out: Path) -> dict:
    rng = random.Random(f"example/{example.name}/{example.seed}")
    layout = pages.PageLayout(staff_space=example.staff_space, page_width=2480, title=example.title,
                              gap=(3.0, 5.0), margin_top=0.05, page_number=False)
    engraving = pages.engraving_for(layout, render.Engraving(font=example.font, measure_numbers="system"))
    musicxml = piece_musicxml(example)
    rows, drops = pipeline.piece_systems(musicxml, source=example.source, piece_id=example.piece,
                                         seed=rng.getrandbits(32), engraving=engraving)
    if drops:
        raise ValueError(f"{example.name}: systems failed the data engine's checks: {drops}")
    systems = []
    for row in rows:
        image = Image.open(io.BytesIO(row["image"]["bytes"])).convert("L")
        margins = json.loads(row["engraving"])["crop_margins"]
        systems.append((pages.ink_crop(image, margins), {"lmx": row["lmx"], "n_measures": row["n_measures"]}))
    composed = pages.compose_pages(systems, layout, rng)
    if len(composed) != 1:
        raise ValueError(f"{example.name}: {example.measures} measures do not fit on one page; use fewer")
    page = composed[0]
    if example.photo:
        page = pages.photo_like(page, np.random.default_rng(example.seed), max_degrees=1.0, strength=0.5)
        page = replace(page, image=_gentle(page.image))
    image_name = f"{example.name}.png"
    stored = quantise(page.image)
    stored.save(out / image_name, optimize=True, bits=4)
    truth = {
        "image": image_name,
        "title": example.title,
        "source": example.source,
        "piece": example.piece,
        "staff_space": example.staff_space,
        "font": example.font,
        "systems": [
            {"box": dict(zip(("left", "top", "right", "bottom"), system.box)), **system.payload}
            for system in page.systems
        ],
    }
    (out / f"{example.name}.json").write_text(json.dumps(truth, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return truth


def _gentle(image: Image.Image) -> Image.Image:
    """Photos keep their light and blur, but PNG cannot store sensor noise cheaply: smooth it away."""
    from PIL import ImageFilter

    return image.filter(ImageFilter.MedianFilter(3))


def quantise(image: Image.Image, levels: int = GRAY_LEVELS) -> Image.Image:
    """A palette image of `levels` greys, evenly spaced from black to white."""
    step = 255 / (levels - 1)
    indices = np.rint(np.asarray(image.convert("L"), dtype=np.float32) / step).astype(np.uint8)
    palette = []
    for index in range(levels):
        palette += [round(index * step)] * 3
    out = Image.fromarray(indices, mode="P")
    out.putpalette(palette)
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent)
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    for example in EXAMPLES:
        truth = make_example(example, args.out)
        size = (args.out / truth["image"]).stat().st_size
        print(f"{truth['image']}: {len(truth['systems'])} systems, "
              f"{sum(s['n_measures'] for s in truth['systems'])} measures, {size / 1024:.0f} KB")


if __name__ == "__main__":
    main()
