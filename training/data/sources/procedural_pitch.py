"""Spelled pitches for the procedural generator.

Pitch classes live on the line of fifths (C=0, G=1, F=-1, ...), so every interval computed there is
spelled correctly for free: the leading tone of D# minor comes out as C double-sharp, not D.
"""
from dataclasses import dataclass, field
from functools import lru_cache

STEPS_ON_FIFTHS = "FCGDAEB"
STEP_ORDER = "CDEFGAB"
NATURAL_SEMITONE = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}

PIANO_LOWEST = 21  # A0
PIANO_HIGHEST = 108  # C8

CHROMATIC_SEMITONE_UP = 7  # on the line of fifths: C -> C#
ACCIDENTAL_OF_ALTER = {-2: "flat-flat", -1: "flat", 0: "natural", 1: "sharp", 2: "double-sharp"}  # MusicXML names


@dataclass(frozen=True, slots=True)
class Pitch:
    step: str
    alter: int
    octave: int
    midi: int = field(init=False, compare=False, repr=False)  # sounding height
    diatonic: int = field(init=False, compare=False, repr=False)  # staff position: one per line or space

    def __post_init__(self):
        object.__setattr__(self, "midi", 12 * (self.octave + 1) + NATURAL_SEMITONE[self.step] + self.alter)
        object.__setattr__(self, "diatonic", 7 * self.octave + STEP_ORDER.index(self.step))

    @property
    def fifths(self) -> int:
        return STEPS_ON_FIFTHS.index(self.step) - 1 + 7 * self.alter

    def transposed_octaves(self, octaves: int) -> "Pitch":
        return Pitch(self.step, self.alter, self.octave + octaves)


def spell(fifths: int) -> tuple[str, int]:
    """(step, alter) of a line-of-fifths position."""
    return STEPS_ON_FIFTHS[(fifths + 1) % 7], (fifths + 1) // 7


@lru_cache(maxsize=8192)
def pitches_in_range(fifths_classes: tuple[int, ...], low_midi: int, high_midi: int) -> tuple[Pitch, ...]:
    """Every pitch of the given spelled classes within [low_midi, high_midi], low to high (cached)."""
    found = []
    for fifths in set(fifths_classes):
        step, alter = spell(fifths)
        base = NATURAL_SEMITONE[step] + alter
        for octave in range((low_midi - base) // 12 - 1, (high_midi - base) // 12 + 1):
            pitch = Pitch(step, alter, octave)
            if low_midi <= pitch.midi <= high_midi:
                found.append(pitch)
    return tuple(sorted(found, key=lambda p: (p.midi, p.diatonic)))


def key_signature_alters(key_fifths: int) -> dict[str, int]:
    """The alter a key signature gives each step: its scale is the 7 fifths from key_fifths - 1."""
    return dict(spell(f) for f in range(key_fifths - 1, key_fifths + 6))
