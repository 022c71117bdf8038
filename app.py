"""Acai OMR Gradio app (runnable as a Hugging Face Space or with `python app.py`).

python app.py [--model PATH] [--int8] [--host HOST] [--port PORT]; the model folder defaults to
$ACAI_OMR_MODEL, else the shipped checkpoints/acai-omr-small. The UI lives in acai_hf/app/.
"""
import argparse
import os

from acai_hf.app import OmrApp, build_demo, launch_options
from acai_hf.app.quiet_console import quiet_console
from acai_hf.app.session import RequestDirs, remove_stale_roots
from acai_hf.app.signals import stop_on_sigterm
from acai_hf.model.loading import MODEL_ENV


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description="Acai OMR: sheet music pages to MusicXML and MIDI.")
    parser.add_argument("--model", default=os.environ.get(MODEL_ENV),
                        help=f"model folder (default: ${MODEL_ENV}, else checkpoints/acai-omr-small)")
    parser.add_argument("--int8", action="store_true",
                        help="int8 decoder weights: about 1.4x faster batched decoding on a CPU, nearly the same accuracy")
    parser.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", "7860")))
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    stop_on_sigterm()  # a service stop cleans up as Ctrl-C does
    quiet_console()  # no per-request chatter from Gradio and music21
    remove_stale_roots()  # what runs killed outright left behind
    dirs = RequestDirs()
    # Gradio's cache (its copies of uploads and results) inside our root: gone with it, even after a kill
    os.environ.setdefault("GRADIO_TEMP_DIR", str(dirs.root / "gradio"))
    demo = build_demo(omr=OmrApp(args.model, dirs=dirs, int8=args.int8))
    if demo.omr.model.available:
        demo.omr.model.get()  # load before the first visitor waits for it
    demo.launch(server_name=args.host, server_port=args.port, **launch_options())


if __name__ == "__main__":
    main()
