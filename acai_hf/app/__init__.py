"""The Gradio app: `build_demo(model_dir)` -> Blocks. The only part of acai_hf that imports gradio."""
from acai_hf.app.handlers import OmrApp
from acai_hf.app.ui import build_ui, example_pages

CONCURRENCY = 2  # requests running at once; more wait in Gradio's queue
MAX_UPLOAD = "100mb"  # acai_hf.page.page_input.MAX_BYTES


def build_demo(model_dir=None, omr: OmrApp | None = None, int8=False):
    """The app for the model folder (default: $ACAI_OMR_MODEL, else checkpoints/acai-omr-small), queued.
    `int8`: decode with int8 decoder weights (faster on a CPU; acai_hf/model/quantization_acai.py)."""
    omr = omr or OmrApp(model_dir, int8=int8)
    demo = build_ui(omr)
    demo.omr = omr  # the handlers behind the UI, for the command line's warm-up and for tests
    return demo.queue(default_concurrency_limit=CONCURRENCY)


def launch_options() -> dict:
    """What every launch needs: the upload cap, and the example pages servable from any working dir
    (the pages only: not the folder, which holds their ground truth and the script that makes them)."""
    return {"max_file_size": MAX_UPLOAD, "allowed_paths": example_pages()}


__all__ = ["build_demo", "launch_options", "OmrApp", "CONCURRENCY"]
