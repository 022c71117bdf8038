"""What a musician knows about a score that its page may not print: the metre, and where the
numbering starts (page 2 of a piece prints no time signature and starts at measure 23, say).

apply_settings writes them into the joined MusicXML, so the measure check, the MIDI, the preview
and the downloads all see them. A time signature the score prints at its start wins over the one
given; later changes in the score stay as printed.
"""
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass

from lmx.symbolic.get_head_attributes import get_head_attributes
from lmx.symbolic.sort_attributes import sort_attributes

MAX_FIRST_MEASURE = 99_999
_TIME = re.compile(r"\s*(\d{1,2}(?:\+\d{1,2})*)\s*/\s*(\d{1,2})\s*")
_BEAT_TYPES = (1, 2, 4, 8, 16, 32, 64)


@dataclass(frozen=True)
class ScoreSettings:
    time_signature: tuple[str, str] | None = None  # (beats, beat-type) as MusicXML writes them: ("3+2", "8")
    first_measure: int = 1

    @property
    def is_default(self) -> bool:
        return self.time_signature is None and self.first_measure == 1


def parse_time_signature(text) -> tuple[str, str] | None:
    """'3/4', '6/8', '3+2/8' -> (beats, beat-type); '' or None -> None. ValueError with a message otherwise."""
    if text is None or not str(text).strip():
        return None
    match = _TIME.fullmatch(str(text)[:40])
    if not match or int(match.group(2)) not in _BEAT_TYPES or any(int(b) == 0 for b in match.group(1).split("+")):
        raise ValueError(f"A time signature looks like 3/4, 6/8 or 3+2/8 (a beat type of 1 to 64), "
                         f"not {str(text)[:40]!r}.")
    return match.group(1), match.group(2)


def parse_first_measure(value) -> int:
    """A whole number from 0 (a pickup) to MAX_FIRST_MEASURE; None or '' -> 1."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return 1
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"The first measure number must be a whole number, not {str(value)[:40]!r}.") from None
    if isinstance(value, bool) or number != number or number != int(number) or not 0 <= number <= MAX_FIRST_MEASURE:
        raise ValueError(f"The first measure number must be a whole number from 0 to {MAX_FIRST_MEASURE:,}, "
                         f"not {str(value)[:40]}.")
    return int(number)


def apply_settings(musicxml: str, settings: ScoreSettings | None) -> str:
    """The score with the settings written in (unchanged text when there is nothing to write)."""
    if settings is None or settings.is_default:
        return musicxml
    root = ET.fromstring(musicxml)
    measures = root.find("part").findall("measure")
    if not measures:
        return musicxml
    if settings.time_signature is not None:
        _give_time_signature(measures[0], *settings.time_signature)
    for index, measure in enumerate(measures):
        measure.set("number", str(settings.first_measure + index))
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True)


def _give_time_signature(measure: ET.Element, beats: str, beat_type: str) -> None:
    """A <time> in the measure's head <attributes>, unless the measure prints one already."""
    if measure.find("attributes/time") is not None:
        return
    head = get_head_attributes(measure, create_if_missing=True)
    time = ET.SubElement(head, "time")
    ET.SubElement(time, "beats").text = beats
    ET.SubElement(time, "beat-type").text = beat_type
    sort_attributes(head)


__all__ = ["ScoreSettings", "parse_time_signature", "parse_first_measure", "apply_settings"]
