"""Does every voice of every measure fill its time signature?"""
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from fractions import Fraction
from typing import Optional

from acai_hf.music.musicxml_input import load_part


@dataclass(frozen=True)
class MeasureReport:
    """One measure: lengths in quarter notes, voices by their MusicXML number."""
    number: str
    expected: Optional[Fraction]  # None: no time signature in force, the measure cannot be judged
    voices: dict[str, Fraction]
    underfull: tuple[str, ...]
    overfull: tuple[str, ...]
    pickup: bool  # implicit="yes": an anacrusis may be short

    @property
    def fills(self) -> Optional[bool]:
        """True when every voice fills the time signature; None when that cannot be judged."""
        if self.expected is None:
            return None
        return bool(self.voices) and not self.underfull and not self.overfull

    @property
    def verdict(self) -> str:
        if self.expected is None:
            return "cannot be judged: no time signature in force"
        if not self.voices:
            return "empty"
        problems = [f"{name} voices {', '.join(voices)}"
                    for name, voices in (("underfull", self.underfull), ("overfull", self.overfull)) if voices]
        return "; ".join(problems) or "full"


def measure_validity(score_or_part) -> list[MeasureReport]:
    """A report per measure of a one-part score (any input `linearize` takes)."""
    part = load_part(score_or_part)
    divisions = Fraction(1)
    expected = None
    reports = []
    for measure in part.iter("measure"):
        for attributes in measure.findall("attributes"):
            divisions = Fraction(attributes.findtext("divisions", str(divisions)))
            expected = _time_signature_length(attributes.find("time")) or expected
        reports.append(_report(measure, expected, voice_lengths(measure, divisions)))
    return reports


def _time_signature_length(time: Optional[ET.Element]) -> Optional[Fraction]:
    if time is None or time.find("beats") is None:
        return None  # e.g. <senza-misura>
    # compound beats such as "3+2" add up
    beats = sum(Fraction(beat) for beat in time.findtext("beats").split("+"))
    return beats * 4 / int(time.findtext("beat-type"))


def _report(measure: ET.Element, expected: Optional[Fraction], voices: dict[str, Fraction]) -> MeasureReport:
    pickup = measure.get("implicit") == "yes"
    underfull = overfull = ()
    if expected is not None:
        underfull = () if pickup else tuple(v for v, length in voices.items() if length < expected)
        overfull = tuple(v for v, length in voices.items() if length > expected)
    return MeasureReport(measure.get("number", ""), expected, voices, underfull, overfull, pickup)


def voice_lengths(measure: ET.Element, divisions: Fraction = Fraction(1)) -> dict[str, Fraction]:
    """voice -> where its last note (or voiced forward) ends, from the start of the measure.

    Follows the <backup>/<forward> cursor; chord notes start with the note before them, grace notes
    take no time. The end rather than the sum of durations, so that a voice entering after a
    forward (a hidden rest) counts as filled. Notes without <voice> count as voice "1".
    """
    lengths: dict[str, Fraction] = {}
    cursor = onset = Fraction(0)
    for element in measure:
        duration = Fraction(element.findtext("duration", "0")) / divisions
        if element.tag == "backup":
            cursor -= duration
        elif element.tag == "forward":
            if element.find("voice") is not None:
                _reach(lengths, element.findtext("voice"), cursor + duration)
            cursor += duration
        elif element.tag == "note" and element.find("grace") is None:
            if element.find("chord") is None:
                onset = cursor
                cursor += duration
            _reach(lengths, element.findtext("voice", "1"), onset + duration)
    return lengths


def _reach(lengths: dict[str, Fraction], voice: str, end: Fraction) -> None:
    lengths[voice] = max(lengths.get(voice, end), end)
