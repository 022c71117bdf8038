"""What one visitor is working on: the pages (as we loaded them), their boxes, the transcribed systems.

Kept in a gr.State on the server. From the annotator only the boxes and the quarter turns are taken;
its image (which the client sends back) is never used: crops come from our own copy of the page.
"""
import logging
from dataclasses import dataclass, field

import gradio as gr
from PIL import Image

from acai_hf.app.user_errors import UserError
from acai_hf.music.score_settings import ScoreSettings
from acai_hf.page.page_input import PageInputError, load_pages
from acai_hf.page.system_boxes import SystemBox, from_annotator, orient, to_annotator, validate_boxes
from acai_hf.transcription import PageBoxes, crop_pages, find_systems

MAX_SYSTEMS = 300  # per request: 30 pages of 10 systems
# The crops of one request together: boxes may overlap a little, not copy the pages many times over.
CROP_PIXELS_PER_PAGE_PIXEL = 2
MALFORMED_BOXES = "The boxes sent by the page are malformed; reload the page and try again."
logger = logging.getLogger(__name__)


@dataclass
class Page:
    image: Image.Image  # as loaded (EXIF orientation applied, RGB)
    proposed: list[SystemBox]  # what detection found, to go back to
    boxes: list[SystemBox]  # in the frame of the image turned `orientation` quarter turns clockwise
    orientation: int = 0
    paths: list | None = None  # the staff lines detection traced (for straightened crops of the unturned page)


@dataclass
class System:
    page: int  # 0-based
    box: SystemBox
    crop: Image.Image
    lmx: str = ""
    confidence: float | None = None  # mean token log-prob of the model's output
    expected_accuracy: float | None = None  # calibrated 1 - SER of the model's output (None: no calibration)
    edited: bool = False  # the visitor changed the model's LMX: its confidence and estimate are not of this text
    problem: str | None = None  # why the system is left out of the score (acai_hf.music.score_assembly)


@dataclass
class Workspace:
    pages: list[Page]
    current: int = 0
    systems: list[System] = field(default_factory=list)
    settings: ScoreSettings = field(default_factory=ScoreSettings)  # the metre and numbering the visitor gave


def open_pages(data: bytes | None, pages: str | None = None, on_page=None) -> Workspace:
    """Uploaded bytes -> pages with proposed boxes. Every problem is a UserError the visitor can act on.
    `on_page(done, total)`: called as each page's systems are found (the busy button counts them)."""
    if not data:
        raise UserError("Upload a page first: a photo or scan (PNG, JPEG, WebP) or a PDF.")
    try:
        images = load_pages(bytes(data), pages=pages)  # no file name: the content decides what it is
    except PageInputError as error:
        raise UserError(str(error)) from error
    except Exception as error:  # a reader bug must still leave the visitor a message
        logger.exception("reading an upload failed")
        raise UserError("This file could not be read as an image or PDF; export it again as PNG, JPEG or PDF.") \
            from error
    proposed = find_systems(images, on_page)
    for number, found in enumerate(proposed, start=1):
        if found.error is not None:  # the visitor draws them
            gr.Warning(f"Systems could not be found automatically on page {number}: draw the boxes yourself.")
    return Workspace([Page(found.image, found.boxes, list(found.boxes), paths=found.paths) for found in proposed])


def annotator_value(workspace: Workspace, index: int | None = None) -> dict:
    page = workspace.pages[workspace.current if index is None else index]
    return {"image": page.image, "boxes": [to_annotator(box) for box in page.boxes],
            "orientation": page.orientation}


def store_annotator(workspace: Workspace, value: dict | None) -> None:
    """Keep the current page's boxes as the visitor left them in the annotator."""
    if not value:
        return
    page = workspace.pages[workspace.current]
    boxes = value.get("boxes") or []
    if len(boxes) > MAX_SYSTEMS:
        raise UserError(f"That is {len(boxes):,} boxes on one page; at most {MAX_SYSTEMS} are kept.")
    try:
        page.orientation = int(value.get("orientation") or 0) % 4
        page.boxes = [from_annotator(box) for box in boxes]
    except (KeyError, TypeError, ValueError, OverflowError) as error:
        raise UserError(MALFORMED_BOXES) from error


def system_crops(workspace: Workspace) -> tuple[list[System], list[str]]:
    """The systems of every page in reading order, cropped upright, and messages about unusable boxes.
    The boxes are counted and measured before anything is cropped (see MAX_SYSTEMS and
    CROP_PIXELS_PER_PAGE_PIXEL): a crop is a copy, and boxes can be drawn over one another."""
    boxes, messages, page_pixels = [], [], 0
    for number, page in enumerate(workspace.pages, start=1):
        width, height = page.image.size
        size = (height, width) if page.orientation % 2 else (width, height)  # quarter turns swap the sides
        valid, problems = validate_boxes(page.boxes, size)
        prefix = f"Page {number}: " if len(workspace.pages) > 1 else ""
        messages += [prefix + problem for problem in problems]
        boxes += [(number - 1, box) for box in valid]
        page_pixels += size[0] * size[1]
    if not boxes:
        detail = (" " + " ".join(messages)) if messages else ""
        raise UserError("No system boxes to transcribe: draw a box around each system (both staves)." + detail)
    if len(boxes) > MAX_SYSTEMS:
        raise UserError(f"That is {len(boxes)} systems; at most {MAX_SYSTEMS} are transcribed at a time.")
    crop_pixels = sum(box.area for _, box in boxes)
    if crop_pixels > CROP_PIXELS_PER_PAGE_PIXEL * page_pixels:
        raise UserError(f"The boxes cover the pages {crop_pixels / page_pixels:.1f} times over; boxes that overlap "
                       f"so much hold the same music twice. Keep one box per system.")
    pages = []
    for index, page in enumerate(workspace.pages):
        mine = [box for at, box in boxes if at == index]
        image = orient(page.image, page.orientation) if mine else page.image  # a turn copies the page
        # what detection traced holds for the page as loaded; a turned page is traced again
        pages.append(PageBoxes(image, mine, None if page.orientation else page.paths))
    return [System(crop.page, crop.box, crop.image) for crop in crop_pages(pages)], messages


__all__ = ["Page", "System", "Workspace", "open_pages", "annotator_value", "store_annotator",
           "system_crops", "MAX_SYSTEMS", "MALFORMED_BOXES"]
