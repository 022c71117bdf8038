"""Acai OMR Gradio app (runnable as a Hugging Face Space or with `python app.py`).

Until a trained model ships in checkpoints/, image transcription is unavailable and the app says so;
what already works is the back half of the pipeline: LMX text -> MusicXML + MIDI + validity report.
"""
import argparse
import os
import tempfile
from pathlib import Path

import gradio as gr

import acai_hf

CHECKPOINT_DIR = Path(__file__).parent / "checkpoints"
MAX_LMX_CHARS = 200_000  # a page of LMX is ~10k characters; anything far bigger is not a score

MISSING_MODEL_NOTE = (
    "**Image transcription is not available yet:** no trained model ships in `checkpoints/`. "
    "The model, system detection and transcription arrive in the next releases. "
    "Meanwhile you can paste LMX (one system per paragraph, separated by a blank line) and get "
    "the MusicXML score, MIDI and a measure check."
)


def shipped_model_dir():
    """The first model folder under checkpoints/ that has a config, or None."""
    for config in sorted(CHECKPOINT_DIR.glob("*/config.json")):
        return config.parent
    return None


def split_systems(lmx_text):
    """Systems are paragraphs: separated by one or more blank lines."""
    paragraphs = [" ".join(p.split()) for p in lmx_text.replace("\r\n", "\n").split("\n\n")]
    return [p for p in paragraphs if p]


def convert_lmx(lmx_text):
    """LMX text -> (MusicXML path, MIDI path, markdown report). Files go to a fresh temp dir."""
    if lmx_text is None or not lmx_text.strip():
        raise gr.Error("Paste the LMX of at least one system.")
    if len(lmx_text) > MAX_LMX_CHARS:
        raise gr.Error(f"That is {len(lmx_text):,} characters; the limit is {MAX_LMX_CHARS:,}.")
    systems = split_systems(lmx_text)
    joined = acai_hf.join_systems_with_errors(systems)
    out_dir = Path(tempfile.mkdtemp(prefix="acai-omr-"))
    musicxml_path = out_dir / "score.musicxml"
    musicxml_path.write_text(joined.musicxml, encoding="utf-8")
    midi_path = out_dir / "score.mid"
    midi_path.write_bytes(acai_hf.to_midi(joined.musicxml))
    return str(musicxml_path), str(midi_path), conversion_report(systems, joined)


def conversion_report(systems, joined):
    """Markdown: delinearization errors per system and measures that do not fill their time signature."""
    reports = acai_hf.measure_validity(joined.musicxml)
    lines = [f"**{len(systems)} system(s), {len(reports)} measure(s).**"]
    for index, errors in enumerate(joined.errors, start=1):
        lines += [f"- system {index}, token {e.position}: {e.severity} error: {e.message}" for e in errors]
    lines += [f"- measure {r.number}: {r.verdict}" for r in reports if r.fills is False]
    if len(lines) == 1:
        lines.append("No delinearization errors; every measure fills its time signature.")
    return "\n".join(lines)


def build_demo():
    with gr.Blocks(title="Acai OMR") as demo:
        gr.Markdown("# Acai OMR\nPiano sheet music to MusicXML and MIDI.")
        if shipped_model_dir() is None:
            gr.Markdown(MISSING_MODEL_NOTE)
        lmx_box = gr.Textbox(label="LMX (one system per paragraph)", lines=8)
        convert = gr.Button("Convert to MusicXML", variant="primary")
        with gr.Row():
            musicxml_file = gr.File(label="MusicXML")
            midi_file = gr.File(label="MIDI")
        report = gr.Markdown()
        convert.click(convert_lmx, inputs=lmx_box, outputs=[musicxml_file, midi_file, report],
                      api_name="convert_lmx")
    return demo


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", "7860")))
    args = parser.parse_args()
    build_demo().queue(default_concurrency_limit=2).launch(server_name=args.host, server_port=args.port)


if __name__ == "__main__":
    main()
