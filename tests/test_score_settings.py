"""Honest measure checks on a real page: a system without a printed time signature inherits the one in
force from the system before it; a page that prints none is checked in the metre the musician gives,
which is written into the MusicXML with measures numbered from the musician's first measure.

The polonaise example (examples/polonaise.json, its ground truth) prints 3/4 in its first system only.
"""
import json
from pathlib import Path
from xml.etree import ElementTree

import music21
import pytest

from acai_hf.music.score_assembly import assemble_score
from acai_hf.music.score_settings import ScoreSettings, apply_settings, parse_first_measure, parse_time_signature

POLONAISE = Path(__file__).resolve().parent.parent / "examples" / "polonaise.json"


@pytest.fixture(scope="module")
def polonaise():
    """The LMX of the page's systems: the first prints 3/4, the others no time signature."""
    systems = [system["lmx"] for system in json.loads(POLONAISE.read_text(encoding="utf-8"))["systems"]]
    assert "time" in systems[0].split() and not any("time" in lmx.split() for lmx in systems[1:])
    return systems


def test_a_system_without_a_time_signature_inherits_the_previous_systems(polonaise):
    alone = assemble_score(polonaise[1:2]).validity
    assert alone and all(report.fills is None for report in alone)  # nothing to check against
    together = assemble_score(polonaise[:2]).validity
    assert len(together) == 8 and all(report.fills is not None for report in together)
    assert all(report.expected == 3 for report in together)  # 3/4: three quarters


def test_the_given_metre_checks_a_page_that_prints_none_and_is_written_into_the_musicxml(polonaise):
    settings = ScoreSettings(time_signature=("3", "4"), first_measure=106)
    score = assemble_score(polonaise[1:], settings=settings)
    assert [report.number for report in score.validity] == [str(n) for n in range(106, 106 + 11)]
    assert all(report.fills is not None for report in score.validity)
    first = ElementTree.fromstring(score.musicxml).find("part/measure")
    assert first.get("number") == "106"
    assert (first.findtext("attributes/time/beats"), first.findtext("attributes/time/beat-type")) == ("3", "4")
    parsed = music21.converter.parseData(score.musicxml, format="musicxml")
    assert parsed.recurse().getElementsByClass("TimeSignature").first().ratioString == "3/4"
    assert parsed.parts[0].getElementsByClass("Measure").first().number == 106


def test_a_printed_time_signature_wins_over_the_given_one(polonaise):
    score = assemble_score(polonaise[:1], settings=ScoreSettings(time_signature=("6", "8")))
    times = ElementTree.fromstring(score.musicxml).findall("part/measure/attributes/time")
    assert [(time.findtext("beats"), time.findtext("beat-type")) for time in times] == [("3", "4")]


def test_default_settings_leave_the_score_as_it_was(polonaise):
    assert assemble_score(polonaise[:2], settings=ScoreSettings()).musicxml == assemble_score(polonaise[:2]).musicxml
    assert apply_settings("<not parsed/>", ScoreSettings()) == "<not parsed/>"


@pytest.mark.parametrize("text,expected", [("3/4", ("3", "4")), (" 6 / 8 ", ("6", "8")), ("3+2/8", ("3+2", "8")),
                                           ("", None), (None, None)])
def test_time_signatures_are_read_as_written(text, expected):
    assert parse_time_signature(text) == expected


@pytest.mark.parametrize("text", ["3/5", "0/4", "three", "3/4/4", "3/128", "4" * 100])
def test_time_signatures_that_are_not_get_a_message(text):
    with pytest.raises(ValueError, match="A time signature looks like 3/4"):
        parse_time_signature(text)


@pytest.mark.parametrize("value,expected", [(106, 106), ("0", 0), (12.0, 12), (None, 1), ("", 1)])
def test_first_measure_numbers(value, expected):
    assert parse_first_measure(value) == expected


@pytest.mark.parametrize("value", [-1, 1.5, "x", float("nan"), 10**6, True])
def test_first_measure_numbers_that_are_not(value):
    with pytest.raises(ValueError, match="first measure number"):
        parse_first_measure(value)
