"""The engraved preview: every page drawn, the measures that do not fill their time highlighted."""
import re

import pytest
from lxml import etree as ET

import acai_hf
from acai_hf.music.preview import HIGHLIGHT_FILL, HIGHLIGHT_INK, render_preview

HEAD = "measure key:fifths:0 time beats:4 beat-type:4 clef:G2 staff:1 clef:F4 staff:2"
FULL = "C4 whole staff:1"
SHORT = "C4 quarter staff:1"


def score(*measures):
    """One system: a 4/4 measure per item."""
    return acai_hf.join_systems([HEAD + " " + " measure ".join(measures)])


def svgs(fragment):
    return [ET.fromstring(svg) for svg in re.findall(r"<svg\b.*?</svg>\s*(?=</div>)", fragment, re.S)]


def highlighted_measure_ids(fragment):
    return [g.get("id") for svg in svgs(fragment) for g in svg.iter("{*}g")
            if "acai-highlight" in g.get("class", "").split()]


def test_underfull_measures_are_highlighted_with_a_band_and_red_notes():
    fragment = render_preview(score(FULL, SHORT, FULL, SHORT + " " + SHORT))
    assert highlighted_measure_ids(fragment) == ["acai-m1", "acai-m3"]
    assert "2 of 4 measure(s) do not fill their time signature" in fragment
    assert ": 2, 4" in fragment
    measure = next(g for svg in svgs(fragment) for g in svg.iter("{*}g") if g.get("id") == "acai-m1")
    band = measure[0]
    assert band.tag.endswith("rect") and band.get("fill") == HIGHLIGHT_FILL
    assert float(band.get("width")) > 0 and float(band.get("height")) > 0
    layers = [g for g in measure.iter("{*}g") if g.get("class") == "layer"]
    assert layers and all(layer.get("fill") == HIGHLIGHT_INK for layer in layers)
    # a full measure keeps its black ink
    full = next(g for svg in svgs(fragment) for g in svg.iter("{*}g") if g.get("id") == "acai-m0")
    assert not any(g.get("fill") == HIGHLIGHT_INK for g in full.iter("{*}g"))


def test_a_score_that_fills_every_measure_has_no_highlight():
    fragment = render_preview(score(FULL, FULL))
    assert highlighted_measure_ids(fragment) == []
    assert "2 measure(s); none highlighted." in fragment


def test_explicit_measure_numbers_override_the_check():
    fragment = render_preview(score(FULL, SHORT, FULL), highlight_measures=[3])
    assert highlighted_measure_ids(fragment) == ["acai-m2"]
    assert render_preview(score(FULL, SHORT), highlight_measures=()).count("acai-highlight-band") == 0


def test_every_page_is_drawn_and_every_measure_appears_once(gold_systems):
    systems = [lmx for _, lmx in gold_systems[:16]]  # more than fits one page
    xml = acai_hf.join_systems(systems)
    fragment = render_preview(xml)
    pages = svgs(fragment)
    assert len(pages) > 1
    ids = [g.get("id") for svg in pages for g in svg.iter("{*}g") if "measure" in g.get("class", "").split()]
    assert ids == [f"acai-m{i}" for i in range(len(acai_hf.measure_validity(xml)))]
    for svg in pages:  # scales to its container, no wider than readable
        assert svg.get("width") == "100%" and svg.get("viewBox")


def test_an_empty_score_still_draws():
    fragment = render_preview(acai_hf.join_systems([]))
    assert len(svgs(fragment)) == 1 and "none highlighted" in fragment


def test_measures_without_a_time_signature_are_said_to_be_unchecked():
    xml = acai_hf.join_systems(["measure clef:G2 staff:1 C4 quarter staff:1 measure D4 whole staff:1"])
    fragment = render_preview(xml)
    assert highlighted_measure_ids(fragment) == []
    assert "2 cannot be checked: no time signature in force." in fragment


def test_unchecked_measures_are_counted_beside_the_highlighted_ones():
    # measure 1 has no time signature in force; measure 2 prints 4/4 and holds a half note
    xml = acai_hf.join_systems(["measure clef:G2 staff:1 C4 quarter staff:1 "
                                "measure time beats:4 beat-type:4 D4 half staff:1"])
    fragment = render_preview(xml)
    assert highlighted_measure_ids(fragment) == ["acai-m1"]
    assert "1 of 2 measure(s) do not fill their time signature (in red): 2." in fragment
    assert "1 cannot be checked: no time signature in force." in fragment


@pytest.mark.parametrize("bad", ["", None, "<not xml", "<score-partwise/>", "plain text <b>&amp;</b>"])
def test_bad_input_is_a_message_not_an_exception(bad):
    fragment = render_preview(bad)
    assert "acai-preview-error" in fragment and "The preview could not be drawn" in fragment
    assert "<b>" not in fragment  # the message is escaped
