"""Errors a visitor can act on (a bad page range, a file that is not an image): one console line each.

Gradio prints the full traceback of every gr.Error unless it is raised with print_exception=False;
for an ordinary mistake of the visitor's that is a screenful of noise hiding the app's real faults.
A UserError is shown to the visitor exactly as a gr.Error is (an API client gets the same AppError)
and leaves one line on the console. Faults of ours (a model that fails, a reader bug) stay gr.Error,
with their traceback.
"""
import logging

import gradio as gr

logger = logging.getLogger("acai_hf.app")


class UserError(gr.Error):
    def __init__(self, message: str, **kwargs):
        kwargs.setdefault("print_exception", False)
        super().__init__(message, **kwargs)
        logger.warning("user error: %s", message)


__all__ = ["UserError"]
