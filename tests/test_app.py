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
from acai_hf.app.handlers import system_label
from acai_hf.app.options import MAX_BEAMS
from acai_hf.app.session import RequestDirs
from acai_hf.app.ui import example_pages, rerender_handler
from acai_hf.app.workspace import System, Workspace, annotator_value
from acai_hf.page.system_boxes import SystemBox, to_annotator
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


def test_convert_lmx_points_at_a_system_whose_key_stands_alone(omr):
    system = "measure key:fifths:{} time beats:2 beat-type:4 clef:G2 G4 half"
    _, _, report = omr.convert_lmx("\n\n".join(system.format(k) for k in (0, -1, 0, 2)))
    assert "- system 2 opens with 1 flat, systems 1 and 3 with no sharps or flats: check its key signature" in report
    assert "system 4 opens" not in report  # a key that goes on changing is not flagged
    _, _, report = omr.convert_lmx("\n\n".join(system.format(k) for k in (0, -1, -1)))
    assert "check its key signature" not in report


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
    assert "- system 1: no accuracy estimate; confidence " in rendered.report  # the tiny model has no calibration
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
    # the model's confidence speaks for its own reading, not for the visitor's text
    assert [system.edited for system in workspace.systems] == [True, True, False]
    assert "- system 1: edited by you" in rendered.report and "- system 3: no accuracy estimate" in rendered.report
    assert "edited by you" in system_label(1, workspace.systems[0])
    assert "edited by you" not in system_label(3, workspace.systems[2])
    same = [system.lmx for system in workspace.systems]
    workspace.systems[2].edited = False
    workspace, _ = without_model.rerender(workspace, [None, None, same[2]])  # sent back unchanged: not an edit
    assert not workspace.systems[2].edited


def test_the_re_render_button_draws_the_system_rows_again(omr, page, gold_systems):
    """Its handler returns a new rows version, so an edited system's label is drawn again, saying so."""
    workspace, value, _, _ = omr.load(page)
    workspace, _ = omr.transcribe(workspace, value, constrained=False)
    texts, settings = ("text 1", "text 2", "text 3"), ("metre", "first measure")
    values = {"workspace": workspace, "text 1": gold_systems[0][1], "text 2": None, "text 3": None,
              "metre": "", "first measure": None}
    first = rerender_handler(omr, "workspace", texts, settings)(values)
    second = rerender_handler(omr, "workspace", texts, settings)(values)
    assert first[0].systems[0].edited and isinstance(first[1], int) and second[1] != first[1]


def test_rerun_changes_one_system_and_keeps_the_others_edits(omr, page, gold_systems):
    workspace, value, _, _ = omr.load(page)
    workspace, _ = omr.transcribe(workspace, value, constrained=False)
    gold = " ".join(gold_systems[0][1].split())
    workspace, rendered = omr.rerun(workspace, 2, [gold, "edited away", gold], beams=2, constrained=True)
    assert workspace.systems[0].lmx == gold and workspace.systems[2].lmx == gold
    assert workspace.systems[1].lmx != "edited away"  # the model's new reading replaced it
    assert [system.edited for system in workspace.systems] == [True, False, True]  # its estimate is the model's again
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


# -- hostile and careless input (issue 20) -----------------------------------------------------------

GRACE_ONLY = "measure grace C4 eighth"  # music21 divides by zero writing its MIDI


@pytest.mark.parametrize("beams,constrained,expected", [(4, "false", (4, False)), ("2", "TRUE", (2, True)),
                                                        (3.0, 0, (3, False)), (1, True, (1, True))])
def test_options_are_read_as_meant(beams, constrained, expected):
    from acai_hf.app.options import check_options

    assert check_options(beams, constrained) == expected


@pytest.mark.parametrize("beams,constrained,message", [
    ("abc", True, "Beam width must be a whole number from 1 to 8, not 'abc'"),
    (float("nan"), True, "Beam width must be a whole number from 1 to 8, not nan"),
    ("NaN", True, "Beam width must be a whole number from 1 to 8, not nan"),
    (8.5, True, "Beam width must be a whole number from 1 to 8, not 8.5"),
    (True, True, "Beam width must be a whole number"),
    (1, "maybe", "Grammar-constrained decoding must be true or false, not 'maybe'"),
    (1, None, "Grammar-constrained decoding must be true or false"),
])
def test_bad_options_get_the_apps_own_message(omr, page, beams, constrained, message):
    workspace, value, _, _ = omr.load(page)
    with pytest.raises(gr.Error, match=message):
        omr.transcribe(workspace, value, beams=beams, constrained=constrained)


def test_a_very_long_page_selection_says_so(omr):
    with pytest.raises(gr.Error, match="page selection is 10,000 characters long"):
        omr.load(pdf_of(draw_page(1)), "1" * 10_000)  # was "the file could not be read"


def test_convert_lmx_leaves_out_the_bad_system_and_delivers_the_rest(omr, gold_systems):
    gold = gold_systems[0][1]
    musicxml_path, midi_path, report = omr.convert_lmx("\n\n".join([gold, GRACE_ONLY, gold]))
    assert measures(musicxml_path) == 2 * gold.split().count("measure")
    assert Path(midi_path).read_bytes().startswith(b"MThd")
    assert report.startswith("**3 system(s) (1 left out of the score)")
    assert "- system 2 is left out of the score: MIDI failed on it (ZeroDivisionError" in report


def test_convert_lmx_is_bounded_in_systems_and_measures(omr):
    with pytest.raises(gr.Error, match="at most 300 are joined"):
        omr.convert_lmx("\n\n".join(["measure C4 quarter"] * 301))
    one_paragraph = "measure time beats:3 beat-type:8 " + " ".join(["measure G4 eighth E4 eighth C4 eighth"] * 4000)
    _, _, report = omr.convert_lmx(one_paragraph)  # 150 KB: music21 would take over a minute on it
    assert "system 1 is left out of the score: the score would have more than 1,200 measures" in report


def test_a_bad_system_is_named_in_the_page_tab_and_the_summary(omr, page, gold_systems):
    from acai_hf.app.handlers import summary, system_label
    from acai_hf.transcription import assemble

    workspace, value, _, _ = omr.load(page)
    workspace, _ = omr.transcribe(workspace, value, constrained=False)
    gold = gold_systems[0][1]
    workspace, rendered = omr.rerender(workspace, [gold, GRACE_ONLY, gold])
    assert "- system 2 is left out of the score: MIDI failed on it" in rendered.report
    assert "<svg" in rendered.preview and Path(rendered.downloads[2]).read_bytes().startswith(b"MThd")
    assert "**Left out of the score:** MIDI failed on it" in system_label(2, workspace.systems[1])
    assert workspace.systems[0].problem is None
    result = summary(workspace, assemble([system.lmx for system in workspace.systems]))
    assert result["left_out"] == [2]
    assert [entry["error"] is None for entry in result["systems"]] == [True, False, True]
    assert result["systems"][1]["measures"] == 0 and result["measures"] == 2 * gold.split().count("measure")
    assert [entry["key_warning"] for entry in result["systems"]] == [None] * 3


def test_the_summary_names_a_system_whose_key_stands_alone(omr, page):
    from acai_hf.app.handlers import summary
    from acai_hf.transcription import assemble

    workspace, value, _, _ = omr.load(page)
    workspace, _ = omr.transcribe(workspace, value, constrained=False)
    system = "measure key:fifths:{} time beats:2 beat-type:4 clef:G2 G4 half"
    texts = [system.format(fifths) for fifths in (2, 3, 2)]
    workspace, rendered = omr.rerender(workspace, texts)
    assert "- system 2 opens with 3 sharps, systems 1 and 3 with 2 sharps: check its key signature" in rendered.report
    result = summary(workspace, assemble([system.lmx for system in workspace.systems]))
    assert [entry["key_warning"] is None for entry in result["systems"]] == [True, False, True]


def test_boxes_are_counted_and_measured_before_anything_is_cropped(omr, page):
    workspace, value, _, _ = omr.load(page)
    width, height = workspace.pages[0].image.size
    whole_page = {"xmin": 0, "ymin": 0, "xmax": width, "ymax": height}
    with pytest.raises(gr.Error, match="cover the pages 3.0 times over"):
        omr.transcribe(workspace, {**value, "boxes": [whole_page] * 3})
    with pytest.raises(gr.Error, match="at most 300 are kept"):
        omr.transcribe(workspace, {**value, "boxes": [whole_page] * 301})


def huge_png(path, side=13_000) -> Path:
    """A real, valid white PNG of side x side pixels that is only a few hundred KB on disk."""
    import struct
    import zlib

    def chunk(kind, payload):
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

    compressor, row = zlib.compressobj(6), b"\x00" + b"\xff" * side
    pixels = b"".join(compressor.compress(row) for _ in range(side)) + compressor.flush()
    header = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)  # 8-bit greyscale
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b""))
    return path


def the_box_editor(demo):
    from gradio_image_annotation import image_annotator

    [editor] = [block for block in demo.blocks.values() if isinstance(block, image_annotator)]
    return editor


def test_the_box_editor_never_decodes_the_image_the_browser_sends_back(tmp_path):
    """A 13000 x 13000 PNG sent back through Transcribe or a page switch was decoded by the annotator
    (PIL's limit, not ours) before any check: RSS rose by 1.5 GB. Measured in a fresh process, on the
    annotator as the app builds it."""
    import subprocess
    import sys

    image = huge_png(tmp_path / "page.png")
    assert image.stat().st_size < 1_000_000
    script = (
        "import resource, sys\n"
        "from gradio.data_classes import FileData\n"
        "from gradio_image_annotation import image_annotator\n"
        "from acai_hf.app import build_demo\n"
        "demo = build_demo(sys.argv[2])\n"
        "[editor] = [b for b in demo.blocks.values() if isinstance(b, image_annotator)]\n"
        "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "payload = editor.data_model(image=FileData(path=sys.argv[1], orig_name='page.png'),\n"
        "                            boxes=[{'xmin': 1, 'ymin': 2, 'xmax': 300, 'ymax': 90}], orientation=1)\n"
        "value = editor.preprocess(payload)\n"
        "grown = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) // 1024\n"
        "print(value['image'], value['boxes'][0]['xmax'], value['orientation'], grown)\n"
    )
    result = subprocess.run([sys.executable, "-c", script, str(image), str(tmp_path / "no-model")],
                            capture_output=True, timeout=180, cwd=Path(__file__).resolve().parent.parent, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    shown, xmax, orientation, grown_mib = result.stdout.split()[-4:]
    assert (shown, xmax, orientation) == ("None", "300", "1")
    assert int(grown_mib) < 50, f"peak memory grew by {grown_mib} MiB"


def test_malformed_boxes_from_the_page_get_the_apps_message(tmp_path):
    from gradio.data_classes import FileData

    editor = the_box_editor(build_demo(tmp_path / "no-model"))
    image = FileData(path="/nonexistent/page.png")
    for box in ({"xmin": 1, "ymin": 2, "xmax": 3, "ymax": 4, "scaleFactor": 0}, {"xmin": 1}):
        with pytest.raises(gr.Error, match="boxes sent by the page are malformed"):
            editor.preprocess(editor.data_model(image=image, boxes=[box], orientation=0))
    with pytest.raises(gr.Error, match="at most 300 are kept"):
        editor.preprocess(editor.data_model(image=image, boxes=[{"xmin": 0}] * 301, orientation=0))


def test_only_the_example_pages_are_servable():
    from acai_hf.app import launch_options

    allowed = launch_options()["allowed_paths"]
    assert allowed == example_pages() and all(path.endswith(".png") for path in allowed)


def test_stale_roots_of_killed_runs_go_and_nothing_else(tmp_path):
    import json
    import socket
    import subprocess
    import sys

    from acai_hf.app.session import OWNER_FILE, ROOT_PREFIX, remove_stale_roots

    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                              text=True, check=True)
    dead_pid = int(finished.stdout)  # that process has exited

    def root(name, pid, host=socket.gethostname()):
        path = tmp_path / (ROOT_PREFIX + name)
        (path / "request-x").mkdir(parents=True)
        (path / OWNER_FILE).write_text(json.dumps({"pid": pid, "started": None, "host": host}))
        return path

    stale, live, elsewhere = root("stale", dead_pid), root("live", os.getpid()), root("other", dead_pid, "other-host")
    unmarked = tmp_path / (ROOT_PREFIX + "unmarked")
    unmarked.mkdir()
    link = tmp_path / (ROOT_PREFIX + "link")
    link.symlink_to(stale)
    assert remove_stale_roots(tmp_path) == [stale]
    assert not stale.exists() and live.exists() and elsewhere.exists() and unmarked.exists()
    dirs = RequestDirs()  # a root of this process, with its owner record
    try:
        assert json.loads((dirs.root / OWNER_FILE).read_text())["pid"] == os.getpid()
        assert dirs.root not in remove_stale_roots(dirs.root.parent)
    finally:
        import shutil

        shutil.rmtree(dirs.root)


# -- honest checks, the busy button, a quiet console (issue 19) ---------------------------------------

def polonaise_workspace(systems=slice(1, None)) -> Workspace:
    """The polonaise example's systems (its ground truth) after the first, the one that prints 3/4:
    a page 2 that prints no time signature."""
    import json

    from PIL import Image

    truth = json.loads((Path(__file__).resolve().parent.parent / "examples" / "polonaise.json").read_text())
    chosen = truth["systems"][systems]
    return Workspace([], systems=[System(0, SystemBox(0, 0, 64, 32), Image.new("RGB", (64, 32)), system["lmx"])
                                  for system in chosen])


def test_the_report_says_which_measures_cannot_be_checked_and_never_that_all_is_good(omr):
    workspace, rendered = omr.rerender(polonaise_workspace(), [None, None, None])
    assert ("Measures: 0 fill their time signature, 0 do not fill it, 11 cannot be checked (no time signature "
            "in force: give the metre under *Metre and measure numbers*") in rendered.report
    assert "every measure fills" not in rendered.report
    assert "11 cannot be checked: no time signature in force" in rendered.preview


def test_the_metre_and_first_measure_a_musician_gives_are_checked_engraved_and_downloaded(omr):
    from acai_hf.app.handlers import summary
    from acai_hf.transcription import assemble

    workspace, rendered = omr.rerender(polonaise_workspace(), [None, None, None], time_signature="3/4",
                                       first_measure=106)
    assert "cannot be checked" not in rendered.report
    unchecked = summary(workspace, assemble([system.lmx for system in workspace.systems]))
    assert len(unchecked["measures_unchecked"]) == 11  # the API's summary, without the settings
    checked = summary(workspace, assemble([system.lmx for system in workspace.systems], settings=workspace.settings))
    assert checked["measures_unchecked"] == []
    numbers = [measure.get("number") for measure in musicxml_measures(rendered.downloads[0])]
    assert numbers == [str(number) for number in range(106, 117)]
    assert "3/4" in music21.converter.parse(rendered.downloads[0]).recurse().getElementsByClass(
        "TimeSignature").first().ratioString
    assert ">106<" in rendered.preview and ">116<" in rendered.preview  # Verovio numbers the measures as given
    workspace, rendered = omr.rerender(workspace, [None, None, None])  # settings cleared: unchecked again
    assert "11 cannot be checked" in rendered.report


def musicxml_measures(path):
    from xml.etree import ElementTree

    return ElementTree.parse(path).getroot().findall("part/measure")


def test_a_metre_that_is_not_one_gets_the_apps_message(omr):
    with pytest.raises(gr.Error, match="A time signature looks like 3/4"):
        omr.rerender(polonaise_workspace(), [None, None, None], time_signature="three")
    with pytest.raises(gr.Error, match="first measure number must be a whole number"):
        omr.rerender(polonaise_workspace(), [None, None, None], first_measure=-3)


def test_a_user_error_is_one_console_line_without_a_traceback(omr, caplog):
    with caplog.at_level("WARNING"), pytest.raises(gr.Error) as raised:
        omr.load(b"just some text, not a picture")
    assert raised.value.print_exception is False  # Gradio prints no traceback for it
    assert [record.getMessage() for record in caplog.records] == [
        "user error: The file is not an image or PDF (we read PNG, JPEG, WebP, TIFF, BMP, GIF and PDF)."]


def test_work_reports_its_progress_to_the_busy_button_and_returns_or_raises():
    from acai_hf.app.busy_button import run_reporting

    def work(report):
        for done in range(3):
            report(done, 3)
        return "score"

    reports = run_reporting(work)
    assert [next(reports) for _ in range(3)] == [(0, 3), (1, 3), (2, 3)]
    with pytest.raises(StopIteration) as finished:
        next(reports)
    assert finished.value.value == "score"

    def failing(report):
        report(0, 1)
        raise gr.Error("the model failed")

    with pytest.raises(gr.Error, match="the model failed"):
        list(run_reporting(failing))


def test_the_console_stays_quiet_when_gradio_serves_the_box_editors_files(tmp_path):
    """Gradio printed a line for every file of the box editor it served (~75 per use). One server, in a
    fresh process: a file served as Gradio prints, then quiet_console() (what app.py calls), then again."""
    import subprocess
    import sys

    script = (
        "import sys, urllib.request\n"
        "from tests.served_inputs import free_port\n"
        "from gradio_image_annotation import image_annotator\n"
        "from acai_hf.app import build_demo, launch_options\n"
        "from acai_hf.app.quiet_console import quiet_console\n"
        "demo = build_demo(sys.argv[1]); port = free_port()\n"
        "demo.launch(server_name='127.0.0.1', server_port=port, prevent_thread_lock=True, quiet=True,\n"
        "            **launch_options())\n"
        "url = f'http://127.0.0.1:{port}/gradio_api/custom_component/'"
        " + image_annotator.get_component_class_id() + '/client/component/index.js'\n"
        "def serve():\n"
        "    with urllib.request.urlopen(url, timeout=60) as reply:\n"
        "        print('served', reply.status, len(reply.read()) > 0, flush=True)\n"
        "serve()\n"
        "print('QUIET FROM HERE', flush=True)\n"
        "quiet_console()\n"
        "serve()\n"
        "demo.close()\n"
    )
    tests = Path(__file__).resolve().parent
    result = subprocess.run([sys.executable, "-c", script, str(tmp_path / "no-model")], capture_output=True,
                            text=True, timeout=180, cwd=tests.parent, env={**os.environ, "PYTHONPATH": str(tests)})
    assert result.returncode == 0, result.stderr[-2000:]
    as_gradio_prints, quiet = result.stdout.split("QUIET FROM HERE")
    assert "environment=client" in as_gradio_prints  # what the filter is for is still printed by Gradio
    assert "environment=" not in quiet and "served 200 True" in quiet
