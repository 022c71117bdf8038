"""Turns LMX token strings into one MusicXML <part>, measure by measure, without ever raising.

Built on lmx's Delinearizer: a subclass collects its messages as objects and patches the inputs on
which it crashes or writes invalid MusicXML. PartBuilder feeds it measure by measure itself, as lmx
crashes on tokens before the first `measure` (its error call there passes the wrong arguments).
"""
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from fractions import Fraction
from typing import Literal, Optional

from lmx.linearization.Delinearizer import Delinearizer, Token
from lmx.linearization.vocabulary import ALL_TOKENS
from lmx.symbolic.fractional_durations_to_actual import fractional_durations_to_actual
from lmx.symbolic.get_head_attributes import get_head_attributes
from lmx.symbolic.sort_attributes import sort_attributes

# A system is at most ~1,500 tokens; the caps keep garbage input linear in time (lmx's accidental
# bookkeeping is quadratic in the notes of one measure).
MAX_TOKENS = 16_384
MAX_MEASURE_TOKENS = 2_048
# Acai reads grand staffs; lmx also knows a third (organ) staff.
STAVES = 2
# MusicXML's beam-level and number-level limits.
MAX_BEAM_NUMBER = 8
MAX_SLUR_NUMBER = 16
# music21 also reads a measure without a time signature as 4/4.
DEFAULT_MEASURE_LENGTH = Fraction(4)

_VOCABULARY = frozenset(ALL_TOKENS)
_TERMINAL = re.compile(r"\S+")  # the same split as str.split(), but lazy for huge inputs


@dataclass(frozen=True)
class DelinearizationError:
    """One problem met while delinearizing.

    severity: "minor" when tokens were skipped or something was repaired, "catastrophic" when
    nothing usable came out. position: index of the token in `lmx.split()`, None for the whole input.
    """
    severity: Literal["minor", "catastrophic"]
    position: Optional[int]
    message: str


def _minor(position: Optional[int], message: str) -> DelinearizationError:
    return DelinearizationError("minor", position, message)


class _ReportingDelinearizer(Delinearizer):
    """lmx's Delinearizer, with errors collected and its output kept valid MusicXML."""

    def __init__(self):
        super().__init__(keep_fractional_durations=True)
        self.errors: list[DelinearizationError] = []
        self.unsized_measure_rests: list[ET.Element] = []

    def _error(self, token: Token, *values):
        self.errors.append(_minor(token.position, f"{token.terminal!r}: {' '.join(map(str, values))}"))

    def process_forward_backup(self, element: ET.Element, tree):
        super().process_forward_backup(element, tree)
        if element.find("duration") is None:
            # a 'rest:measure' root has no length; lmx would crash merging it with a next forward/backup
            ET.SubElement(element, "duration").text = "0"

    def process_clef(self, tree) -> ET.Element:
        clef = super().process_clef(tree)
        if int(clef.get("number", "1")) > STAVES:
            clef.set("number", str(STAVES))
            self._error(tree.root, f"Clef beyond staff {STAVES}: moved to staff {STAVES}.")
        return clef

    def process_note(self, tree) -> ET.Element:
        note = super().process_note(tree)
        position = tree.root.position
        staff = note.find("staff")
        if staff is not None and int(staff.text) > STAVES:
            staff.text = str(STAVES)
            self._error(tree.root, f"Note beyond staff {STAVES}: moved to staff {STAVES}.")
        full_note_at = len(note.findall("grace")) + len(note.findall("chord"))
        if note.find("pitch") is None and note.find("rest") is None:
            note.insert(full_note_at, ET.Element("rest"))
            self._error(tree.root, "Note without pitch or rest: read as a rest.")
        if note.find("grace") is None and note.find("duration") is None:
            # a measure rest with no time signature in force: PartBuilder sizes it to the measure
            duration = ET.Element("duration")
            duration.text = "0"
            note.insert(full_note_at + 1, duration)
            self.unsized_measure_rests.append(note)
            self._error(tree.root, "Measure rest with no time signature in force: "
                                   "as long as the busiest voice of the measure (4/4 when alone).")
        self._drop_numbers_beyond(note, "beam", MAX_BEAM_NUMBER, position)
        self._drop_numbers_beyond(note.find("notations"), "slur", MAX_SLUR_NUMBER, position)
        return note

    def _drop_numbers_beyond(self, parent: Optional[ET.Element], tag: str, limit: int, position: int):
        if parent is None:
            return
        for element in parent.findall(tag):
            if int(element.get("number", "1")) > limit:
                parent.remove(element)
                self.errors.append(_minor(position, f"More than {limit} nested {tag}s: dropped one."))


class PartBuilder:
    """Delinearizes LMX systems one after another into one <part>.

    One lmx Delinearizer serves all systems, so the time signature, key, ties and slurs in force
    carry over system breaks.
    """

    def __init__(self):
        self._delinearizer = _ReportingDelinearizer()

    def add_system(self, lmx: str) -> tuple[list[ET.Element], list[DelinearizationError]]:
        """Appends the measures of one system; returns them and the problems found."""
        if not isinstance(lmx, str):
            raise TypeError(f"LMX must be a str, not {type(lmx).__name__}")
        tokens, errors = _lex(lmx)
        preamble, clusters = _split_measures(tokens)
        errors += [_minor(t.position, f"{t.terminal!r} before the first 'measure': dropped.") for t in preamble]
        measures = []
        for start, cluster in clusters:
            if len(cluster) > MAX_MEASURE_TOKENS:
                errors.append(_minor(cluster[MAX_MEASURE_TOKENS].position,
                                     f"Measure longer than {MAX_MEASURE_TOKENS} tokens: the rest is dropped."))
                cluster = cluster[:MAX_MEASURE_TOKENS]
            measures.append(self._measure(start, cluster, errors))
        if not measures:
            errors.append(DelinearizationError("catastrophic", None, "No 'measure' token: no music."))
        errors.sort(key=lambda e: -1 if e.position is None else e.position)
        return measures, errors

    def _measure(self, start: int, cluster: list[Token], errors: list) -> ET.Element:
        self._delinearizer.errors = []
        self._delinearizer.unsized_measure_rests = []
        try:
            measure = self._delinearizer.process_measure(cluster)
            self._size_measure_rests(measure)
        except Exception as exc:  # an lmx failure we have not met yet: lose one measure, not the system
            measure = ET.Element("measure")
            errors.append(_minor(start, f"Measure could not be delinearized ({exc!r}): left empty."))
        errors += self._delinearizer.errors
        self._delinearizer.part_element.append(measure)
        return measure

    def _size_measure_rests(self, measure: ET.Element):
        rests = self._delinearizer.unsized_measure_rests
        if rests:
            length = _busiest_voice_length(measure) or DEFAULT_MEASURE_LENGTH
            for rest in rests:
                rest.find("duration").text = str(length)

    def finish(self) -> ET.Element:
        """The <part> with actual durations, <divisions>, <staves> and numbered measures."""
        part = self._delinearizer.part_element
        for measure in part:
            for motion in measure.findall("forward") + measure.findall("backup"):
                if motion.findtext("duration") == "0":  # MusicXML durations are positive
                    measure.remove(motion)
        self._delinearizer._add_staves_head_element()
        if part.find(".//duration") is not None:
            fractional_durations_to_actual(part)
        elif len(part):
            ET.SubElement(get_head_attributes(part[0], create_if_missing=True), "divisions").text = "1"
        for attributes in part.iter("attributes"):
            sort_attributes(attributes)
        part.set("id", "P1")
        for number, measure in enumerate(part, start=1):
            measure.set("number", str(number))
        return part


def _busiest_voice_length(measure: ET.Element) -> Fraction:
    """The largest sum of note durations in one voice: unlike positions, blind to unsized rests."""
    totals: dict[str, Fraction] = {}
    for note in measure.iter("note"):
        if note.find("chord") is None and note.find("grace") is None:
            voice = note.findtext("voice", "1")
            totals[voice] = totals.get(voice, 0) + Fraction(note.findtext("duration"))
    return max(totals.values(), default=Fraction(0))


def _lex(text: str) -> tuple[list[Token], list[DelinearizationError]]:
    tokens, errors = [], []
    for position, match in enumerate(_TERMINAL.finditer(text)):
        if position == MAX_TOKENS:
            errors.append(_minor(position, f"Input longer than {MAX_TOKENS} tokens: the rest is ignored."))
            break
        terminal = match.group()
        if terminal in _VOCABULARY:
            tokens.append(Token(terminal, position))
        else:
            errors.append(_minor(position, f"Unknown token {terminal[:40]!r}: skipped."))
    return tokens, errors


def _split_measures(tokens: list[Token]) -> tuple[list[Token], list[tuple[int, list[Token]]]]:
    """Tokens before the first 'measure', then (position of 'measure', its tokens) per measure."""
    preamble, clusters = [], []
    for token in tokens:
        if token.terminal == "measure":
            clusters.append((token.position, []))
        elif clusters:
            clusters[-1][1].append(token)
        else:
            preamble.append(token)
    return preamble, clusters
