"""The Blocks: upload -> boxes in the annotator -> Transcribe -> score, preview, playback, per-system LMX."""
import itertools
from pathlib import Path

import gradio as gr

from acai_hf.app.box_editor import system_box_editor
from acai_hf.app.busy_button import TRANSCRIBE_LABEL, busy, busy_while, idle, progress_relay
from acai_hf.app.endpoints import api_endpoints, lmx_tab
from acai_hf.app.handlers import OmrApp, Rendered, system_label
from acai_hf.app.options import MAX_BEAMS
from acai_hf.app.session import session_of
from acai_hf.app.user_errors import UserError
from acai_hf.music.audio import playback_unavailable_reason
from acai_hf.music.lmx import measure_lines
from acai_hf.page.system_boxes import BOX_COLOR, BOX_LABEL

EXAMPLES_DIR = Path(__file__).resolve().parents[2] / "examples"
STATE_TTL_S = 3 * 3600  # a visitor's pages and systems, kept in memory this long after their last use
CACHE_CLEANUP = (3600, 3600)  # every hour, Gradio deletes the files it cached over an hour ago
PRIVATE = {"api_visibility": "private"}  # UI events; the API is /transcribe and /convert_lmx

INTRO = """# Acai OMR
Piano sheet music (photo, scan or PDF) to MusicXML and MIDI. Upload a page or pick an example: a box is
proposed around every system. Move, resize, add or delete boxes, then press **Transcribe**. Check the
engraved preview (measures that do not add up are red) and, under it, each system's crop above its
engraving, listen, fix a system's LMX and re-render, or
re-run one system with beam search. A page that prints no time signature, or does not start at measure 1:
say so under *Metre and measure numbers*."""

_versions = itertools.count(1)  # a new value each time the systems changed (model run, edits), so their rows redraw


def example_pages() -> list[str]:
    return [str(path) for path in sorted(EXAMPLES_DIR.glob("*.png"))]


def build_ui(omr: OmrApp) -> gr.Blocks:
    with gr.Blocks(title="Acai OMR", delete_cache=CACHE_CLEANUP) as demo:
        gr.Markdown(INTRO)
        if not omr.model.available:
            gr.Markdown(f"**Image transcription is not available:** {omr.model.missing_message()} "
                        "The *From LMX text* tab works without a model.")
        workspace = gr.State(None, time_to_live=STATE_TTL_S)
        systems_version = gr.State(0)
        with gr.Tab("From a page"):
            page_tab(demo, omr, workspace, systems_version)
        with gr.Tab("From LMX text"):
            lmx_tab(omr)
        api_endpoints(omr)

        def release_files(request: gr.Request):  # the tab closed: its files are no longer needed
            omr.dirs.release(session_of(request))

        demo.unload(release_files)
    return demo


def page_tab(demo, omr: OmrApp, workspace, systems_version):
    with gr.Row():
        with gr.Column(scale=1, min_width=280):
            upload = gr.File(label="Page: photo, scan or PDF", file_types=["image", ".pdf"], type="binary",
                             elem_id="acai-upload")
            pages = gr.Textbox(label="Pages of a PDF", placeholder="all; or e.g. 1-3,5 (press Enter)")
            status = gr.Markdown()
            with gr.Accordion("Options", open=False):
                beams = gr.Slider(1, MAX_BEAMS, value=1, step=1, label="Beam width (1: greedy, fastest)")
                constrained = gr.Checkbox(True, label="Grammar-constrained decoding (output is always valid LMX)")
                rerun_beams = gr.Slider(1, MAX_BEAMS, value=4, step=1, label="Beam width when re-running a system")
            with gr.Accordion("Metre and measure numbers", open=False):
                metre = gr.Textbox(label="Time signature, for a page that prints none", placeholder="e.g. 3/4 or 6/8",
                                   max_length=40)
                first_measure = gr.Number(1, label="Number of the first measure", precision=0, minimum=0)
            transcribe = gr.Button(TRANSCRIBE_LABEL, variant="primary", elem_id="acai-transcribe")
            if example_pages():
                gr.Examples([[path] for path in example_pages()], inputs=[upload], label="Example pages")
        with gr.Column(scale=2):
            page_picker = gr.Radio(label="Page", visible=False, interactive=True)
            annotator = system_box_editor(
                label="System boxes (drag to move, handles to resize, draw to add, select and press Delete to remove)",
                label_list=[BOX_LABEL], label_colors=[BOX_COLOR], use_default_label=True, disable_edit_boxes=True,
                sources=[], show_clear_button=False, show_remove_button=True, box_min_size=16, boxes_alpha=0.15,
                height=900,
            )
            propose = gr.Button("Propose this page's boxes again", size="sm")

    report = gr.Markdown()
    with gr.Row():
        downloads = gr.File(label="Downloads: MusicXML, compressed MusicXML, MIDI", file_count="multiple",
                            interactive=False)
        unavailable = playback_unavailable_reason()  # said where the player is, before anyone waits for it
        playback = f"Playback (unavailable: {unavailable})" if unavailable else "Playback (piano, FluidSynth)"
        audio = gr.Audio(label=playback, type="filepath", interactive=False)
    preview = gr.HTML(label="Engraved preview", elem_id="acai-score-preview")
    gr.Markdown("### Compare with the page\nEach system as cropped from the page, above it engraved from its LMX, "
                "measures numbered as on the page; measures that do not fill their time signature are red.")
    compare = gr.HTML(label="Compare with the page", elem_id="acai-compare")
    shown = [downloads, preview, audio, report, compare]
    with gr.Row():
        gr.Markdown("### Systems\nEdit a system's LMX and press **Re-render** (no model run), or re-run one "
                    "system with beam search.")
        rerender = gr.Button("Re-render after edits", scale=0)

    def on_load(data, pages_text):
        """A new file: its pages and proposed boxes; the previous results and system rows go, and so
        does the previous file's status when this one cannot be read (its message takes the place)."""
        cleared = (next(_versions), None, "", None, "", "")
        no_pages = (None, None, gr.update(visible=False, choices=[], value=None))
        if data is None:  # the file was removed
            yield *no_pages, "", *cleared, idle()
            return
        try:
            loaded, value, choices, message = yield from busy_while(
                lambda report: omr.load(data, pages_text, report),
                lambda done, total: f"Finding systems on page {done + 1}/{total}...", len(load_outputs) - 1)
        except UserError as error:  # shown where the status was; one console line (user_errors.py)
            yield *no_pages, f"**This file cannot be used:** {error.message}", *cleared, idle()
            return
        yield loaded, value, gr.update(choices=choices, value="1", visible=len(choices) > 1), message, *cleared, idle()

    load_outputs = [workspace, annotator, page_picker, status, systems_version, *shown, transcribe]
    for new_file in (upload.change, pages.submit):
        # the button turns at once (no queue), and comes back with the handler's last output or on failure
        new_file(lambda: busy("Reading the pages..."), None, transcribe, queue=False, **PRIVATE) \
            .then(on_load, [upload, pages], load_outputs, **PRIVATE) \
            .failure(idle, None, transcribe, queue=False, **PRIVATE)
    page_picker.input(omr.switch_page, [workspace, annotator, page_picker], [workspace, annotator], **PRIVATE)
    propose.click(omr.propose_again, [workspace], [workspace, annotator], **PRIVATE)

    transcribe_outputs = [workspace, systems_version, *shown, transcribe]

    def on_transcribe(ws, value, beam_width, constrained_on, metre_text, first_number, progress=gr.Progress(),
                      request: gr.Request = None):
        ws, rendered = yield from busy_while(
            lambda report: omr.transcribe(ws, value, beam_width, constrained_on, progress_relay(report, progress),
                                          request, metre_text, first_number),
            lambda done, total: f"Transcribing {done}/{total} systems...", len(transcribe_outputs) - 1)
        yield ws, next(_versions), *as_outputs(rendered), idle()

    # Gradio's page runs a .then() only after success, so a failed run gives the button back in .failure()
    transcribe.click(lambda: busy("Transcribing..."), None, transcribe, queue=False, **PRIVATE) \
        .then(on_transcribe, [workspace, annotator, beams, constrained, metre, first_measure], transcribe_outputs,
              **PRIVATE) \
        .failure(idle, None, transcribe, queue=False, **PRIVATE)

    @gr.render(inputs=[workspace], triggers=[systems_version.change, demo.load])
    def system_rows(ws):
        if ws is None or not ws.systems:
            gr.Markdown("*The transcribed systems appear here, each beside its LMX.*")
            return
        texts, reruns = [], []
        for number, system in enumerate(ws.systems, start=1):
            gr.Markdown(system_label(number, system))
            with gr.Row(equal_height=False):
                gr.Image(system.crop, show_label=False, interactive=False, scale=3, min_width=320, buttons=[])
                with gr.Column(scale=2, min_width=280):
                    texts.append(gr.Textbox(measure_lines(system.lmx), label=f"LMX of system {number}", lines=4,
                                            max_lines=16, interactive=True))
                    reruns.append(gr.Button(f"Re-run system {number}", size="sm"))
        # a set of inputs reaches the function as one dict {component: value}: the number of rows varies
        settings = (metre, first_measure)
        for number, button in enumerate(reruns, start=1):
            button.click(rerun_handler(omr, number, workspace, rerun_beams, constrained, texts, settings),
                         {workspace, rerun_beams, constrained, *texts, *settings},
                         [workspace, systems_version, *shown], **PRIVATE)
        # the rows are drawn again too: an edited system's label says its estimate was the model's
        rerender.click(rerender_handler(omr, workspace, texts, settings), {workspace, *texts, *settings},
                       [workspace, systems_version, *shown], **PRIVATE)


def rerun_handler(omr: OmrApp, number, workspace, beams, constrained, texts, settings):
    metre, first_measure = settings

    def on_rerun(values: dict, progress=gr.Progress(), request: gr.Request = None):
        ws, rendered = omr.rerun(values[workspace], number, [values[text] for text in texts], values[beams],
                                 values[constrained], progress, request, values[metre], values[first_measure])
        return ws, next(_versions), *as_outputs(rendered)

    return on_rerun


def rerender_handler(omr: OmrApp, workspace, texts, settings):
    metre, first_measure = settings

    def on_rerender(values: dict, request: gr.Request = None):
        ws, rendered = omr.rerender(values[workspace], [values[text] for text in texts], request, values[metre],
                                    values[first_measure])
        return ws, next(_versions), *as_outputs(rendered)

    return on_rerender


def as_outputs(rendered: Rendered):
    return rendered.downloads, rendered.preview, rendered.audio, rendered.report, rendered.compare
