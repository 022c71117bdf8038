"""The app as it stands: it starts, says what is missing, and converts LMX to MusicXML + MIDI."""
from pathlib import Path

import gradio as gr
import music21
import pytest

import app


def test_app_says_the_model_is_missing_until_one_ships():
    if app.shipped_model_dir() is None:
        assert "not available yet" in app.MISSING_MODEL_NOTE
    demo = app.build_demo()
    assert isinstance(demo, gr.Blocks)


def test_convert_lmx_writes_musicxml_and_midi(gold_systems):
    golds = [lmx for _, lmx in gold_systems[:2]]
    musicxml_path, midi_path, report = app.convert_lmx("\n\n".join(golds))
    score = music21.converter.parse(musicxml_path)
    expected_measures = sum(lmx.split().count("measure") for lmx in golds)
    assert len(score.parts[0].getElementsByClass("Measure")) == expected_measures
    assert Path(midi_path).read_bytes().startswith(b"MThd")
    assert report.startswith("**2 system(s)")


def test_convert_lmx_reports_errors_and_underfull_measures():
    _, _, report = app.convert_lmx("clef:G2 measure time beats:4 beat-type:4 G4 quarter bogus-token")
    assert "minor error" in report
    assert "underfull" in report


@pytest.mark.parametrize("text", ["", "   \n\n ", None, "x" * (app.MAX_LMX_CHARS + 1)])
def test_convert_lmx_rejects_empty_or_huge_input(text):
    with pytest.raises(gr.Error):
        app.convert_lmx(text)
