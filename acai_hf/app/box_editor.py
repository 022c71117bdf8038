"""The box editor: gradio_image_annotation's annotator, without its decoding of the image sent back.

On every event that takes the annotator as an input (Transcribe, switching pages) the browser sends
the shown image back, and the annotator's `preprocess` opens it with PIL and converts it to RGB
before any handler of ours runs, under PIL's own limit (~179 megapixels), not the app's. The app
never uses that image (crops come from our own copy of the page, see workspace.py), so here it is
never opened. The boxes are still read by the annotator's own code, after a check of their number,
and a malformed box gets the app's message instead of Gradio's generic error.

The annotator's `preprocess` is replaced on the instance, not in a subclass: Gradio finds a custom
component's frontend by its class, and writes a .pyi stub beside any module that defines one.
"""
import types

from gradio_image_annotation import image_annotator

from acai_hf.app.user_errors import UserError
from acai_hf.app.workspace import MALFORMED_BOXES, MAX_SYSTEMS


def system_box_editor(**kwargs) -> image_annotator:
    """An image_annotator (kwargs as its own) whose input is the boxes and the quarter turns only."""
    editor = image_annotator(**kwargs)
    editor.preprocess = types.MethodType(_boxes_only, editor)
    return editor


def _boxes_only(editor: image_annotator, payload):
    if payload is None:
        return None
    boxes = payload.boxes or []
    if len(boxes) > MAX_SYSTEMS:
        raise UserError(f"That is {len(boxes):,} boxes on one page; at most {MAX_SYSTEMS} are kept.")
    try:
        boxes = editor.preprocess_boxes(boxes)
    except (KeyError, TypeError, ValueError, ArithmeticError, AttributeError) as error:
        raise UserError(MALFORMED_BOXES) from error
    return {"image": None, "boxes": boxes, "orientation": payload.orientation}  # the image: never decoded


__all__ = ["system_box_editor"]
