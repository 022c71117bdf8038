"""Where Verovio drew each symbol of a page: boxes read from its SVG, in the SVG's own units.

Glyphs are `<use>` elements placed by `translate(x, y) scale(s, s)`; their extent comes from Verovio's
font tables (`verovio/data/<Font>.xml`, in font units, y upwards), so no `svgBoundingBoxes` (which
changes some drawings) is needed. Notes and rests keep the ids we give them in the MusicXML, measures
theirs (`acai-m<index>`); staves, clefs, key and time signatures are found inside their measure.
"""
import os
import re
from dataclasses import dataclass, field
from functools import lru_cache

import verovio
from lxml import etree as ET

SVG = "{http://www.w3.org/2000/svg}"
HREF = "{http://www.w3.org/1999/xlink}href"
NOTE_ID_PREFIX = "acai-n"
MEASURE_ID = re.compile(r"acai-m(\d+)$")
NUMBER = re.compile(r"-?\d+(?:\.\d+)?")
TRANSFORM = re.compile(r"translate\(\s*(-?[\d.]+)[ ,]+(-?[\d.]+)\s*\)\s*scale\(\s*(-?[\d.]+)(?:[ ,]+(-?[\d.]+))?\s*\)")
PARSER = ET.XMLParser(resolve_entities=False, no_network=True, huge_tree=True)
FALLBACK_FONT = "Bravura"  # Verovio's reference font: the glyph of last resort

Box = tuple[float, float, float, float]  # x0, y0, x1, y1


def union(boxes) -> Box | None:
    boxes = [box for box in boxes if box is not None]
    if not boxes:
        return None
    return (min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes))


@lru_cache(maxsize=None)
def glyph_table(font: str) -> dict[str, tuple[float, float, float, float]]:
    """SMuFL code point -> (x, y, width, height) in font units (y upwards) from Verovio's own table."""
    path = os.path.join(os.path.dirname(verovio.__file__), "data", f"{font}.xml")
    table = {}
    for glyph in ET.parse(path, PARSER).getroot().iter("g"):
        table[glyph.get("c")] = tuple(float(glyph.get(name)) for name in ("x", "y", "w", "h"))
    return table


@dataclass
class NoteGeometry:
    """A note or rest: the head (or the rest glyph) and the parts drawn for it."""

    head: Box | None = None
    stem: Box | None = None
    flag: Box | None = None
    accidental: Box | None = None
    dots: Box | None = None
    beam: Box | None = None
    articulation: Box | None = None


@dataclass
class MeasureGeometry:
    x0: float = float("inf")
    x1: float = float("-inf")
    staff_lines: dict[int, list[float]] = field(default_factory=dict)  # staff -> y of its 5 lines, top first
    clefs: dict[int, list[Box]] = field(default_factory=dict)  # staff -> clef glyphs, left to right
    keys: list[Box] = field(default_factory=list)  # key signatures (one per staff)
    times: list[Box] = field(default_factory=list)  # time signatures (one per staff)


@dataclass
class PageGeometry:
    notes: dict[str, NoteGeometry]  # by our note id
    measures: dict[int, MeasureGeometry]  # by the measure's index in the piece
    units_per_pixel_of_zoom_1: float  # inner SVG units per outer (zoom 1) unit
    margin: tuple[float, float]  # the page-margin translation, inner units

    def to_outer(self, box: Box) -> Box:
        """A box in outer (zoom 1) SVG units: what a rasteriser scales by its zoom."""
        mx, my = self.margin
        k = 1 / self.units_per_pixel_of_zoom_1
        return ((box[0] + mx) * k, (box[1] + my) * k, (box[2] + mx) * k, (box[3] + my) * k)

    def y_to_outer(self, y: float) -> float:
        return (y + self.margin[1]) / self.units_per_pixel_of_zoom_1


def read_page(svg: str, font: str) -> PageGeometry:
    """Every measure's staves, clefs, key and time signatures, and every tagged note's parts."""
    root = ET.fromstring(svg.encode(), PARSER)
    inner = root.find(f"{SVG}svg")
    outer_width = float(NUMBER.search(root.get("width")).group())
    inner_width = float(inner.get("viewBox").split()[2])
    margin_group = inner.find(f"{SVG}g")
    margin = tuple(float(v) for v in NUMBER.findall(margin_group.get("transform", "translate(0, 0)"))[:2])
    reader = _Reader(glyph_table(font), glyph_table(FALLBACK_FONT))
    reader.walk(margin_group, None, None, {})
    return PageGeometry(reader.notes, reader.measures, inner_width / outer_width, margin)


class _Reader:
    def __init__(self, glyphs: dict, fallback: dict):
        self.glyphs, self.fallback = glyphs, fallback
        self.notes: dict[str, NoteGeometry] = {}
        self.measures: dict[int, MeasureGeometry] = {}

    def glyph_box(self, use) -> Box | None:
        match = TRANSFORM.search(use.get("transform", ""))
        if match is None:
            return None
        tx, ty, sx, sy = match.groups()
        tx, ty, sx = float(tx), float(ty), float(sx)
        sy = sx if sy is None else float(sy)
        code = use.get(HREF, "").lstrip("#").split("-")[0]
        extent = self.glyphs.get(code) or self.fallback.get(code)
        if extent is None:
            return None
        x, y, width, height = extent
        return (tx + sx * x, ty - sy * (y + height), tx + sx * (x + width), ty - sy * y)

    def uses_box(self, element) -> Box | None:
        return union(self.glyph_box(use) for use in element.iter(f"{SVG}use"))

    def walk(self, element, measure: MeasureGeometry | None, staff: int | None, inherited: dict):
        """Descend the drawing; `inherited` carries chord- and beam-level parts down to their notes."""
        for child in element:
            if child.tag != f"{SVG}g":
                continue
            kind = child.get("class", "").split(" ")[0]
            if kind == "measure":
                match = MEASURE_ID.match(child.get("id", ""))
                if match is None:  # not one of ours (checks.measure_mismatch drops such systems)
                    continue
                here = self.measures.setdefault(int(match.group(1)), MeasureGeometry())
                self.walk(child, here, None, {})
            elif kind == "staff" and measure is not None:
                number = len(measure.staff_lines) + 1
                measure.staff_lines[number] = self.staff_lines(child, measure)
                self.walk(child, measure, number, {})
            elif kind == "clef" and measure is not None and staff is not None:
                box = self.uses_box(child)
                if box is not None and child.get("visibility") != "hidden":
                    measure.clefs.setdefault(staff, []).append(box)
            elif kind in ("keySig", "meterSig") and measure is not None:
                box = self.uses_box(child)
                if box is not None:
                    (measure.keys if kind == "keySig" else measure.times).append(box)
            elif kind in ("note", "rest", "mRest") and child.get("id", "").startswith(NOTE_ID_PREFIX):
                if child.get("visibility") != "hidden":
                    self.notes[child.get("id")] = self.note(child, kind, inherited)
            elif kind == "chord":
                parts = dict(inherited)
                parts.update(self.parts(child))
                self.walk(child, measure, staff, parts)
            elif kind == "beam":
                polygons = [self.points_box(p.get("points", "")) for p in child.findall(f"{SVG}polygon")]
                self.walk(child, measure, staff, inherited | {"beam": union(polygons)})
            else:
                self.walk(child, measure, staff, inherited)

    def staff_lines(self, staff, measure: MeasureGeometry) -> list[float]:
        ys = []
        for path in staff.findall(f"{SVG}path"):
            x0, y0, x1, _ = (float(v) for v in NUMBER.findall(path.get("d", ""))[:4])
            measure.x0, measure.x1 = min(measure.x0, x0, x1), max(measure.x1, x0, x1)
            ys.append(y0)
        return sorted(ys)

    def note(self, group, kind: str, inherited: dict) -> NoteGeometry:
        if kind == "note":
            head = group.find(f"{SVG}g[@class='notehead']")
            head_box = self.uses_box(head) if head is not None else None
        else:
            head_box = union(self.glyph_box(use) for use in group.findall(f"{SVG}use"))
        parts = dict(inherited)
        parts.update(self.parts(group))
        return NoteGeometry(head=head_box, **parts)

    def parts(self, group) -> dict:
        """Stem, flag, accidental, dots and articulation drawn directly for a note or a chord."""
        found = {}
        for child in group.findall(f"{SVG}g"):
            kind = child.get("class", "").split(" ")[0]
            if kind == "stem":
                stems = [self.stroke_box(p) for p in child.findall(f"{SVG}path")]
                flag = child.find(f"{SVG}g[@class='flag']")
                found["stem"] = union(stems)
                if flag is not None:
                    found["flag"] = self.uses_box(flag)
            elif kind == "accid":
                box = self.uses_box(child)
                if box is not None:
                    found["accidental"] = box
            elif kind == "dots":
                found["dots"] = union(self.ellipse_box(e) for e in child.iter(f"{SVG}ellipse"))
            elif kind == "artic":
                found["articulation"] = union([found.get("articulation"), self.uses_box(child)])
        return found

    @staticmethod
    def stroke_box(path) -> Box | None:
        values = [float(v) for v in NUMBER.findall(path.get("d", ""))]
        if len(values) < 4:
            return None
        half = float(path.get("stroke-width", "0")) / 2
        xs, ys = values[0::2], values[1::2]
        return (min(xs) - half, min(ys), max(xs) + half, max(ys))

    @staticmethod
    def points_box(points: str) -> Box | None:
        values = [float(v) for v in NUMBER.findall(points)]
        if len(values) < 4:
            return None
        xs, ys = values[0::2], values[1::2]
        return (min(xs), min(ys), max(xs), max(ys))

    @staticmethod
    def ellipse_box(ellipse) -> Box:
        cx, cy = float(ellipse.get("cx")), float(ellipse.get("cy"))
        rx, ry = float(ellipse.get("rx")), float(ellipse.get("ry"))
        return (cx - rx, cy - ry, cx + rx, cy + ry)
