"""The model the app uses (acai_hf/model/loading.py decides which), loaded once per process and shared
by all requests, with its calibration."""
import threading
from pathlib import Path

import gradio as gr

from acai_hf.app.user_errors import UserError
from acai_hf.model.calibration import load_calibration
from acai_hf.model.loading import MODEL_ENV, load, model_source


class ModelHolder:
    def __init__(self, model_dir=None, int8=False):
        self.model_dir = Path(model_source(model_dir))
        self.int8 = int8  # int8 decoder weights: faster on a CPU (acai_hf/model/quantization_acai.py)
        self._lock = threading.Lock()
        self._loaded = None
        # the expected accuracy per system is only as good as the fit for this very model
        try:
            self.calibration = load_calibration(self.model_dir)
        except (ValueError, TypeError):  # an unreadable calibration.json: the app says "no calibration" and serves
            self.calibration = None

    @property
    def available(self) -> bool:
        return (self.model_dir / "config.json").is_file()

    def missing_message(self) -> str:
        return (f"No model to transcribe with: the folder '{self.model_dir.name}' has no config.json. "
                f"Start the app with --model PATH (or set {MODEL_ENV}) to a saved Acai OMR model.")

    def get(self):
        """(model, processor); the first call loads them, concurrent first calls wait for it."""
        with self._lock:
            if self._loaded is None:
                if not self.available:
                    raise UserError(self.missing_message())
                try:
                    self._loaded = load(str(self.model_dir), int8=self.int8)
                except Exception as error:  # a corrupt or incompatible folder: say so, keep serving
                    raise gr.Error(f"The model in '{self.model_dir.name}' could not be loaded: {error}") from error
            return self._loaded
