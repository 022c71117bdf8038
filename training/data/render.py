"""Engrave a whole piece with Verovio, one justified system per page, and rasterise each system.

The piece is loaded once with automatic breaks, so systems end where an engraver would end them and ties
and slurs are drawn at both edges of a break. Every measure carries an id, so each page's SVG tells
exactly which measures it shows; its note and rest groups can be counted too.
"""
import io
import random
import re
from dataclasses import asdict, dataclass
from functools import lru_cache
from glob import glob

import numpy as np
import resvg_py
import verovio
from lxml import etree as ET
from PIL import Image

from acai_hf.music.verovio_input import tag_for_verovio

FONTS = ("Leipzig", "Bravura", "Petaluma", "Leland", "Gootville")
MEASURE_NUMBERS = ("none", "system", "every")
UNIT = 9  # Verovio's default half staff space; a staff space is 2 * UNIT SVG pixels at scale 100
TEXT_FONTS = sorted(glob("/usr/share/fonts/truetype/dejavu/DejaVuSerif*.ttf"))
INK_THRESHOLD = 160  # gray levels below this count as ink when cropping

MEASURE_ID = re.compile(r'<g id="acai-m(\d+)" class="measure')
MEASURE_CLASS = re.compile(r'class="measure[ "]')
# drawn notes and rests: Verovio keeps invisible ones (print-object="no") in the SVG, hidden
NOTE_CLASS = re.compile(r'class="note"(?! visibility="hidden")')
REST_CLASS = re.compile(r'class="(?:rest|mRest)"(?! visibility="hidden")')


@dataclass(frozen=True)
class Engraving:
    """The randomised engraving settings of one rendered piece (stored with every system as JSON)."""

    font: str = "Leipzig"
    page_width: int = 2100  # with the music's density, decides how many measures fit in a system
    spacing_linear: float = 0.25
    spacing_non_linear: float = 0.6
    staff_distance: int = 12  # between the two staves of the grand staff, in half staff spaces
    staff_line_width: float = 0.15
    stem_width: float = 0.2
    bar_line_width: float = 0.3
    ledger_line_thickness: float = 0.25
    margin_left: int = 50  # under ~30 Verovio clips the brace
    measure_numbers: str = "system"
    pixels_per_space: float = 8.0  # raster resolution: pixels between two staff lines

    def verovio_options(self) -> dict:
        return {
            "font": self.font,
            "breaks": "auto",
            "systemMaxPerPage": 1,
            "pageWidth": self.page_width,
            "pageHeight": 60000,
            "adjustPageHeight": True,
            "pageMarginLeft": self.margin_left,
            # small margins: less paper to rasterise (crop margins are added afterwards)
            "pageMarginRight": 10,
            "pageMarginTop": 10,
            "pageMarginBottom": 10,
            "header": "none",
            "footer": "none",
            "spacingLinear": self.spacing_linear,
            "spacingNonLinear": self.spacing_non_linear,
            "spacingBraceGroup": self.staff_distance,
            "staffLineWidth": self.staff_line_width,
            "stemWidth": self.stem_width,
            "barLineWidth": self.bar_line_width,
            "ledgerLineThickness": self.ledger_line_thickness,
            "mnumInterval": 1 if self.measure_numbers == "every" else 0,
            "xmlIdSeed": 1,  # the same input always gives the same SVG
            "svgFormatRaw": True,
        }

    def as_dict(self) -> dict:
        return asdict(self)


def random_engraving(rng: random.Random) -> Engraving:
    """Engraving settings spread around Verovio's defaults; page widths from 1 to ~8 measures a system."""
    return Engraving(
        font=rng.choice(FONTS),
        page_width=round(800 * 4 ** rng.random()),  # log-uniform 800..3200
        spacing_linear=round(rng.uniform(0.15, 0.35), 3),
        spacing_non_linear=round(rng.uniform(0.45, 0.75), 3),
        staff_distance=rng.randint(8, 18),
        staff_line_width=round(rng.uniform(0.1, 0.25), 3),
        stem_width=round(rng.uniform(0.12, 0.35), 3),
        bar_line_width=round(rng.uniform(0.2, 0.5), 3),
        ledger_line_thickness=round(rng.uniform(0.15, 0.35), 3),
        margin_left=rng.randint(30, 60),
        measure_numbers=rng.choice(MEASURE_NUMBERS),
        pixels_per_space=round(rng.uniform(6.0, 10.0), 2),
    )


@dataclass
class RenderedSystem:
    image: Image.Image  # grayscale, cropped to the ink plus a margin
    measures: list[int]  # indices (in the piece) of the measures the SVG shows, in drawing order
    svg_measure_count: int  # measure groups in the SVG, with or without one of our ids
    note_count: int  # visible notes drawn
    rest_count: int  # visible rests and measure rests drawn
    clipped: bool  # ink touches the page edge: part of the system fell outside the page
    crop_margins: tuple[int, int, int, int]  # left, top, right, bottom, in pixels
    svg: str = ""  # the page as Verovio drew it (the witness of where each symbol is)
    crop_origin: tuple[int, int] = (0, 0)  # where the image's top-left pixel lies on the rasterised page


@lru_cache(maxsize=1)
def _toolkit() -> verovio.toolkit:
    verovio.enableLog(verovio.LOG_OFF)
    return verovio.toolkit()


def engrave_pages(musicxml: str, engraving: Engraving) -> list[str]:
    """The SVG of every page: one system each."""
    toolkit = _toolkit()
    toolkit.resetOptions()
    toolkit.setOptions(engraving.verovio_options())
    if not toolkit.loadData(tag_for_verovio(musicxml, engraving.measure_numbers)):
        raise ValueError("Verovio could not load the MusicXML")
    return [toolkit.renderToSVG(page) for page in range(1, toolkit.getPageCount() + 1)]


def _unstroked_glyphs(svg: str) -> str:
    """Verovio's CSS strokes every path, glyph outlines included; stroking those hairlines costs about
    a third of the rasterisation and changes no pixel by more than a few gray levels."""
    defs_end = svg.find("</defs>")
    glyphs = svg[:defs_end].replace("<path transform", '<path style="stroke:none" transform')
    return glyphs + svg[defs_end:]


def raster_zoom(pixels_per_space: float) -> float:
    """Pixels per outer SVG unit when a staff space is drawn `pixels_per_space` pixels tall."""
    return pixels_per_space / (2 * UNIT)


def rasterise(svg: str, pixels_per_space: float) -> np.ndarray:
    """The page as a uint8 gray array on white paper."""
    png = resvg_py.svg_to_bytes(
        svg_string=_unstroked_glyphs(svg),
        background="white",
        zoom=raster_zoom(pixels_per_space),
        skip_system_fonts=True,  # loading every system font costs more than drawing the page
        font_files=TEXT_FONTS,
        font_family="DejaVu Serif",
        serif_family="DejaVu Serif",
    )
    with Image.open(io.BytesIO(bytes(png))) as image:
        return np.asarray(image.convert("L"))


def crop_to_ink(page: np.ndarray, margins: tuple[int, int, int, int]) -> tuple[Image.Image, bool, tuple[int, int]]:
    """The ink's bounding box plus margins (white beyond the page), whether ink touches the edge, and
    where the crop's top-left pixel lies on the page."""
    ink = page < INK_THRESHOLD
    rows, columns = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
    if rows.size == 0:
        raise ValueError("empty page")
    top, bottom, left, right = rows[0], rows[-1] + 1, columns[0], columns[-1] + 1
    clipped = bool(left == 0 or top == 0 or right == page.shape[1] or bottom == page.shape[0])
    margin_left, margin_top, margin_right, margin_bottom = margins
    height = bottom - top + margin_top + margin_bottom
    width = right - left + margin_left + margin_right
    canvas = np.full((height, width), 255, dtype=np.uint8)
    canvas[margin_top : margin_top + bottom - top, margin_left : margin_left + right - left] = page[
        top:bottom, left:right
    ]
    origin = (int(left) - margin_left, int(top) - margin_top)
    return Image.fromarray(canvas, mode="L"), clipped, origin


def random_margins(rng: random.Random, pixels_per_space: float) -> tuple[int, int, int, int]:
    """Crop margins of 0.3 to 3 staff spaces, drawn per side."""
    return tuple(round(rng.uniform(0.3, 3.0) * pixels_per_space) for _ in range(4))


def render_piece(musicxml: str, engraving: Engraving, rng: random.Random) -> list[RenderedSystem]:
    """Every system of the piece, as it would be printed with these settings."""
    systems = []
    for svg in engrave_pages(musicxml, engraving):
        margins = random_margins(rng, engraving.pixels_per_space)
        image, clipped, origin = crop_to_ink(rasterise(svg, engraving.pixels_per_space), margins)
        systems.append(
            RenderedSystem(
                image=image,
                measures=[int(index) for index in MEASURE_ID.findall(svg)],
                svg_measure_count=len(MEASURE_CLASS.findall(svg)),
                note_count=len(NOTE_CLASS.findall(svg)),
                rest_count=len(REST_CLASS.findall(svg)),
                clipped=clipped,
                crop_margins=margins,
                svg=svg,
                crop_origin=origin,
            )
        )
    return systems


def render_single_system(musicxml: str, pixels_per_space: float = 10.0) -> Image.Image:
    """A score drawn on one line with default settings (to look at ground truth)."""
    toolkit = _toolkit()
    toolkit.resetOptions()
    options = Engraving().verovio_options()
    options.update({"breaks": "none", "systemMaxPerPage": 0})
    toolkit.setOptions(options)
    if not toolkit.loadData(tag_for_verovio(musicxml)):
        raise ValueError("Verovio could not load the MusicXML")
    page = rasterise(toolkit.renderToSVG(1), pixels_per_space)
    return crop_to_ink(page, (10, 10, 10, 10))[0]
