"""The compare view (acai_hf/app/compare.py): per system, its crop from a real example page above its
engraving, measures numbered as on the page, failing measures marked in both; a system left out shows
its crop and why. Gold LMX of examples/polonaise.png stands in for the model where numbers are checked;
the tiny random model runs the whole path from the page."""
import json
import re
from pathlib import Path

import pytest

from acai_hf.app import OmrApp
from acai_hf.app.compare import compare_view, system_measures
from acai_hf.app.options import score_settings
from acai_hf.app.session import RequestDirs
from acai_hf.app.workspace import open_pages, system_crops
from acai_hf.music.preview import HIGHLIGHT_INK
from acai_hf.transcription import assemble
from tests.tiny_omr_model import tiny_model_dir  # noqa: F401  (a fixture)

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "polonaise.png"
TRUTH = json.loads(EXAMPLE.with_suffix(".json").read_text(encoding="utf-8"))["systems"]
UNDERFULL = " measure C4 quarter staff:1"  # one quarter in 3/4: does not fill
GRACE_ONLY = "measure grace C4 eighth"  # music21 divides by zero writing its MIDI: the system is left out


@pytest.fixture(scope="module")
def page_systems():
    """The example page's detected systems, cropped as the app crops them, with their gold LMX."""
    systems, _ = system_crops(open_pages(EXAMPLE.read_bytes()))
    assert len(systems) == len(TRUTH)
    for system, truth in zip(systems, TRUTH):
        system.lmx = truth["lmx"]
    return systems


def blocks(fragment):
    return re.findall(r'<div class="acai-compare-system".*?(?=<div class="acai-compare-system"|\Z)', fragment, re.S)


def test_each_system_is_numbered_on_from_the_pages_first_measure(page_systems):
    score = assemble([system.lmx for system in page_systems], settings=score_settings("3/4", 106))
    spans = system_measures(score)
    first = 106
    for span, truth in zip(spans, TRUTH):
        assert span.numbers == [str(n) for n in range(first, first + truth["n_measures"])]
        first += truth["n_measures"]


def test_crops_sit_above_their_engravings_and_a_failing_measure_is_marked_in_both(page_systems):
    page_systems[1].lmx = TRUTH[1]["lmx"] + UNDERFULL
    try:
        score = assemble([system.lmx for system in page_systems], settings=score_settings("3/4", 106))
        fragment = compare_view(score, page_systems)
    finally:
        page_systems[1].lmx = TRUTH[1]["lmx"]
    shown = blocks(fragment)
    assert len(shown) == len(TRUTH)
    first, last = 106, 105 + TRUTH[0]["n_measures"]
    assert f"System 1 (page 1), measures {first}-{last}</strong>" in shown[0]
    for block in shown:  # the crop, then the engraving below it
        assert block.index('<img class="acai-compare-crop"') < block.index("<svg")
        assert "data:image/png;base64," in block
    assert f">{first}<" in shown[0]  # Verovio draws the page's numbers
    failing = str(105 + TRUTH[0]["n_measures"] + TRUTH[1]["n_measures"] + 1)
    assert f"not filling their time signature: {failing}" in shown[1] and HIGHLIGHT_INK in shown[1]
    assert shown[1].count("acai-highlight-band") == 1
    assert "acai-highlight-band" not in shown[0] + shown[2]
    assert f"measures {int(failing) + 1}-" in shown[2]  # the next system counts the added measure


def test_a_system_left_out_shows_its_crop_and_why(page_systems, gold_systems):
    gold = gold_systems[0][1]  # a system after which GRACE_ONLY fails (tests/test_app.py)
    score = assemble([gold, GRACE_ONLY, gold])
    assert list(score.left_out) == [1]
    fragment = compare_view(score, page_systems[:3])
    shown = blocks(fragment)
    assert "acai-compare-crop" in shown[1] and "Not engraved: MIDI failed on it" in shown[1]
    assert "<svg" not in shown[1] and "<svg" in shown[0] and "<svg" in shown[2]


@pytest.mark.usefixtures("one_torch_thread")
def test_transcribing_a_page_gives_the_compare_view(tiny_model_dir, tmp_path):
    omr = OmrApp(tiny_model_dir, dirs=RequestDirs(tmp_path))
    workspace, value, _, _ = omr.load(EXAMPLE.read_bytes())
    workspace, rendered = omr.transcribe(workspace, value, first_measure=5)
    shown = blocks(rendered.compare)
    assert len(shown) == len(workspace.systems) == len(TRUTH)
    for number, block in enumerate(shown, start=1):
        assert f"System {number} (page 1)" in block and "acai-compare-crop" in block
        assert "<svg" in block or "Not engraved" in block
