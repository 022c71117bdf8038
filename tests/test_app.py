"""The app's handlers, called as the UI calls them (no browser): pages in, boxes kept per page, score,
downloads, re-render and re-run, errors as gr.Error, temp dirs cleaned up. A tiny random model stands in."""
import os
import time
import zipfile
from pathlib import Path

import gradio as gr
import music21
import pytest

import app
from acai_hf.app import OmrApp, build_demo
from acai_hf.app.handlers import MAX_BEAMS
from acai_hf.app.session import RequestDirs
from acai_hf.app.ui import example_pages
from acai_hf.app.workspace import System, Workspace, annotator_value
from acai_hf.system_boxes import SystemBox, to_annotator
from tests.drawn_pages import draw_page, page_bytes
from tests.tiny_omr_model import tiny_model_dir  # noqa: F401  (a fixture)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def omr(tiny_model_dir, tmp_path_factory):
    return OmrApp(tiny_model_dir, dirs=RequestDirs(tmp_path_factory.mktemp("requests")))


@pytest.fixture(scope="module")
def page():
    return page_bytes(draw_page(3))


def pdf_of(*images):
    import io

    buffer = io.BytesIO()
    images[0].save(buffer, format="PDF", save_all=True, append_images=list(images[1:]), resolution=150)
    return buffer.getvalue()


def measures(path):
    """Measures music21 reads (it splits our two-staff part into one part per staff; a score of empty
    measures it reads as no parts at all)."""
    parts = music21.converter.parse(path).parts
    return max((len(part.getElementsByClass("Measure")) for part in parts), default=0)


# -- building and the command line -------------------------------------------------------------------

def test_demo_builds_and_says_when_the_model_is_missing(tmp_path):
    demo = build_demo(tmp_path / "no-model")
    assert isinstance(demo, gr.Blocks)
    assert not demo.omr.model.available
    public = {fn.api_name for fn in demo.fns.values() if fn.api_visibility == "public"}
    assert public == {"transcribe", "convert_lmx"}
    workspace, *_ = demo.omr.load(page_bytes(draw_page(1)))
    with pytest.raises(gr.Error, match="No model to transcribe with"):
        demo.omr.transcribe(workspace, None)


@pytest.mark.skipif(not example_pages(), reason="no example pages in examples/ yet")
def test_example_pages_are_offered(tmp_path):
    demo = build_demo(tmp_path / "no-model")
    datasets = [block for block in demo.blocks.values() if isinstance(block, gr.Dataset)]
    assert [len(dataset.samples) for dataset in datasets] == [len(example_pages())]


def test_model_folder_comes_from_the_flag_then_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("ACAI_OMR_MODEL", str(tmp_path / "from-env"))
    assert app.parse_args([]).model == str(tmp_path / "from-env")
    assert app.parse_args(["--model", "elsewhere", "--port", "7999"]).port == 7999
    assert OmrApp().model.model_dir == tmp_path / "from-env"
    monkeypatch.delenv("ACAI_OMR_MODEL")
    assert OmrApp().model.model_dir.parts[-2:] == ("checkpoints", "acai-omr-small")


# -- LMX text -> score (the convert_lmx endpoint) ----------------------------------------------------

def test_convert_lmx_writes_musicxml_and_midi(omr, gold_systems):
    golds = [lmx for _, lmx in gold_systems[:2]]
    musicxml_path, midi_path, report = omr.convert_lmx("\n\n".join(golds))
    assert measures(musicxml_path) == sum(lmx.split().count("measure") for lmx in golds)
    assert Path(midi_path).read_bytes().startswith(b"MThd")
    assert report.startswith("**2 system(s)")


def test_convert_lmx_reports_errors_and_underfull_measures(omr):
    _, _, report = omr.convert_lmx("clef:G2 measure time beats:4 beat-type:4 G4 quarter bogus-token")
    assert "minor error" in report
    assert "measure 1 (system 1): underfull" in report


@pytest.mark.parametrize("text", ["", "   \n\n ", None, "x" * 200_001])
def test_convert_lmx_rejects_empty_or_huge_input(omr, text):
    with pytest.raises(gr.Error):
        omr.convert_lmx(text)


# -- pages in: errors a visitor can act on -----------------------------------------------------------

@pytest.mark.parametrize("data,message", [
    (None, "Upload a page first"),
    (b"", "Upload a page first"),
    (b"just some text, not a picture", "not an image or PDF"),
    (page_bytes(draw_page(1))[:300], "corrupt or truncated"),
    (b"%PDF-1.7 broken", "PDF is corrupt"),
])
def test_bad_uploads_are_clear_errors(omr, data, message):
    with pytest.raises(gr.Error, match=message):
        omr.load(data)


def test_too_many_pdf_pages_and_bad_page_ranges_are_clear_errors(omr):
    import pypdfium2 as pdfium

    document = pdfium.PdfDocument.new()
    for _ in range(31):
        document.new_page(100, 100)
    import io

    buffer = io.BytesIO()
    document.save(buffer)
    with pytest.raises(gr.Error, match="31 pages; choose at most 30"):
        omr.load(buffer.getvalue())
    with pytest.raises(gr.Error, match="page 40 does not exist"):
        omr.load(buffer.getvalue(), "1,40")
    with pytest.raises(gr.Error, match="Pages must look like"):
        omr.load(buffer.getvalue(), "first")


def test_a_page_without_systems_says_to_draw_boxes(omr):
    from PIL import Image

    workspace, value, _, status = omr.load(page_bytes(Image.new("RGB", (600, 400), "white")))
    assert value["boxes"] == [] and "No system found" in status
    with pytest.raises(gr.Error, match="No system boxes to transcribe"):
        omr.transcribe(workspace, value)


def test_tiny_boxes_are_left_out_with_a_message_and_only_tiny_boxes_are_an_error(omr, page):
    workspace, value, _, _ = omr.load(page)
    tiny = {"xmin": 10, "ymin": 10, "xmax": 30, "ymax": 20}
    with pytest.raises(gr.Error, match="Box 1 is too small"):
        omr.transcribe(workspace, {**value, "boxes": [tiny]}, constrained=False)
    workspace, rendered = omr.transcribe(workspace, {**value, "boxes": value["boxes"][:1] + [tiny]},
                                         constrained=False)
    assert len(workspace.systems) == 1
    assert "Box 2 is too small" in rendered.report


def test_options_are_checked(omr, page):
    workspace, value, _, _ = omr.load(page)
    for beams in (0, MAX_BEAMS + 1, "many"):
        with pytest.raises(gr.Error, match="Beam width"):
            omr.transcribe(workspace, value, beams=beams)


# -- boxes: per page, edited, turned; the client's image is never used -------------------------------

def test_pages_keep_their_own_boxes_and_make_one_score_in_order(omr):
    workspace, value, choices, status = omr.load(pdf_of(draw_page(3), draw_page(2)))
    assert choices == ["1", "2"] and status.startswith("2 page(s), 5 system(s)")
    edited = {**value, "boxes": value["boxes"][:2]}  # the visitor deletes page 1's last box
    workspace, shown = omr.switch_page(workspace, edited, "2")
    assert len(shown["boxes"]) == 2 and workspace.current == 1
    workspace, shown = omr.switch_page(workspace, shown, "1")
    assert len(shown["boxes"]) == 2  # the deletion stuck
    workspace, rendered = omr.transcribe(workspace, shown, constrained=False)
    assert [system.page for system in workspace.systems] == [0, 0, 1, 1]
    tops = [system.box.top for system in workspace.systems]
    assert tops[0] < tops[1] and tops[2] < tops[3]  # reading order within each page
    workspace, shown = omr.propose_again(omr.switch_page(workspace, shown, "1")[0])
    assert len(shown["boxes"]) == 3


def test_a_turned_page_is_cropped_as_the_visitor_saw_it(omr):
    workspace, value, _, _ = omr.load(page_bytes(draw_page(1)))
    width, height = workspace.pages[0].image.size
    # one quarter turn clockwise: the page is shown height x width, boxes are in that frame
    box = SystemBox(100, 200, 300, 900)
    turned = {"image": "/etc/passwd", "boxes": [to_annotator(box)], "orientation": 1}
    workspace, _ = omr.transcribe(workspace, turned, constrained=False)
    assert workspace.pages[0].orientation == 1
    assert workspace.systems[0].crop.size == (200, 700)  # from our page, turned; not the client's "image"


# -- the score, the downloads, re-render and re-run --------------------------------------------------

def test_transcribe_gives_downloads_preview_audio_and_confidences(omr, page):
    workspace, value, _, _ = omr.load(page)
    workspace, rendered = omr.transcribe(workspace, value, beams=1, constrained=True)
    assert len(workspace.systems) == 3
    assert all(system.lmx.split()[0] == "measure" for system in workspace.systems)  # the grammar holds
    musicxml, mxl, midi = map(Path, rendered.downloads)
    assert [musicxml.name, mxl.name, midi.name] == ["score.musicxml", "score.mxl", "score.mid"]
    assert musicxml.parent.parent == omr.dirs.root
    with zipfile.ZipFile(mxl) as archive:  # compressed MusicXML: mimetype first, a container, the score
        assert archive.namelist() == ["mimetype", "META-INF/container.xml", "score.musicxml"]
        assert archive.read("mimetype") == b"application/vnd.recordare.musicxml"
        assert 'full-path="score.musicxml"' in archive.read("META-INF/container.xml").decode()
        assert archive.read("score.musicxml").decode() == musicxml.read_text(encoding="utf-8")
    assert measures(mxl) == measures(musicxml)  # music21 opens the .mxl as the same score
    assert midi.read_bytes().startswith(b"MThd")
    assert "<svg" in rendered.preview or "could not be drawn" in rendered.preview
    if rendered.audio is not None:
        assert Path(rendered.audio).read_bytes()[:4] == b"RIFF"
    assert rendered.report.startswith("**3 system(s)")
    assert "- system 1: confidence " in rendered.report
    assert all(system.confidence <= 0 for system in workspace.systems)


def test_rerender_after_an_lmx_edit_needs_no_model(omr, page, gold_systems, tmp_path):
    workspace, value, _, _ = omr.load(page)
    workspace, _ = omr.transcribe(workspace, value, constrained=False)
    gold = gold_systems[0][1]
    without_model = OmrApp(tmp_path / "no-model", dirs=omr.dirs)  # re-render must not need one
    workspace, rendered = without_model.rerender(workspace, [gold, "", None])
    assert workspace.systems[0].lmx == " ".join(gold.split())
    assert workspace.systems[1].lmx == ""  # an emptied system is empty, not the old text
    expected = gold.split().count("measure") + workspace.systems[2].lmx.split().count("measure")
    musicxml, mxl, _ = rendered.downloads
    assert measures(musicxml) == measures(mxl) == expected  # the .mxl opens in music21 too
    assert "**3 system(s)" in rendered.report


def test_rerun_changes_one_system_and_keeps_the_others_edits(omr, page, gold_systems):
    workspace, value, _, _ = omr.load(page)
    workspace, _ = omr.transcribe(workspace, value, constrained=False)
    gold = " ".join(gold_systems[0][1].split())
    workspace, rendered = omr.rerun(workspace, 2, [gold, "edited away", gold], beams=2, constrained=True)
    assert workspace.systems[0].lmx == gold and workspace.systems[2].lmx == gold
    assert workspace.systems[1].lmx != "edited away"  # the model's new reading replaced it
    assert workspace.systems[1].lmx.startswith("measure")
    with pytest.raises(gr.Error, match="no system 4"):
        omr.rerun(workspace, 4, [])


def test_rerender_refuses_huge_lmx(omr):
    from PIL import Image

    workspace = Workspace([], systems=[System(0, SystemBox(0, 0, 64, 32), Image.new("RGB", (64, 32)), "measure")])
    with pytest.raises(gr.Error, match="LMX of system 1 is 200,001 characters"):
        omr.rerender(workspace, ["x" * 200_001])
    with pytest.raises(gr.Error, match="more texts than systems"):
        omr.rerender(workspace, ["measure", "measure"])


def test_rerender_and_rerun_need_a_transcription_first(omr):
    for call in (lambda: omr.rerender(None, []), lambda: omr.rerun(None, 1, [])):
        with pytest.raises(gr.Error, match="Transcribe first"):
            call()
    with pytest.raises(gr.Error, match="Upload a page first"):
        omr.transcribe(None, None)


# -- temp dirs ---------------------------------------------------------------------------------------

def test_request_dirs_go_when_the_session_ends_or_grow_old(tmp_path):
    dirs = RequestDirs(tmp_path / "requests", max_age_s=60)
    mine, theirs = dirs.new("session-a"), dirs.new("session-b")
    (mine / "score.musicxml").write_text("x")
    dirs.release("session-a")
    assert not mine.exists() and theirs.exists()
    old = time.time() - 120
    os.utime(theirs, (old, old))
    fresh = dirs.new("session-c")  # every new request sweeps the old ones
    assert not theirs.exists() and fresh.exists()
    assert dirs.live() == [fresh]


def test_the_client_session_id_never_becomes_a_path(tmp_path):
    dirs = RequestDirs(tmp_path / "requests")
    made = dirs.new("../../escape")
    assert made.parent == dirs.root and made.name.startswith("request-")
    assert not (tmp_path / "escape").exists()


def test_annotator_value_shows_our_page_and_boxes(omr, page):
    workspace, value, _, _ = omr.load(page)
    assert value == annotator_value(workspace)
    assert value["image"] is workspace.pages[0].image and value["orientation"] == 0
    assert all(box["label"] == "system" for box in value["boxes"])
