"""Page to score, the one route that the app, the command line and `acai_hf.transcribe` take:

    pages -> find_systems -> boxes -> crop_pages -> system images -> generate_lmx -> LMX -> assemble -> Score

`transcribe_pages` runs all of it (the command line). The app stops after `find_systems` so that the
visitor can check the boxes, then goes on with `crop_pages`, `read_systems` and `assemble`, under its
request bounds (acai_hf/app/workspace.py). `transcribe` (`acai_hf.transcribe`) starts from system
images. The systems are read in width-sorted batches (acai_hf/model/generation_acai.py) and joined so
that a system whose music cannot be joined or played costs only itself (acai_hf/music/score_assembly.py).
"""
import logging
from dataclasses import dataclass

from PIL import Image

from acai_hf.model.generation_acai import generate_lmx
from acai_hf.model.loading import load
from acai_hf.music.preview import engrave_preview, preview_failed
from acai_hf.music.score import PREVIEW_STAGE, Score
from acai_hf.music.score_assembly import Stage, assemble_score
from acai_hf.music.score_settings import ScoreSettings
from acai_hf.page.page_input import PageInputError
from acai_hf.page.straightened_crops import crop_systems
from acai_hf.page.system_boxes import SystemBox
from acai_hf.page.system_detection import analyse

PREVIEW = Stage(PREVIEW_STAGE, engrave_preview, preview_failed)  # the engraving, a stage a system can fail
logger = logging.getLogger(__name__)


@dataclass
class PageBoxes:
    """One page and the boxes of its systems, in reading order."""
    image: Image.Image  # turned as the boxes are drawn
    boxes: list[SystemBox]
    paths: list | None = None  # the staff lines detection traced on `image` (SystemPath); None: traced when cropped
    error: str | None = None  # why detection failed on this page (it then has no boxes)


@dataclass
class SystemImage:
    """One system cropped from its page."""
    page: int  # index of its page
    box: SystemBox
    image: Image.Image


def find_systems(pages, on_page=None) -> list[PageBoxes]:
    """The proposed system boxes of each page. A page detection fails on gets none, and the error (the app
    asks the visitor to draw them). `on_page(done, total)` is called before each page."""
    found = []
    for index, image in enumerate(pages):
        if on_page is not None:
            on_page(index, len(pages))
        try:
            analysis = analyse(image)
        except Exception as error:  # noqa: BLE001  one page must not cost the others
            logger.exception("system detection failed on page %d", index + 1)
            found.append(PageBoxes(image, [], error=f"{type(error).__name__}: {error}"))
        else:
            found.append(PageBoxes(image, analysis.boxes, analysis.paths))
    return found


def crop_pages(pages: list[PageBoxes]) -> list[SystemImage]:
    """Every page's boxes cropped, straightened along the staff lines where a box holds one traced system."""
    systems = []
    for index, page in enumerate(pages):
        if page.boxes:
            crops = crop_systems(page.image, page.boxes, page.paths)
            systems += [SystemImage(index, box, crop) for box, crop in zip(page.boxes, crops)]
    return systems


def expected_accuracy(calibration, lmx: str, confidence: float | None, image: Image.Image) -> float | None:
    """The calibrated accuracy (1 - SER) of one system's reading; None without a calibration (model/calibration.py)."""
    return None if calibration is None else calibration.expected_accuracy(lmx, confidence, *image.size)


def read_systems(model, processor, images, calibration=None, **generate_options):
    """System images -> (LMX, confidences, expected accuracies), in order; `generate_options` as
    generate_lmx's (num_beams, constrained, batch_size, progress, and generate()'s own)."""
    texts, confidences = generate_lmx(model, processor, images, **generate_options)
    expected = [expected_accuracy(calibration, text, confidence, image)
                for text, confidence, image in zip(texts, confidences, images)]
    return texts, confidences, expected


def assemble(systems, confidences=None, expected=None, settings: ScoreSettings | None = None,
             preview: bool = False) -> Score:
    """The Score of the systems' LMX; with `preview`, its engraving too. `confidences` and `expected`:
    per system, as read_systems gives them (None for LMX that no model read)."""
    score = assemble_score(systems, extra_stages=(PREVIEW,) if preview else (), settings=settings)
    score.confidences = list(confidences) if confidences is not None else [None] * len(score.systems)
    score.expected_accuracy = list(expected) if expected is not None else [None] * len(score.systems)
    return score


def transcribe(images, model=None, processor=None, num_beams=1, constrained=True, batch_size=4, progress=None,
               int8=False, calibration=None, **generate_kwargs) -> Score:
    """System images (PIL, arrays, paths; one per grand-staff system, in reading order) -> Score.
    `model`/`processor`: a folder, a model id or loaded instances (acai_hf/model/loading.py; `int8` as
    there). `progress(done_systems, total_systems)`, if given, is called after each batch of systems.
    A system whose music cannot be joined or played is left out of the score (`left_out` says why).
    `calibration`: the model's (model/calibration.py), for an expected accuracy per system."""
    if not isinstance(images, (list, tuple)):
        images = [images]
    model, processor = load(model, processor, int8=int8)
    texts, confidences, expected = read_systems(model, processor, images, calibration, num_beams=num_beams,
                                                constrained=constrained, batch_size=batch_size, progress=progress,
                                                **generate_kwargs)
    return assemble(texts, confidences, expected)


def transcribe_pages(pages, model, processor, progress=None, calibration=None, **generate_options
                     ) -> tuple[Score, list[SystemImage], list[PageBoxes]]:
    """Pages -> their systems, found, cropped and read -> (Score, the systems, the pages' boxes).
    `progress(done, total)`: once the systems are found (done 0), then after each batch. Raises
    PageInputError when no page holds a system."""
    found = find_systems(pages)
    systems = crop_pages(found)
    if not systems:
        pages_word = "page" if len(pages) == 1 else f"{len(pages)} pages"
        raise PageInputError(f"No music systems found on the {pages_word}: staff lines must be visible and level.")
    if progress is not None:
        progress(0, len(systems))
    images = [system.image for system in systems]
    texts, confidences, expected = read_systems(model, processor, images, calibration, progress=progress,
                                                **generate_options)
    return assemble(texts, confidences, expected), systems, found


__all__ = ["PageBoxes", "SystemImage", "find_systems", "crop_pages", "read_systems", "assemble", "transcribe",
           "transcribe_pages", "expected_accuracy", "PREVIEW"]
