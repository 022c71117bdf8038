"""The two <part> trees TEDn compares, prepared the way the OLiMPiC reference prepares them."""
import xml.etree.ElementTree as ET

from lmx.linearization.Delinearizer import Delinearizer, Token
from lmx.linearization.vocabulary import ALL_TOKENS
from lmx.symbolic.Pruner import Pruner
from lmx.symbolic.actual_durations_to_fractional import actual_durations_to_fractional

FLAVORS = ("lmx", "full")

# The reference's "lmx" flavour: drop what LMX cannot encode (directions, barlines, harmony,
# prints); durations stay, since <backup> and <forward> need them.
_LMX_PRUNER = Pruner(
    prune_durations=False,
    prune_measure_attributes=False,
    prune_prints=True,
    prune_slur_numbering=True,
    prune_directions=True,
    prune_barlines=True,
    prune_harmony=True,
)


def gold_part(gold_musicxml: str, flavor: str) -> ET.Element:
    """The single <part> of a score-partwise string, whitespace-stripped, in fractional durations."""
    score = _parse_stripped(gold_musicxml)
    if score.tag != "score-partwise":
        raise ValueError(f"gold must be score-partwise, not <{score.tag}>")
    parts = score.findall("part")
    if len(parts) != 1:
        raise ValueError(f"gold must have exactly one <part>, found {len(parts)}")
    part = parts[0]
    actual_durations_to_fractional(part)
    _prune(part, flavor)
    return part


def _parse_stripped(musicxml: str) -> ET.Element:
    """Elements and texts as in ET.fromstring(ET.canonicalize(musicxml, strip_text=True)), the
    reference's gold parsing, but several times faster: parse once, then strip the texts.

    Tails are left alone: nothing downstream reads them.
    """
    if "xml:space" in musicxml:
        # canonicalization does not strip inside xml:space="preserve"; let it handle those
        return ET.fromstring(ET.canonicalize(musicxml, strip_text=True))
    root = ET.fromstring(musicxml)
    for element in root.iter():
        # canonical XML drops whitespace-only text, which then parses as None
        element.text = element.text and element.text.strip() or None
    return root


class _FastLexDelinearizer(Delinearizer):
    """lmx's Delinearizer with the vocabulary looked up in a set instead of a list: the same
    tokens survive lexing (unknown ones are dropped), a millisecond sooner per system."""

    _VOCABULARY = frozenset(ALL_TOKENS)

    def lex(self, text: str) -> list[Token]:
        terminals = text.split()
        return [Token(t, i) for i, t in enumerate(terminals, start=1) if t in self._VOCABULARY]


def predicted_part(predicted_lmx: str, flavor: str) -> tuple[ET.Element, bool]:
    """The delinearized prediction and whether the delinearizer crashed.

    Like the reference, a crash (tokens before the first `measure`, or none at all)
    scores as an empty <part>.
    """
    try:
        delinearizer = _FastLexDelinearizer(keep_fractional_durations=True)
        delinearizer.process_text(predicted_lmx)
        part, crashed = delinearizer.part_element, False
    except Exception:
        part, crashed = ET.Element("part"), True
    _prune(part, flavor)
    return part, crashed


def _prune(part: ET.Element, flavor: str) -> None:
    if flavor == "lmx":
        _LMX_PRUNER.process_part(part)
