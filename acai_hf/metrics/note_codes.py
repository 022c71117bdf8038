"""TEDn's flattening of a <note> into a short code: pitch letter, voice, type digit, stem.

The codes are compared with Levenshtein distance, so every character must be what the
reference produces, including the order in which pitch letters are handed out.
"""
import string
import xml.etree.ElementTree as ET

# Letters in the order the reference hands them out ('R' is kept for rests).
PITCH_LETTERS = (
    string.digits
    + string.ascii_lowercase
    + string.ascii_uppercase.replace("R", "")
    + ".,!?:;/\\|-_=+><[]{}()*&^%$#@~`"
    + "áčďéěíňóřšťúůýžäëïöüÿ"
    + "ÁČĎÉĚÍŇÓŘŠŤÚŮÝŽÄËÏÖÜŸ"
    + "бгґдєйжилпфцчшщьюя"
    + "БГҐДЄЙЖИЛПФЦЧШЩЬЮЯ"
)
REST_LETTER = "R"
MISSING_PITCH_LETTER = "~"

TYPE_DIGITS = {
    "1024th": "0", "512th": "0", "256th": "0", "128th": "0", "64th": "1",
    "32nd": "2", "16th": "3", "eighth": "4", "quarter": "5", "half": "6", "whole": "7",
    "breve": "8", "long": "9", "maxima": "9",
}
STEM_LETTERS = {"up": "U", "down": "D", "none": "N", None: "-"}

# children of <note> that the code replaces
CODED_CHILDREN = frozenset({"pitch", "voice", "type", "stem"})


class NoteCoder:
    """Codes notes; one instance per TEDn call, fed gold notes before predicted ones."""

    def __init__(self):
        self._pitch_letters: dict[tuple, str] = {}

    def copy(self) -> "NoteCoder":
        twin = NoteCoder()
        twin._pitch_letters = dict(self._pitch_letters)
        return twin

    def code_all(self, root: ET.Element) -> dict[ET.Element, str]:
        """Codes every note under `root` in document order, which fixes the pitch letters."""
        return {note: self.code(note) for note in root.iter("note")}

    def code(self, note: ET.Element) -> str:
        pitch = note.find("pitch")
        if note.find("rest") is not None:
            pitch_letter = REST_LETTER
        elif pitch is not None:
            pitch_letter = self._pitch_letter(pitch)
        else:
            pitch_letter = MISSING_PITCH_LETTER
        voice = note.find("voice")
        note_type = note.find("type")
        stem = note.find("stem")
        # a voice element without text yields "None", as in the reference
        voice_text = "1" if voice is None else str(voice.text)
        type_digit = TYPE_DIGITS["whole" if note_type is None else note_type.text]
        stem_letter = STEM_LETTERS[None if stem is None else stem.text]
        return pitch_letter + voice_text + type_digit + stem_letter

    def _pitch_letter(self, pitch: ET.Element) -> str:
        # missing parts default like this, so <alter>0</alter> and no <alter> are one pitch
        parts = {"step": "C", "alter": "0", "octave": "0"}
        for child in pitch:
            parts[child.tag] = child.text
        key = tuple(parts.values())
        letter = self._pitch_letters.get(key)
        if letter is None:
            if len(self._pitch_letters) == len(PITCH_LETTERS):
                raise ValueError(f"more than {len(PITCH_LETTERS)} distinct pitches to code")
            letter = PITCH_LETTERS[len(self._pitch_letters)]
            self._pitch_letters[key] = letter
        return letter
