"""The endpoints beside the page tab: LMX text -> score (/convert_lmx), and /transcribe for gradio_client."""
import gradio as gr

from acai_hf.app.handlers import OmrApp


def lmx_tab(omr: OmrApp):
    gr.Markdown("Paste LMX, one system per paragraph (separated by a blank line), and get the MusicXML score, "
                "MIDI and a measure check.")
    lmx_box = gr.Textbox(label="LMX (one system per paragraph)", lines=8)
    convert = gr.Button("Convert to MusicXML", variant="primary")
    with gr.Row():
        musicxml_file = gr.File(label="MusicXML")
        midi_file = gr.File(label="MIDI")
    report = gr.Markdown(label="Report")

    def convert_lmx(lmx_text, request: gr.Request = None):
        return omr.convert_lmx(lmx_text, request)

    convert.click(convert_lmx, inputs=lmx_box, outputs=[musicxml_file, midi_file, report], api_name="convert_lmx")


def api_endpoints(omr: OmrApp):
    """/transcribe for gradio_client: a page file in, automatic boxes, the score out. Its components are
    hidden: the page tab works with boxes the visitor checks, the API with the proposed ones."""
    with gr.Column(visible=False):
        page_file = gr.File(label="Page: image or PDF", type="binary")
        pages = gr.Textbox(label="Pages of a PDF", value="")
        beams = gr.Number(label="Beam width", value=1)  # no precision: the app checks, never rounds (options.py)
        constrained = gr.Checkbox(label="Grammar-constrained decoding", value=True)
        musicxml_file = gr.File(label="MusicXML")
        midi_file = gr.File(label="MIDI")
        lmx_text = gr.Textbox(label="LMX")  # the systems, separated by blank lines
        summary = gr.JSON(label="Summary")
        trigger = gr.Button()

    def transcribe(page_file, pages="", beam_width=1, constrained=True, progress=gr.Progress(),
                   request: gr.Request = None):
        return omr.api_transcribe(page_file, pages, beam_width, constrained, progress, request)

    trigger.click(transcribe, [page_file, pages, beams, constrained], [musicxml_file, midi_file, lmx_text, summary],
                  api_name="transcribe")
