"""The engraver's geometry of one system, token by token, in the pixels of the system's image.

Every LMX token gets the box of the symbol it belongs to (`token_boxes`): all the tokens of a note share
its notehead (a rest its glyph), clef/key/time tokens their glyphs, `measure` the measure's start;
backup and forward have nothing drawn (None). `token_glyph_boxes` points a token at the very glyph that
shows it where that is not the head: a duration at the stem and flag, `stem:*` at the stem, `beam:*`
at the beam, an accidental, a dot or an articulation at its glyph, a time signature's beats and beat type
at their digits. `staff_lines` holds the y of each
staff's five lines, top first.
"""
from dataclasses import dataclass

from lmx.linearization.vocabulary import ACCIDENTAL_TOKENS, NOTE_TYPE_TOKENS
from lxml import etree as ET

from acai_hf.metrics.signatures import TIME_PREFIXES
from training.data.svg_geometry import Box, MeasureGeometry, PageGeometry, union
from training.data.token_owners import Owner

NOTE_ID = "acai-n{}"
ARTICULATION_TOKENS = {"staccato", "accent", "strong-accent", "tenuto"}
STEPS = "CDEFGAB"
CLEF_LINE_PITCH = {"G": ("G", 4), "F": ("F", 3), "C": ("C", 4)}  # the pitch on the clef's line


@dataclass
class SystemGeometry:
    token_boxes: list[list[float] | None]
    token_glyph_boxes: list[list[float] | None]
    staff_lines: list[list[float]]


def tag_notes(root: ET._Element):
    """An id on every <note> (`acai-n<k>`, in document order): Verovio keeps it in the SVG."""
    for index, note in enumerate(root.iter("note")):
        note.set("id", NOTE_ID.format(index))


def strip_note_ids(root: ET._Element):
    for note in root.iter("note"):
        note.attrib.pop("id", None)


@dataclass(frozen=True)
class PixelMapping:
    """Outer SVG units (zoom 1) to the system image's pixels: scale by the zoom, shift by the crop."""

    zoom: float
    origin: tuple[float, float]  # where the image's top-left lies on the rasterised page
    size: tuple[int, int]  # the image's width and height

    def box(self, page: PageGeometry, box: Box | None) -> list[float] | None:
        if box is None:
            return None
        x0, y0, x1, y1 = page.to_outer(box)
        ox, oy = self.origin
        width, height = self.size
        x0, x1 = sorted((min(max(x0 * self.zoom - ox, 0.0), width), min(max(x1 * self.zoom - ox, 0.0), width)))
        y0, y1 = sorted((min(max(y0 * self.zoom - oy, 0.0), height), min(max(y1 * self.zoom - oy, 0.0), height)))
        if x1 <= x0 or y1 <= y0:
            return None  # wholly outside the image
        return [round(x0, 1), round(y0, 1), round(x1, 1), round(y1, 1)]

    def y(self, page: PageGeometry, y: float) -> float:
        return round(page.y_to_outer(y) * self.zoom - self.origin[1], 2)


def system_geometry(
    tokens: list[str], owners: list[Owner], page: PageGeometry, measures: list[int], mapping: PixelMapping
) -> SystemGeometry:
    """Boxes for every token of a system whose measures (indices in the piece) the page draws."""
    drawn = [page.measures.get(index, MeasureGeometry()) for index in measures]
    clefs = _clef_glyphs(tokens, owners, drawn)
    boxes, glyph_boxes = [], []
    for token, owner in zip(tokens, owners):
        box, glyph = _symbol_box(token, owner, page, drawn, clefs)
        boxes.append(mapping.box(page, box))
        glyph_boxes.append(mapping.box(page, glyph))
    first = drawn[0] if drawn else MeasureGeometry()
    lines = [[mapping.y(page, y) for y in first.staff_lines[staff]] for staff in sorted(first.staff_lines)]
    return SystemGeometry(boxes, glyph_boxes, lines)


def _symbol_box(token: str, owner: Owner, page: PageGeometry, drawn: list[MeasureGeometry], clefs: dict):
    """(the symbol's box, the token's own glyph box), in SVG units."""
    if owner.kind == "note":
        note = page.notes.get(owner.note_id)
        if note is None or note.head is None:
            return None, None
        return note.head, _glyph_of(token, note)
    if owner.kind == "none" or not 0 <= owner.measure < len(drawn):
        return None, None
    measure = drawn[owner.measure]
    if owner.kind == "measure":
        return _measure_start(measure), None
    if owner.kind == "key":
        return union(measure.keys), None
    if owner.kind == "time":
        return union(measure.times), _time_digit(token, measure.times)
    if owner.kind == "clef":
        found = clefs.get(owner.staff, [])
        return (found[owner.clef_index] if owner.clef_index < len(found) else None), None
    return None, None


def _time_digit(token: str, times: list[Box]) -> Box | None:
    """`beats:N` at the top staff's upper digit, `beat-type:N` at its lower one: each digit fills half the
    staff's height, and it is the digit, not the whole signature, that says which time it is."""
    if not times or not token.startswith(TIME_PREFIXES):
        return None
    x0, y0, x1, y1 = times[0]  # staves are walked top first
    middle = (y0 + y1) / 2
    return (x0, y0, x1, middle) if token.startswith("beats:") else (x0, middle, x1, y1)


def _glyph_of(token: str, note) -> Box | None:
    if token in NOTE_TYPE_TOKENS:
        return union([note.stem, note.flag]) or note.head
    if token == "rest:measure":
        return note.head
    if token.startswith("stem:"):
        return note.stem
    if token.startswith("beam:"):
        return note.beam
    if token in ACCIDENTAL_TOKENS:
        return note.accidental
    if token == "dot":
        return note.dots
    if token in ARTICULATION_TOKENS:
        return note.articulation
    return None


def _measure_start(measure: MeasureGeometry) -> Box | None:
    """A staff space either side of where the measure begins, over both staves."""
    if not measure.staff_lines:
        return None
    ys = [y for lines in measure.staff_lines.values() for y in lines]
    top_staff = next(iter(measure.staff_lines.values()))
    space = (top_staff[-1] - top_staff[0]) / 4
    return (measure.x0 - space, min(ys), measure.x0 + space, max(ys))


def _clef_glyphs(tokens: list[str], owners: list[Owner], drawn: list[MeasureGeometry]) -> dict[int, list[Box]]:
    """Each staff's clef glyphs in the system, left to right, when they pair one to one with its clef
    tokens (a courtesy clef at the system's end may follow them); otherwise none for that staff."""
    wanted: dict[int, int] = {}
    for token, owner in zip(tokens, owners):
        if owner.kind == "clef" and token.startswith("clef:"):
            wanted[owner.staff] = wanted.get(owner.staff, 0) + 1
    found = {}
    for staff, count in wanted.items():
        glyphs = sorted((box for measure in drawn for box in measure.clefs.get(staff, [])), key=lambda b: b[0])
        if len(glyphs) in (count, count + 1):
            found[staff] = glyphs[:count]
    return found


def diatonic(step: str, octave: int) -> int:
    return octave * 7 + STEPS.index(step)


def clefs_in_force(truth: ET._Element) -> dict[str, int]:
    """note id -> the diatonic index of its staff's bottom line under the clef in force where the note
    starts. A clef change holds from its place in time (the measure's cursor, which <backup> and <forward>
    move), not from its place in the file: a voice written after it may back up to before it, as the
    lower voice of a bass staff does under a clef change at the measure's end."""
    changes: dict[int, list[tuple[tuple[int, float], int]]] = {}  # staff -> [((measure, time), bottom line)]
    starts: dict[str, tuple[int, tuple[int, float]]] = {}  # note id -> (staff, (measure, time))
    for number, measure in enumerate(truth.iter("measure")):
        cursor = onset = 0.0
        for child in measure:
            if child.tag == "attributes":
                for clef in child.iter("clef"):
                    sign, line = clef.findtext("sign"), clef.findtext("line") or ""
                    if sign in CLEF_LINE_PITCH and line.isdigit():
                        bottom = diatonic(*CLEF_LINE_PITCH[sign]) - 2 * (int(line) - 1)
                        changes.setdefault(int(clef.get("number", "1")), []).append(((number, cursor), bottom))
            elif child.tag == "note":
                if child.find("chord") is None:
                    onset = cursor
                    cursor += float(child.findtext("duration") or 0)  # a grace note takes no time
                starts[child.get("id")] = (int(child.findtext("staff", "1")), (number, onset))
            elif child.tag in ("backup", "forward"):
                step = float(child.findtext("duration") or 0)
                cursor += step if child.tag == "forward" else -step
    in_force = {}
    for note_id, (staff, when) in starts.items():
        held = [bottom for since, bottom in sorted(changes.get(staff, []), key=lambda c: c[0]) if since <= when]
        if held:
            in_force[note_id] = held[-1]
    return in_force


def clef_disagreements(tokens: list[str], owners: list[Owner], geometry: SystemGeometry, truth: ET._Element) -> int:
    """How many drawn noteheads sit where their staff's clef in force puts another step.

    The height of a notehead between its staff's lines gives its step under the clef; a system whose
    drawing disagrees with its LMX (e.g. an octave clef LMX cannot say) is not trusted for training.
    """
    staff_of = {note.get("id"): int(note.findtext("staff", "1")) for note in truth.iter("note")}
    bottoms = clefs_in_force(truth)
    wrong = 0
    for index, (token, owner) in enumerate(zip(tokens, owners)):
        box = geometry.token_boxes[index]
        if owner.kind != "note" or box is None or not token[0] in STEPS or not token[-1].isdigit():
            continue
        staff = staff_of.get(owner.note_id, 1)
        if owner.note_id not in bottoms or staff > len(geometry.staff_lines):
            continue
        lines = geometry.staff_lines[staff - 1]
        half_space = (lines[-1] - lines[0]) / 8
        drawn_step = bottoms[owner.note_id] + round((lines[-1] - (box[1] + box[3]) / 2) / half_space)
        if drawn_step != diatonic(token[0], int(token[1:])):
            wrong += 1
    return wrong
