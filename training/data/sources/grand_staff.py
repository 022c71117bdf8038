"""Turn a span of a corpus piano part into one clean two-staff part, and the note-level helpers that
the four-part reduction (reduction.py) shares.

Clean means only what the model reads or an engraver needs (notes, backups, forwards, attributes,
barlines, dynamics and hairpins); voices numbered 1-4 on the upper staff and 5-8 on the lower one; and
a stem direction on every stemmed note, so that the image and the LMX agree on it. The source score is
never changed: callers may cache it.
"""
import copy

from lxml import etree as ET

from training.data import slicing

KEPT_MEASURE_TAGS = {"attributes", "note", "backup", "forward", "barline", "direction"}
KEPT_DIRECTION_TYPES = {"dynamics", "wedge"}  # words and metronome marks need text fonts we lack
DROPPED_NOTE_TAGS = {"lyric", "play", "listen", "instrument", "notehead-text"}
DROPPED_ATTRIBUTE_TAGS = {"staff-details", "transpose", "measure-style", "directive", "instruments"}
UNSTEMMED_TYPES = {"whole", "breve", "long", "maxima"}
NOTE_ORDER = (
    "grace", "chord", "pitch", "unpitched", "rest", "duration", "tie", "voice", "type", "dot",
    "accidental", "time-modification", "stem", "notehead", "staff", "beam", "notations",
)  # fmt: skip
NOTE_RANK = {tag: rank for rank, tag in enumerate(NOTE_ORDER)}


def set_child(note: ET._Element, tag: str, text: str) -> ET._Element:
    """Set (or create, in MusicXML's order) a child of a <note>."""
    child = note.find(tag)
    if child is None:
        rank = NOTE_RANK[tag]
        position = sum(1 for c in note if NOTE_RANK.get(c.tag, len(NOTE_RANK)) < rank)
        child = ET.Element(tag)
        note.insert(position, child)
    child.text = text
    return child


def keep_only_attributes(element: ET._Element, names: tuple[str, ...]):
    for name in [name for name in element.attrib if name not in names]:
        del element.attrib[name]


def clean_note(note: ET._Element):
    keep_only_attributes(note, ("print-object",))
    for element in list(note):
        if element.tag in DROPPED_NOTE_TAGS:
            note.remove(element)


def clean_measure(measure: ET._Element):
    """Drop layout, lyrics, harmony, text directions and undrawable notes, in place."""
    keep_only_attributes(measure, ("number", "implicit"))
    for child in list(measure):
        if child.tag not in KEPT_MEASURE_TAGS:
            measure.remove(child)
        elif child.tag == "direction":
            kinds = {kind.tag for direction_type in child.findall("direction-type") for kind in direction_type}
            if not kinds or not kinds <= KEPT_DIRECTION_TYPES:
                measure.remove(child)
        elif child.tag == "attributes":
            for element in list(child):
                if element.tag in DROPPED_ATTRIBUTE_TAGS:
                    child.remove(element)
        elif child.tag == "note":
            if drawable(child):
                clean_note(child)
            else:
                _replace_by_forward(measure, child)


def drawable(note: ET._Element) -> bool:
    """False for invisible notes (Verovio would still draw their stems) and for pitched notes without
    a note type (nothing says how to draw them; untyped rests are measure rests)."""
    untyped = note.find("type") is None and note.find("rest") is None
    return note.get("print-object") != "no" and not untyped


def _replace_by_forward(measure: ET._Element, note: ET._Element):
    """An undrawable note becomes the gap it leaves (a chord member or grace note just goes)."""
    if note.find("chord") is None and note.find("grace") is None:
        gap = ET.Element("forward")
        ET.SubElement(gap, "duration").text = note.findtext("duration", "0")
        for tag in ("voice", "staff"):
            if note.find(tag) is not None:
                ET.SubElement(gap, tag).text = note.findtext(tag)
        measure.insert(measure.index(note), gap)
    measure.remove(note)


def mark_measure_rests(measure: ET._Element):
    """A rest without a note type fills its measure: say so, as MusicXML and LMX expect."""
    for note in measure.findall("note"):
        rest = note.find("rest")
        if rest is not None and note.find("type") is None:
            rest.set("measure", "yes")


def renumber_voices(measure: ET._Element):
    """OLiMPiC (MuseScore) voice numbers: a voice belongs to the staff of its first note, and a staff's
    voices are numbered in order of appearance, 1-4 on the upper staff and 5-8 on the lower one."""
    mapping, count = {}, {"1": 0, "2": 0}
    for note in measure.findall("note"):
        voice = note.findtext("voice", "1")
        if voice not in mapping:
            staff = "1" if note.findtext("staff", "1") == "1" else "2"
            count[staff] += 1
            if count[staff] > 4:
                raise ValueError(f"measure {measure.get('number')} has more than four voices on a staff")
            mapping[voice] = str(count[staff] + (0 if staff == "1" else 4))
    for element in measure:
        if element.tag == "note":
            set_child(element, "voice", mapping[element.findtext("voice", "1")])
        elif element.tag == "forward" and element.find("voice") is not None:
            original = element.findtext("voice")
            element.find("voice").text = mapping.get(original, original)


def share_chord_stems(measure: ET._Element):
    """Chord members take the stem of the chord's first note, as they are drawn on it."""
    head_stem = None
    for note in measure.findall("note"):
        if note.find("chord") is None:
            head_stem = note.findtext("stem")
        elif note.find("stem") is None and head_stem is not None:
            set_child(note, "stem", head_stem)


def require_stems(measure: ET._Element):
    for note in measure.findall("note"):
        stemmed = note.find("rest") is None and note.findtext("type") not in UNSTEMMED_TYPES
        if stemmed and note.find("stem") is None:
            raise ValueError(f"measure {measure.get('number')} has a note without a stem direction")


def piano_part(score: ET._Element, start: int, stop: int) -> ET._Element:
    """Measures [start, stop) of the score's first two-staff part, cleaned, headed as a system start,
    with OLiMPiC voice numbers."""
    for part in score.findall("part"):
        if any(staves.text == "2" for staves in part.iter("staves")):
            break
    else:
        raise ValueError("no two-staff part")
    state = slicing.states_at_measure_starts(part)[start]
    excerpt = ET.Element("part", id="P1")
    excerpt.extend(copy.deepcopy(m) for m in part.findall("measure")[start:stop])
    slicing.add_system_header(excerpt[0], state)
    for measure in excerpt:
        clean_measure(measure)
        mark_measure_rests(measure)
        renumber_voices(measure)
        share_chord_stems(measure)
        require_stems(measure)
    return excerpt


def to_score(part: ET._Element) -> ET._Element:
    """A score-partwise around one piano part."""
    root = ET.Element("score-partwise", version="4.0")
    score_part = ET.SubElement(ET.SubElement(root, "part-list"), "score-part", id="P1")
    ET.SubElement(score_part, "part-name").text = "Piano"
    root.append(part)
    return root
