"""Ground truth of one system: the MusicXML of exactly its measures, and that MusicXML as LMX.

OLiMPiC conventions: every system starts with the key and both clefs in force there (plus divisions and
staves, which make the part valid); a time signature appears only in the measures that print one; ties
and slurs that cross the system edge keep their start or stop.
"""
import copy

import acai_hf
from lxml import etree as ET  # parses, copies and serialises several times faster than xml.etree

# the order MusicXML prescribes inside <attributes>, for the children we write
ATTRIBUTE_ORDER = ("divisions", "key", "time", "staves", "part-symbol", "instruments", "clef")
TIMED_TAGS = ("note", "backup", "forward")
PARSER = ET.XMLParser(remove_comments=True, remove_pis=True, resolve_entities=False)


def parse(musicxml: str | bytes) -> ET._Element:
    """The root of a MusicXML document (bytes or text, with or without an XML declaration)."""
    return ET.fromstring(musicxml.encode() if isinstance(musicxml, str) else musicxml, PARSER)


def read_part(musicxml: str | bytes | ET._Element) -> ET._Element:
    """The only <part> of a score-partwise document."""
    root = musicxml if isinstance(musicxml, ET._Element) else parse(musicxml)
    part = root.find("part")
    if part is None:
        raise ValueError("no <part> in the MusicXML")
    return part


class AttributeState:
    """The divisions, key, staves and clefs in force at some point of a part."""

    def __init__(self):
        self.divisions = None
        self.key = None
        self.staves = None
        self.clefs = {}  # staff number -> <clef>

    def update(self, attributes: ET._Element):
        for tag in ("divisions", "key", "staves"):
            element = attributes.find(tag)
            if element is not None:
                setattr(self, tag, element)
        for clef in attributes.findall("clef"):
            self.clefs[clef.get("number", "1")] = clef

    def copy(self) -> "AttributeState":
        state = AttributeState()
        state.divisions, state.key, state.staves = self.divisions, self.key, self.staves
        state.clefs = dict(self.clefs)
        return state


def states_at_measure_starts(part: ET._Element) -> list[AttributeState]:
    """For each measure, the attributes in force just before it (one pass over the part)."""
    states, state = [], AttributeState()
    for measure in part.findall("measure"):
        states.append(state.copy())
        for attributes in measure.findall("attributes"):
            state.update(attributes)
    return states


def head_attributes(measure: ET._Element) -> ET._Element:
    """The <attributes> before the measure's first note, created at the front when missing."""
    for child in measure:
        if child.tag in TIMED_TAGS:
            break
        if child.tag == "attributes":
            return child
    attributes = ET.Element("attributes")
    measure.insert(0, attributes)
    return attributes


def add_system_header(measure: ET._Element, state: AttributeState):
    """Re-state divisions, key, staves and clefs at the system start; the time signature is left alone."""
    attributes = head_attributes(measure)
    for tag in ("divisions", "key", "staves"):
        if attributes.find(tag) is None and getattr(state, tag) is not None:
            attributes.append(copy.deepcopy(getattr(state, tag)))
    present = {clef.get("number", "1") for clef in attributes.findall("clef")}
    for number in sorted(state.clefs, key=int):
        if number not in present:
            attributes.append(copy.deepcopy(state.clefs[number]))
    attributes[:] = sorted(attributes, key=_attribute_order)


def _attribute_order(child: ET._Element) -> tuple:
    """MusicXML's order of children, clefs by staff."""
    rank = ATTRIBUTE_ORDER.index(child.tag) if child.tag in ATTRIBUTE_ORDER else len(ATTRIBUTE_ORDER)
    return (rank, int(child.get("number", "1")) if child.tag == "clef" else 0)


def system_score(part: ET._Element, start: int, stop: int, state: AttributeState) -> ET._Element:
    """A score-partwise holding measures [start, stop) of the part, headed as a system start."""
    measures = [copy.deepcopy(m) for m in part.findall("measure")[start:stop]]
    if not measures:
        raise ValueError(f"no measures in [{start}, {stop})")
    for measure in measures:
        for layout in measure.findall("print"):  # page layout, not music
            measure.remove(layout)
    add_system_header(measures[0], state)
    root = ET.Element("score-partwise", version="4.0")
    part_list = ET.SubElement(root, "part-list")
    score_part = ET.SubElement(part_list, "score-part", id="P1")
    ET.SubElement(score_part, "part-name").text = "Piano"
    system_part = ET.SubElement(root, "part", id="P1")
    system_part.extend(measures)
    return root


def to_string(score: ET._Element) -> str:
    return ET.tostring(score, encoding="unicode")


def linearize(musicxml: str) -> str:
    """LMX of a one-part score; ValueError when LMX cannot say what the score holds."""
    return acai_hf.linearize(musicxml)


def count_notes(score: ET._Element) -> tuple[int, int]:
    """(printed notes, printed rests) of a score, as an engraver would draw them."""
    notes = rests = 0
    for note in score.iter("note"):
        if note.get("print-object") == "no":
            continue
        if note.find("rest") is None:
            notes += 1
        else:
            rests += 1
    return notes, rests
