"""Boxes that follow the staves of a photographed page (turned, in perspective, bowed) and crops
straightened along them; boxes without a traced system keep the plain crop."""
import numpy as np
import pytest
from PIL import Image

from acai_hf.page.straightened_crops import crop_systems, match_path
from acai_hf.page.system_boxes import SystemBox, crop_system
from acai_hf.page.system_detection import analyse
from acai_hf.transcription import crop_pages, find_systems
from tests.drawn_pages import PhoneView, draw_page, staff_line_ends

SYSTEMS, WIDTH, SPACE = 3, 1500, 12
VIEWS = {  # degrees clockwise, keystone, bow (pixels at the page's ends)
    "turned +3": (3.0, 0.0, 0.0),
    "turned -3": (-3.0, 0.0, 0.0),
    "perspective": (0.0, 0.08, 0.0),
    "bowed": (0.0, 0.0, 40.0),
    "all at once": (3.0, 0.06, 40.0),
    "all the other way": (-3.0, 0.06, -35.0),
}


def photograph(view):
    page = draw_page(SYSTEMS, WIDTH, SPACE)
    phone = PhoneView(page.size, *view)
    ends = staff_line_ends(SYSTEMS, WIDTH, SPACE)
    x, y = phone.forward(ends[..., 0], ends[..., 1])
    return phone.photograph(page), np.stack([x, y], axis=-1)


def level_drift(crop: Image.Image, strips: int = 20) -> float:
    """The steepest the staff lines run between neighbouring strips of the crop, in pixels per 100
    pixels: each strip's row profile matched to its neighbour's within half a staff space."""
    darkness = 1 - np.asarray(crop.convert("L"), dtype=np.float64) / 255
    edges = np.linspace(0, darkness.shape[1], strips + 1).astype(int)
    profiles = [darkness[:, a:b].mean(axis=1) for a, b in zip(edges[:-1], edges[1:])]
    profiles = [p - np.convolve(p, np.ones(7) / 7, mode="same") for p in profiles]
    lags = np.arange(-(SPACE // 2), SPACE // 2 + 1)
    worst = 0.0
    for index in range(1, strips):
        scores = np.array([np.dot(np.roll(profiles[index], -lag), profiles[index - 1]) for lag in lags])
        best = int(np.argmax(scores))
        shift = float(lags[best])
        if 0 < best < len(lags) - 1:
            left, middle, right = scores[best - 1: best + 2]
            if left - 2 * middle + right < 0:
                shift += 0.5 * (left - right) / (left - 2 * middle + right)
        step = (edges[index + 1] - edges[index - 1]) / 2
        worst = max(worst, abs(shift) / step * 100)
    return worst


@pytest.mark.parametrize("name", list(VIEWS))
def test_every_staff_line_end_inside_its_box(name):
    photo, ends = photograph(VIEWS[name])
    boxes = analyse(photo).boxes
    assert len(boxes) == SYSTEMS
    for box, system in zip(boxes, ends):  # boxes come top to bottom, as the systems do
        xs, ys = system[..., 0].ravel(), system[..., 1].ravel()
        inside = (xs >= box.left) & (xs <= box.right) & (ys >= box.top) & (ys <= box.bottom)
        assert inside.all(), f"{name}: {int((~inside).sum())} of {inside.size} line ends outside {box}"


def detect_and_crop(page):
    """The page's detected boxes and their crops, as the pipeline makes them."""
    systems = crop_pages(find_systems([page]))
    return [system.box for system in systems], [system.image for system in systems]


@pytest.mark.parametrize("name", ["turned -3", "bowed", "all at once"])
def test_straightened_crops_have_level_staff_lines(name):
    photo, _ = photograph(VIEWS[name])
    boxes, crops = detect_and_crop(photo)
    assert len(crops) == SYSTEMS
    for box, crop in zip(boxes, crops):
        assert level_drift(crop) <= 1.0  # within a pixel per 100 pixels of width
        assert abs(crop.width - box.width) <= 0.02 * box.width  # the whole system, not squeezed
    plain = crop_system(photo, boxes[0])
    assert level_drift(plain) > 2.0  # the photo itself is far from level


def test_flat_page_crop_is_the_plain_crop():
    page = draw_page(SYSTEMS, WIDTH, SPACE)
    boxes, crops = detect_and_crop(page)
    for box, crop in zip(boxes, crops):
        plain = np.asarray(crop_system(page, box).convert("L"), dtype=np.int16)
        here = np.asarray(crop.convert("L"), dtype=np.int16)
        assert here.shape == plain.shape
        assert np.abs(here - plain).mean() < 2


def test_boxes_without_one_traced_system_keep_the_plain_crop():
    photo, _ = photograph(VIEWS["all at once"])
    analysis = analyse(photo)
    first, second = analysis.boxes[:2]
    blank = SystemBox(5, 5, 300, 70)  # no staff in it
    both = SystemBox(first.left, first.top, first.right, second.bottom)  # two systems
    turned = SystemBox(first.left, first.top, first.right, first.bottom, rotation=2.0)  # the user's own rotation
    assert match_path(blank, analysis.paths) is None and match_path(both, analysis.paths) is None
    for box, crop in zip([blank, both, turned], crop_systems(photo, [blank, both, turned], analysis.paths)):
        assert np.array_equal(np.asarray(crop), np.asarray(crop_system(photo, box)))


def test_a_stretched_box_keeps_more_of_the_page():
    photo, _ = photograph(VIEWS["bowed"])
    analysis = analyse(photo)
    box = analysis.boxes[1]
    taller = SystemBox(box.left, box.top - 20, box.right, box.bottom)
    crop, taller_crop = crop_systems(photo, [box, taller], analysis.paths)
    assert match_path(taller, analysis.paths) is analysis.paths[1]
    assert 15 <= taller_crop.height - crop.height <= 25
