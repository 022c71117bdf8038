"""LMX systems -> one MusicXML 4.0 score: one "Piano" part with two staves, the systems in order."""
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Iterable

from lmx.symbolic.get_head_attributes import get_head_attributes
from lmx.symbolic.part_to_score import part_to_score
from lmx.symbolic.sort_attributes import sort_attributes

from acai_hf.music.delinearization import STAVES, DelinearizationError, PartBuilder

__all__ = ["join_systems", "join_systems_with_errors", "JoinedScore"]


@dataclass(frozen=True)
class JoinedScore:
    musicxml: str  # score-partwise 4.0, one part "Piano" with two staves
    errors: list[list[DelinearizationError]]  # per system, positions within that system's tokens
    measure_counts: tuple[int, ...] = ()  # measures of each system, in document order


def join_systems(systems: Iterable[str]) -> str:
    """One MusicXML 4.0 document from the LMX of consecutive grand-staff systems."""
    return join_systems_with_errors(systems).musicxml


def join_systems_with_errors(systems: Iterable[str]) -> JoinedScore:
    """join_systems, plus what went wrong in each system (whose salvaged measures still join).

    Measures are numbered 1..N and each system after the first starts with <print new-system>.
    Keys, clefs and time signatures that repeat the ones in force are dropped (LMX repeats key and
    clefs at every system start); real changes stay. No time signature is invented where the
    first system prints none: MusicXML does not need one, music21 (which assumes 4/4) and Verovio
    read such measures, and measure_validity reports them as not judgeable.
    """
    builder = PartBuilder()
    errors, counts = [], []
    for index, lmx in enumerate(systems):
        measures, system_errors = builder.add_system(lmx)
        if index > 0 and measures:
            measures[0].insert(0, ET.Element("print", {"new-system": "yes"}))
        errors.append(system_errors)
        counts.append(len(measures))
    part = builder.finish()
    _drop_repeated_signatures(part)
    if len(part) == 0:  # MusicXML needs a measure
        ET.SubElement(part, "measure", {"number": "1"})
    _declare_staves(part)
    _give_notes_a_staff(part)
    score = part_to_score(part, part_id="P1", part_name="Piano", musicxml_version="4.0")
    ET.indent(score)
    return JoinedScore(ET.tostring(score.getroot(), encoding="unicode", xml_declaration=True), errors, tuple(counts))


def _drop_repeated_signatures(part: ET.Element) -> None:
    in_force = {}
    for attributes in part.iter("attributes"):
        for element in list(attributes):
            slot_and_value = _signature(element)
            if slot_and_value is None:
                continue
            slot, value = slot_and_value
            if in_force.get(slot) == value:
                attributes.remove(element)
            else:
                in_force[slot] = value
    for measure in part:
        for attributes in measure.findall("attributes"):
            if len(attributes) == 0:
                measure.remove(attributes)


def _signature(element: ET.Element):
    """(what it sets, its value) for a key, time or clef; None for other attributes."""
    if element.tag == "key":
        return "key", element.findtext("fifths")
    if element.tag == "time":
        return "time", (element.findtext("beats"), element.findtext("beat-type"))
    if element.tag == "clef":
        return ("clef", element.get("number", "1")), (element.findtext("sign"), element.findtext("line"))
    return None


def _declare_staves(part: ET.Element) -> None:
    attributes = get_head_attributes(part[0], create_if_missing=True)
    staves = attributes.find("staves")
    if staves is None:
        staves = ET.SubElement(attributes, "staves")
    staves.text = str(STAVES)
    sort_attributes(attributes)


# MusicXML's order of a note's children: <staff> goes before these
_AFTER_STAFF = ("beam", "notations", "lyric", "play", "listen")


def _give_notes_a_staff(part: ET.Element) -> None:
    """Notes without `staff:N` in their LMX go on staff 1: a two-staff part whose notes name no staff
    is read by music21 as no part at all (an empty MIDI)."""
    for note in part.iter("note"):
        if note.find("staff") is not None:
            continue
        staff = ET.Element("staff")
        staff.text = "1"
        after = [i for i, child in enumerate(note) if child.tag in _AFTER_STAFF]
        note.insert(after[0] if after else len(note), staff)
