"""Whole pages with known system positions: rendered systems stacked on paper as a printed score is.

The data engine renders one system per Verovio page (`render.render_piece`); a page is made by
placing those systems, each cropped to its ink, one under another on an A4-shaped sheet, with a title
above the first, systems spaced as an engraver would space them (sometimes tightly, so that the ledger
lines of one system come near the next), and an optional page number. Each system's box on the page is
exactly its ink's bounding box, which is what system detection is tested against. A photo-like
variant rotates the sheet slightly and adds blur, uneven light and noise (the boxes follow the rotation).
"""
import math
import random
from dataclasses import dataclass, field, replace

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from training.data import render

A4_RATIO = 297 / 210
TITLE_FONT = next((f for f in render.TEXT_FONTS if f.endswith("DejaVuSerif.ttf")), None)
TITLES = ("Sonatina", "Minuet", "Study in C", "Waltz", "Prelude", "Chorale", "Song without words", "Rondo")


@dataclass
class PageSystem:
    box: tuple[int, int, int, int]  # the system's ink on the page: left, top, right, bottom (exclusive)
    payload: dict = field(default_factory=dict)  # what the caller attached (LMX, measures, ...)


@dataclass
class Page:
    image: Image.Image  # "L"
    systems: list[PageSystem]
    staff_space: float  # pixels between two staff lines


@dataclass(frozen=True)
class PageLayout:
    """Where things go on the sheet, in staff spaces unless said otherwise."""

    staff_space: float = 20.0  # pixels; ~300 dpi for a 1.7 mm staff space
    page_width: int = 2480  # pixels (A4 at 300 dpi)
    margin_x: float = 0.08  # left and right margins, fractions of the page width
    margin_top: float = 0.05
    margin_bottom: float = 0.06
    gap: tuple[float, float] = (1.5, 6.0)  # ink-to-ink distance between systems, in staff spaces
    title: str | None = "Sonatina"
    page_number: bool = True

    @property
    def page_height(self) -> int:
        return round(self.page_width * A4_RATIO)

    @property
    def system_width(self) -> int:
        return round(self.page_width * (1 - 2 * self.margin_x))


def random_layout(rng: random.Random, staff_space: float | None = None, page_width: int | None = None) -> PageLayout:
    staff_space = staff_space or round(rng.uniform(9.0, 24.0), 1)
    # a staff space of 1.5-2 mm: the page's pixel width follows from the staff size
    page_width = page_width or round(staff_space / rng.uniform(1.5, 2.0) * 210)
    low = rng.uniform(1.2, 3.0)
    return PageLayout(
        staff_space=staff_space,
        page_width=page_width,
        margin_x=rng.uniform(0.05, 0.12),
        margin_top=rng.uniform(0.03, 0.07),
        margin_bottom=rng.uniform(0.04, 0.08),
        gap=(low, low + rng.uniform(0.5, 6.0)),
        title=rng.choice(TITLES),
        page_number=rng.random() < 0.5,
    )


def engraving_for(layout: PageLayout, engraving: render.Engraving) -> render.Engraving:
    """The engraving with its raster scale and Verovio page width matched to the layout."""
    units_per_pixel = 2 * render.UNIT / layout.staff_space
    page_width = round(layout.system_width * units_per_pixel) + engraving.margin_left + 10
    return replace(engraving, pixels_per_space=layout.staff_space, page_width=page_width)


def ink_crop(image: Image.Image, crop_margins) -> Image.Image:
    """A rendered system without its crop margins: exactly its ink."""
    left, top, right, bottom = crop_margins
    return image.crop((left, top, image.width - right, image.height - bottom))


def _title(draw: ImageDraw.ImageDraw, layout: PageLayout, y: int) -> int:
    """Draw the title centred with its top at y; returns the y below it."""
    if not layout.title or TITLE_FONT is None:
        return y
    font = ImageFont.truetype(TITLE_FONT, max(8, round(2.5 * layout.staff_space)))
    left, top, right, bottom = draw.textbbox((0, 0), layout.title, font=font)
    draw.text(((layout.page_width - (right - left)) / 2 - left, y - top), layout.title, fill=0, font=font)
    return y + bottom - top


def compose_pages(systems, layout: PageLayout, rng: random.Random) -> list[Page]:
    """Pages holding `systems` ((ink image "L", payload) pairs, in order), as many as they need.

    A system wider than the layout's system width is scaled to fit; the first page has the title.
    """
    pages, index = [], 0
    bottom_limit = round(layout.page_height * (1 - layout.margin_bottom))
    left_margin = round(layout.page_width * layout.margin_x)
    while index < len(systems):
        sheet = Image.new("L", (layout.page_width, layout.page_height), 255)
        draw = ImageDraw.Draw(sheet)
        y = round(layout.page_height * layout.margin_top)
        if not pages:
            y = _title(draw, layout, y) + round(rng.uniform(4.0, 7.0) * layout.staff_space)
        placed = []
        while index < len(systems):
            image, payload = systems[index]
            if image.width > layout.system_width:
                scale = layout.system_width / image.width
                image = image.resize((layout.system_width, max(1, round(image.height * scale))), Image.LANCZOS)
            if y + image.height > bottom_limit and placed:
                break
            if y + image.height > layout.page_height:  # one system taller than a page: scale it down
                scale = (layout.page_height - y - 1) / image.height
                image = image.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))))
            sheet.paste(image, (left_margin, y))
            placed.append(PageSystem((left_margin, y, left_margin + image.width, y + image.height), payload))
            y += image.height + round(rng.uniform(*layout.gap) * layout.staff_space)
            index += 1
        if layout.page_number and len(pages) > 0:
            font = ImageFont.truetype(TITLE_FONT, max(8, round(1.3 * layout.staff_space))) if TITLE_FONT else None
            draw.text((layout.page_width / 2, layout.page_height - layout.margin_bottom * layout.page_height / 2),
                      str(len(pages) + 1), fill=0, font=font, anchor="mm")
        pages.append(Page(sheet, placed, layout.staff_space))
    return pages


def render_systems(musicxml: str, engraving: render.Engraving, layout: PageLayout, rng: random.Random,
                   max_systems: int | None = None) -> list[tuple[Image.Image, dict]]:
    """The piece's systems engraved with `engraving` (scale and width set by the layout), each cropped
    to its ink, with a payload holding the indices of the measures it shows ("measures")."""
    engraving = engraving_for(layout, engraving)
    systems = []
    for system in render.render_piece(musicxml, engraving, rng)[:max_systems]:
        systems.append((ink_crop(system.image, system.crop_margins), {"measures": system.measures}))
    return systems


def render_pages(musicxml: str, engraving: render.Engraving, layout: PageLayout, rng: random.Random,
                 max_systems: int | None = None) -> list[Page]:
    """The piece engraved and laid out in pages."""
    return compose_pages(render_systems(musicxml, engraving, layout, rng, max_systems), layout, rng)


def photo_like(page: Page, rng: np.random.Generator, max_degrees: float = 1.5, strength: float = 1.0) -> Page:
    """The page as if photographed: slightly rotated, blurred, unevenly lit, noisy and JPEG-compressed.

    Boxes become the axis-aligned bounds of the rotated ones.
    """
    from training.data import augment_photometric as photometric

    angle = rng.uniform(-max_degrees, max_degrees)
    image = page.image.rotate(angle, resample=Image.BICUBIC, fillcolor=255)  # anticlockwise, about the centre
    cx, cy = image.width / 2, image.height / 2
    radians = math.radians(angle)
    cos, sin = math.cos(radians), math.sin(radians)
    systems = []
    for system in page.systems:
        left, top, right, bottom = system.box
        corners = np.array([(left, top), (right, top), (right, bottom), (left, bottom)], dtype=float)
        # anticlockwise on screen (y down): x' = cx + (x-cx) cos + (y-cy) sin, y' = cy - (x-cx) sin + (y-cy) cos
        xs = cx + (corners[:, 0] - cx) * cos + (corners[:, 1] - cy) * sin
        ys = cy - (corners[:, 0] - cx) * sin + (corners[:, 1] - cy) * cos
        box = (
            max(0, math.floor(xs.min())), max(0, math.floor(ys.min())),
            min(image.width, math.ceil(xs.max())), min(image.height, math.ceil(ys.max())),
        )
        systems.append(replace(system, box=box))
    image = photometric.blur(image, rng, strength)
    light = np.asarray(image).astype(np.float32) * (1 / 255)
    photometric.paper(light, rng, strength)
    photometric.illumination(light, rng, strength)
    photometric.sensor_noise(light, rng, strength)
    image = Image.fromarray((np.clip(light, 0.0, 1.0) * 255 + 0.5).astype(np.uint8))
    image = photometric.contrast(image, rng, strength * 0.7)
    image = photometric.jpeg(image, rng, strength * 0.7)
    return Page(image, systems, page.staff_space)
