"""The options a visitor or an API client sends, checked by the app with its own messages.

Gradio passes API values through as the client wrote them (with a Number of precision None, as the
app's are, even "abc" or NaN), so nothing is taken on trust: a beam width is a whole number in range,
never rounded, and a flag is a boolean or a word that plainly means one ("false" is False, not a
non-empty string read as True).
"""
import math

from acai_hf.app.user_errors import UserError

MAX_BEAMS = 8
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


__all__ = ["MAX_BEAMS", "beam_width", "flag", "check_options"]
