"""What a visitor or an API client sends besides pages and boxes, checked by the app with its own
messages: decoding options, LMX text, the metre and first measure number.

Gradio passes API values through as the client wrote them (with a Number of precision None, as the
app's are, even "abc" or NaN), so nothing is taken on trust: a beam width is a whole number in range,
never rounded, and a flag is a boolean or a word that plainly means one ("false" is False, not a
non-empty string read as True).
"""
import math

from acai_hf.app.user_errors import UserError
from acai_hf.app.workspace import MAX_SYSTEMS
from acai_hf.music.score_settings import ScoreSettings, parse_first_measure, parse_time_signature

MAX_BEAMS = 8
MAX_LMX_CHARS = 200_000  # a page of LMX is ~10k characters; anything far bigger is not a score
_TRUE_WORDS = {"true", "yes", "on", "1"}
_FALSE_WORDS = {"false", "no", "off", "0"}


def beam_width(value, what: str = "Beam width") -> int:
    """A whole number from 1 to MAX_BEAMS (4, 4.0 and "4" pass; 8.5, "abc", NaN and True do not)."""
    expected = f"{what} must be a whole number from 1 to {MAX_BEAMS}"
    number = value
    if isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            raise UserError(f"{expected}, not {value[:40]!r}.") from None
    if isinstance(number, bool) or not isinstance(number, (int, float)):
        raise UserError(f"{expected}, not {str(value)[:40]!r}.")
    if not math.isfinite(number) or number != int(number):
        raise UserError(f"{expected}, not {number}.")
    if not 1 <= number <= MAX_BEAMS:
        raise UserError(f"{what} must be from 1 to {MAX_BEAMS}, not {int(number)}.")
    return int(number)


def flag(value, what: str) -> bool:
    """True or False; also 1/0 and the words true/false, yes/no, on/off (any case)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        word = value.strip().lower()
        if word in _TRUE_WORDS:
            return True
        if word in _FALSE_WORDS:
            return False
    raise UserError(f"{what} must be true or false, not {str(value)[:40]!r}.")


def check_options(beams, constrained) -> tuple[int, bool]:
    """(beam width, grammar-constrained decoding) as sent by the page or an API client."""
    return beam_width(beams), flag(constrained, "Grammar-constrained decoding")


def split_systems(lmx_text: str) -> list[str]:
    """Systems are paragraphs: separated by one or more blank lines."""
    paragraphs = [" ".join(p.split()) for p in lmx_text.replace("\r\n", "\n").split("\n\n")]
    return [p for p in paragraphs if p]


def check_lmx_text(lmx_text) -> list[str]:
    if lmx_text is None or not str(lmx_text).strip():
        raise UserError("Paste the LMX of at least one system.")
    lmx_text = str(lmx_text)
    if len(lmx_text) > MAX_LMX_CHARS:
        raise UserError(f"That is {len(lmx_text):,} characters; the limit is {MAX_LMX_CHARS:,}.")
    systems = split_systems(lmx_text)
    if len(systems) > MAX_SYSTEMS:
        raise UserError(f"That is {len(systems):,} systems (paragraphs); at most {MAX_SYSTEMS} are joined at a time.")
    return systems


def score_settings(time_signature=None, first_measure=None) -> ScoreSettings:
    """The metre and first measure number as the visitor typed them, checked."""
    try:
        return ScoreSettings(parse_time_signature(time_signature), parse_first_measure(first_measure))
    except ValueError as error:
        raise UserError(str(error)) from None


__all__ = ["MAX_BEAMS", "MAX_LMX_CHARS", "beam_width", "flag", "check_options", "split_systems", "check_lmx_text",
           "score_settings"]
