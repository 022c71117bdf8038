"""System detection on pages our engine renders (known system positions), photo-like copies of some,
the bundled examples, a page of single staves; and the box rules the app and the CLI share."""
import json
import random
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from acai_hf.page.system_boxes import (
    SystemBox, clip, crop_system, from_annotator, from_annotator_value, iou, orient, sort_reading_order,
    to_annotator, validate_boxes,
)
from acai_hf.page.system_detection import analyse, detect_systems

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"

# (piece, staff space in pixels, font): procedural pieces of rising difficulty (more ledger lines,
# denser music) and two corpus piano pieces, on pages from low-resolution scans to 300 dpi.
PAGE_PLAN = [
    (("procedural", 11, 0.9), 9.0, "Leipzig"),
    (("procedural", 12, 0.3), 10.5, "Bravura"),
    (("procedural", 13, 1.0), 12.0, "Petaluma"),
    (("corpus", "cpebach/h186.mxl", 0), 11.0, "Leland"),
    (("procedural", 14, 0.7), 13.5, "Gootville"),
    (("procedural", 15, 0.5), 9.5, "Leipzig"),
    (("corpus", "schumann_clara/polonaise_op1n1.mxl", 3), 12.5, "Bravura"),
    (("procedural", 16, 0.95), 15.0, "Leland"),
    (("procedural", 17, 0.6), 10.0, "Gootville"),
    (("procedural", 18, 0.8), 11.5, "Petaluma"),
]
PHOTO_PAGES = 5


def piece_musicxml(spec) -> str:
    from training.data.sources import corpus
    from training.data.sources.procedural import generate_piece

    kind, name, value = spec  # procedural: seed and difficulty; corpus: path and excerpt seed
    if kind == "procedural":
        return generate_piece(name, value, n_measures=28)
    return corpus.load_piece(name, random.Random(value), 24)


@pytest.fixture(scope="module")
def engine_pages():
    """Pages rendered by our engine: (label, page) pairs, at least 20 clean and a few photo-like."""
    from training.data import pages, render

    out = []
    for index, (spec, staff_space, font) in enumerate(PAGE_PLAN):
        rng = random.Random(index)
        layout = pages.random_layout(rng, staff_space=staff_space)
        engraving = render.random_engraving(rng)
        engraving = render.Engraving(**{**engraving.as_dict(), "font": font})
        systems = pages.render_systems(piece_musicxml(spec), engraving, layout, rng)
        # the same systems laid out twice: as the layout says, and packed tightly without a title
        tight = replace(layout, gap=(1.2, 2.2), title=None, margin_top=0.02)
        for name, this_layout in (("", layout), ("tight ", tight)):
            for number, page in enumerate(pages.compose_pages(systems, this_layout, rng)[:2]):
                out.append((f"{name}{spec[1]} p{number + 1} ({font}, {staff_space} px/space)", page))
    clean = list(out)
    for index in range(PHOTO_PAGES):
        label, page = clean[index * 4 % len(clean)]
        out.append((f"photo of {label}", pages.photo_like(page, np.random.default_rng(index))))
    return out


def match(truths, boxes):
    """The best IoU of each true box with a detected one."""
    return [max((iou(truth, box) for box in boxes), default=0.0) for truth in truths]


def test_enough_varied_pages(engine_pages):
    clean = [label for label, _ in engine_pages if not label.startswith("photo")]
    assert len(clean) >= 20
    assert len(engine_pages) - len(clean) >= 3
    assert sum(len(page.systems) for _, page in engine_pages) >= 60


def test_every_system_found_on_engine_pages(engine_pages):
    failures = []
    for label, page in engine_pages:
        truths = [SystemBox(*system.box) for system in page.systems]
        boxes = detect_systems(page.image)
        ious = match(truths, boxes)
        if len(boxes) != len(truths) or min(ious) < 0.8:
            failures.append(f"{label}: {len(truths)} systems, {len(boxes)} boxes, IoUs {[round(v, 2) for v in ious]}")
    assert not failures, "\n".join(failures)


def test_boxes_come_in_reading_order_and_inside_the_page(engine_pages):
    for _, page in engine_pages[:6]:
        boxes = detect_systems(page.image)
        assert boxes == sort_reading_order(boxes)
        assert [b.top for b in boxes] == sorted(b.top for b in boxes)
        width, height = page.image.size
        assert all(0 <= b.left < b.right <= width and 0 <= b.top < b.bottom <= height for b in boxes)


def test_skew_is_measured_on_photo_like_pages(engine_pages):
    photos = [page for label, page in engine_pages if label.startswith("photo")]
    assert any(abs(analyse(page.image).angle) > 0.2 for page in photos)


def test_detection_takes_rgb_arrays_and_large_pages(engine_pages):
    page = engine_pages[1][1]
    rgb = np.asarray(page.image.convert("RGB"))
    assert detect_systems(rgb) == detect_systems(page.image)
    big = page.image.resize((page.image.width * 2, page.image.height * 2))  # analysed at a reduced scale
    truths = [SystemBox(*(2 * v for v in system.box)) for system in page.systems]
    assert min(match(truths, detect_systems(big))) >= 0.8


def test_bundled_examples_every_system_found():
    sidecars = sorted(EXAMPLES.glob("*.json"))
    assert len(sidecars) >= 3
    for sidecar in sidecars:
        truth = json.loads(sidecar.read_text())
        image = Image.open(EXAMPLES / truth["image"])
        boxes = detect_systems(image)
        truths = [SystemBox(**system["box"]) for system in truth["systems"]]
        assert len(boxes) == len(truths), sidecar.name
        assert min(match(truths, boxes)) >= 0.8, sidecar.name


def test_single_staves_get_a_box_each():
    """A melody printed on single staves: no brace or shared barline joins them."""
    page = Image.new("L", (1200, 900), 255)
    draw = ImageDraw.Draw(page)
    tops = [100, 330, 560]
    for top in tops:
        for line in range(5):
            draw.line([(80, top + 12 * line), (1100, top + 12 * line)], fill=0, width=1)
        for x in range(80, 1101, 255):
            draw.line([(x, top), (x, top + 48)], fill=0, width=2)
        for x in range(130, 1050, 60):  # note heads with stems
            y = top + 6 * (x // 60 % 9) - 6
            draw.ellipse([x, y, x + 12, y + 9], fill=0)
            draw.line([(x + 11, y + 4), (x + 11, y - 30)], fill=0, width=1)
    boxes = detect_systems(page)
    assert len(boxes) == 3
    for top, box in zip(tops, boxes):
        assert box.top <= top - 30 and box.bottom >= top + 48
        assert box.left <= 80 and box.right >= 1100


def test_blank_and_tiny_pages_have_no_systems():
    assert detect_systems(Image.new("L", (800, 600), 255)) == []
    assert detect_systems(Image.new("RGB", (40, 30), (255, 255, 255))) == []
    noise = np.random.default_rng(0).integers(0, 256, (500, 700), dtype=np.uint8)
    assert len(detect_systems(noise)) <= 1


# ---------------------------------------------------------------- box rules


def test_reading_order_rows_then_columns():
    a, b = SystemBox(0, 0, 400, 100), SystemBox(500, 10, 900, 110)
    c = SystemBox(0, 300, 900, 400)
    assert sort_reading_order([c, b, a]) == [a, b, c]


def test_clip_and_validate_give_clear_messages():
    size = (1000, 800)
    assert clip(SystemBox(-10, -5, 2000, 100), *size) == SystemBox(0, 0, 1000, 100)
    boxes = [
        SystemBox(10, 400, 990, 600),
        SystemBox(10, 10, 990, 200),
        SystemBox(50, 50, 50, 150),  # empty
        SystemBox(1200, 10, 1500, 200),  # outside
        SystemBox(10, 700, 990, 720),  # too low
        SystemBox(990, 200, 10, 10),  # drawn from the other corner
    ]
    valid, messages = validate_boxes(boxes, size)
    assert valid == [SystemBox(10, 10, 990, 200), SystemBox(10, 10, 990, 200), SystemBox(10, 400, 990, 600)]
    assert len(messages) == 3
    assert "Box 3 is empty" in messages[0]
    assert "Box 4 lies outside the page" in messages[1]
    assert "Box 5 is too small" in messages[2]


def test_crop_honours_rotation():
    page = Image.new("L", (400, 300), 255)
    draw = ImageDraw.Draw(page)
    draw.rectangle([100, 140, 300, 160], fill=0)  # a horizontal bar
    rotated = page.rotate(-10, center=(200, 150), fillcolor=255)  # turned 10 degrees clockwise
    box = SystemBox(90, 120, 310, 180, rotation=10)
    crop = np.asarray(crop_system(rotated, box))
    assert crop.shape == (60, 220)
    dark_rows = np.flatnonzero((crop < 128).mean(axis=1) > 0.8)
    assert dark_rows.size >= 15 and dark_rows.min() >= 15 and dark_rows.max() <= 45  # upright again
    plain = crop_system(page.convert("RGB"), SystemBox(-10, -10, 50, 40))
    assert plain.size == (60, 50) and plain.getpixel((0, 0)) == (255, 255, 255)


def test_annotator_round_trip_and_orientation():
    box = SystemBox(10.4, 20, 300, 120.6)
    as_dict = to_annotator(box)
    corners = {k: as_dict[k] for k in ("xmin", "ymin", "xmax", "ymax")}
    assert corners == {"xmin": 10, "ymin": 20, "xmax": 300, "ymax": 121}
    assert from_annotator(as_dict) == SystemBox(10, 20, 300, 121)
    assert from_annotator({"xmin": 5, "ymin": 6, "xmax": 50, "ymax": 60, "rotation": 2.5}).rotation == 2.5
    page = Image.new("L", (300, 200), 255)
    page.putpixel((0, 0), 0)
    turned = orient(page, 1)  # one quarter turn clockwise: the top left corner goes to the top right
    assert turned.size == (200, 300) and turned.getpixel((199, 0)) == 0
    image, boxes = from_annotator_value({"image": page, "boxes": [as_dict], "orientation": 2})
    assert image.getpixel((299, 199)) == 0 and boxes == [SystemBox(10, 20, 300, 121)]


def test_every_system_found_on_photographed_bowed_engine_pages(engine_pages):
    """Engine pages as a phone sees an open book: turned, in perspective and bowed both ways."""
    from tests.drawn_pages import PhoneView

    clean = [(label, page) for label, page in engine_pages if not label.startswith(("photo", "tight"))]
    failures = []
    views = [(2.5, 0.05, 30.0), (-2.0, 0.05, -25.0), (1.5, 0.0, 40.0), (-3.0, 0.04, 30.0)]
    for (label, page), view in zip(clean[0:8:2], views):
        phone = PhoneView(page.image.size, *view, border=60)
        photo = phone.photograph(page.image.convert("RGB"))
        truths = []
        for system in page.systems:  # the bounds of each system's box as photographed
            left, top, right, bottom = system.box
            xs = np.concatenate([np.linspace(left, right, 50)] * 2 + [np.full(50, left), np.full(50, right)])
            ys = np.concatenate([np.full(50, top), np.full(50, bottom)] + [np.linspace(top, bottom, 50)] * 2)
            x, y = phone.forward(xs, ys)
            truths.append(SystemBox(x.min(), y.min(), x.max(), y.max()))
        boxes = detect_systems(photo)
        ious = match(truths, boxes)
        if len(boxes) != len(truths) or min(ious) < 0.8:
            failures.append(f"{label} {view}: {len(truths)} systems, {len(boxes)} boxes, "
                            f"IoUs {[round(float(v), 2) for v in ious]}")
    assert not failures, "\n".join(failures)
