"""Corpus excerpts moved to another key: the same real textures on new pitches and key signatures.

The model reads the training pieces far better than new ones (training/README.md, Data): it learns the
pieces. A transposed excerpt keeps a piece's rhythm, voicing and layout but changes every pitch, so the
pitches have to be read. Spelling is exact: each pitch moves along the line of fifths by the interval's
fifths and the key signatures move with it, so the accidentals an engraver printed stay the ones needed,
only renamed (a natural may become a sharp or a flat, and so on).
"""
import copy

from lxml import etree as ET

from training.data.sources.procedural_pitch import (
    ACCIDENTAL_OF_ALTER, NATURAL_SEMITONE, PIANO_HIGHEST, PIANO_LOWEST, STEP_ORDER, Pitch, spell,
)  # fmt: skip

SEMITONES = (-5, -4, -3, -2, -1, 1, 2, 3, 4, 5)  # up to a fourth either way: ranges stay playable
MAX_KEY_FIFTHS = 7


def fifths_shift(semitones: int, keys: list[int]) -> int | None:
    """The key change (in fifths) that spells a shift of `semitones` with the fewest sharps or flats over
    all the excerpt's key signatures; None if every spelling needs more than seven."""
    base = (7 * semitones) % 12  # a fifth is 7 semitones: 12 fifths return to the same pitch class
    best = min((base, base - 12), key=lambda shift: max(abs(key + shift) for key in keys))
    return best if max(abs(key + best) for key in keys) <= MAX_KEY_FIFTHS else None


def moved(step: str, alter: int, octave: int, semitones: int, shift: int) -> Pitch:
    """A pitch moved `semitones` up, spelled `shift` fifths along the line of fifths."""
    source = Pitch(step, alter, octave)
    new_step, new_alter = spell(source.fifths + shift)
    octave_base = source.midi + semitones - NATURAL_SEMITONE[new_step] - new_alter
    return Pitch(new_step, new_alter, octave_base // 12 - 1)


def transposed(part: ET._Element, semitones: int) -> ET._Element | None:
    """A copy of a grand-staff part moved `semitones` (key signatures, pitches, printed accidentals and
    rest positions), or None where the part cannot be spelled in standard notation that way (no key
    signature, an unusual key or accidental, more than a double sharp or flat, a pitch off the piano)."""
    keys = [key.findtext("fifths") for key in part.iter("key")]
    if not keys or None in keys:
        return None  # a part without a key signature, or with a non-traditional one
    shift = fifths_shift(semitones, [int(key) for key in keys])
    if shift is None:
        return None
    part = copy.deepcopy(part)
    for key in part.iter("key"):
        key.find("fifths").text = str(int(key.findtext("fifths")) + shift)
    for note in part.iter("note"):
        if not _move_note(note, semitones, shift):
            return None
    return part


def _move_note(note: ET._Element, semitones: int, shift: int) -> bool:
    pitch = note.find("pitch")
    if pitch is None:
        rest = note.find("rest")
        if rest is not None and rest.find("display-step") is not None:
            _move_rest(rest, semitones, shift)
        return True
    alter_text = pitch.findtext("alter", "0")
    if float(alter_text) != int(float(alter_text)):
        return False  # microtones
    new = moved(pitch.findtext("step"), int(float(alter_text)), int(pitch.findtext("octave")), semitones, shift)
    if abs(new.alter) > 2 or not PIANO_LOWEST <= new.midi <= PIANO_HIGHEST:
        return False
    pitch.find("step").text = new.step
    pitch.find("octave").text = str(new.octave)
    alter = pitch.find("alter")
    if new.alter == 0 and alter is not None:
        pitch.remove(alter)
    elif new.alter != 0:
        if alter is None:
            alter = ET.Element("alter")
            pitch.insert(1, alter)  # MusicXML order: step, alter, octave
        alter.text = str(new.alter)
    accidental = note.find("accidental")
    if accidental is not None:
        if accidental.text not in ACCIDENTAL_OF_ALTER.values():
            return False  # quarter tones, slashes and the like have no transposed name
        accidental.text = ACCIDENTAL_OF_ALTER[new.alter]
    return True


def _move_rest(rest: ET._Element, semitones: int, shift: int):
    """A positioned rest moves by the staff steps its voice moved (middle C's step tells how many)."""
    steps = moved("C", 0, 4, semitones, shift).diatonic - Pitch("C", 0, 4).diatonic
    height = 7 * int(rest.findtext("display-octave", "4")) + STEP_ORDER.index(rest.findtext("display-step"))
    octave, step = divmod(height + steps, 7)
    rest.find("display-step").text = STEP_ORDER[step]
    if rest.find("display-octave") is not None:
        rest.find("display-octave").text = str(octave)
