"""MusicXML <-> LMX (Linearized MusicXML, the OLiMPiC token format), on the `lmx` package."""
import io
import logging
import xml.etree.ElementTree as ET

from lmx.linearization.Linearizer import Linearizer

from acai_hf.music.delinearization import DelinearizationError, PartBuilder
from acai_hf.music.musicxml_input import load_part
from acai_hf.music.voices import renumber_voices

__all__ = ["linearize", "delinearize", "measure_lines", "DelinearizationError"]

logger = logging.getLogger(__name__)


def linearize(musicxml) -> str:
    """LMX tokens, space separated, of a score with one grand-staff part.

    musicxml: a path (.musicxml/.xml/.mxl), MusicXML text or bytes, an ElementTree or Element, or a
    music21 score. Voices are renumbered to the OLiMPiC convention first. ValueError when the input
    is not one part of a score, or holds what LMX cannot say (e.g. a pitch outside C0-B9).
    """
    part = load_part(musicxml)
    renumber_voices(part)
    messages = io.StringIO()
    linearizer = Linearizer(errout=messages)
    try:
        linearizer.process_part(part)
    except Exception as exc:  # lmx checks its input with asserts and plain attribute access
        raise ValueError(f"Cannot linearize this part: {exc!r}") from exc
    if messages.getvalue():
        logger.debug("lmx Linearizer: %s", messages.getvalue())
    return " ".join(linearizer.output_tokens)


def delinearize(lmx: str) -> tuple[ET.Element, list[DelinearizationError]]:
    """A MusicXML <part> (actual durations, <divisions>, numbered measures) and the problems met.

    Never raises on a str: unknown tokens, tokens before the first `measure` and malformed notes are
    minor errors and skipped or repaired; without any measure the part is empty and the error
    catastrophic. TypeError when lmx is not a str.
    """
    if not isinstance(lmx, str):
        raise TypeError(f"LMX must be a str, not {type(lmx).__name__}")
    builder = PartBuilder()
    try:
        _, errors = builder.add_system(lmx)
        return builder.finish(), errors
    except Exception:  # a safety net: PartBuilder already contains failures measure by measure
        logger.exception("delinearize failed")
        return ET.Element("part"), [DelinearizationError("catastrophic", None, "Internal delinearization failure.")]


def measure_lines(lmx: str) -> str:
    """The same tokens with each measure on a line of its own: what a person reads and edits bar by bar.
    Whitespace means nothing in LMX, so the text still parses as it did."""
    lines, line = [], []
    for token in lmx.split():
        if token == "measure" and line:
            lines.append(" ".join(line))
            line = []
        line.append(token)
    if line:
        lines.append(" ".join(line))
    return "\n".join(lines)
