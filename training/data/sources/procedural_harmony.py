"""Keys, chords and phrase-level chord progressions for the procedural generator.

Progressions follow the tonic -> predominant -> dominant -> tonic phrase model, end in a cadence,
and (with difficulty) borrow chromatic chords: secondary dominants, mixture, the Neapolitan.
"""
import random
from dataclasses import dataclass

# chord qualities as line-of-fifths offsets from the root
MAJOR = (0, 4, 1)
MINOR = (0, -3, 1)
DIMINISHED = (0, -3, -6)
DOMINANT_SEVENTH = (0, 4, 1, -2)
MINOR_SEVENTH = (0, -3, 1, -2)
HALF_DIMINISHED = (0, -3, -6, -2)
DIMINISHED_SEVENTH = (0, -3, -6, -9)

# scale degree -> (root offset from the tonic on the line of fifths, quality)
MAJOR_DEGREES = {1: (0, MAJOR), 2: (2, MINOR), 3: (4, MINOR), 4: (-1, MAJOR), 5: (1, MAJOR), 6: (3, MINOR), 7: (5, DIMINISHED)}
MINOR_DEGREES = {1: (0, MINOR), 2: (2, DIMINISHED), 3: (-3, MAJOR), 4: (-1, MINOR), 5: (1, MAJOR), 6: (-4, MAJOR), 7: (5, DIMINISHED)}
SEVENTH_OF = {MAJOR: DOMINANT_SEVENTH, MINOR: MINOR_SEVENTH, DIMINISHED: HALF_DIMINISHED}

MAJOR_SCALE = (0, 2, 4, -1, 1, 3, 5)
MINOR_SCALE = (0, 2, -3, -1, 1, -4, 5)  # harmonic minor: the raised leading tone

# the phrase model as weighted moves between scale degrees
NEXT_DEGREE = {
    1: {4: 3, 5: 3, 6: 2, 2: 2, 3: 0.5},
    2: {5: 4, 7: 1},
    3: {6: 2, 4: 2},
    4: {5: 3, 1: 1, 2: 1, 7: 1},
    5: {1: 4, 6: 1},
    6: {2: 2, 4: 3, 5: 1},
    7: {1: 3},
}
CADENCES = {"authentic": (5, 1), "half": (1, 5), "deceptive": (5, 6), "plagal": (4, 1)}


@dataclass(frozen=True)
class Key:
    tonic: int  # line-of-fifths position of the tonic
    minor: bool

    @property
    def signature(self) -> int:
        return self.tonic - 3 if self.minor else self.tonic

    @property
    def scale(self) -> tuple[int, ...]:
        """Line-of-fifths classes of degrees 1..7."""
        return tuple(self.tonic + step for step in (MINOR_SCALE if self.minor else MAJOR_SCALE))


@dataclass(frozen=True)
class Chord:
    root: int
    quality: tuple[int, ...]
    inversion: int = 0

    @property
    def tones(self) -> tuple[int, ...]:
        return tuple(self.root + interval for interval in self.quality)

    @property
    def bass(self) -> int:
        return self.tones[self.inversion]


def key_from_signature(signature: int, minor: bool) -> Key:
    return Key(signature + 3 if minor else signature, minor)


def diatonic_chord(key: Key, degree: int, seventh: bool = False, inversion: int = 0) -> Chord:
    offset, quality = (MINOR_DEGREES if key.minor else MAJOR_DEGREES)[degree]
    if seventh:
        quality = DIMINISHED_SEVENTH if (key.minor and degree == 7) else SEVENTH_OF[quality]
    return Chord(key.tonic + offset, quality, inversion)


def _chromatic_approach(target: Chord, rng: random.Random) -> Chord:
    """A chord that leans into `target`: its secondary dominant or leading-tone seventh."""
    if rng.random() < 0.7:
        return Chord(target.root + 1, DOMINANT_SEVENTH, rng.choice((0, 0, 1)))
    return Chord(target.root + 5, DIMINISHED_SEVENTH)


def phrase_progression(key: Key, n_chords: int, cadence: str, chromaticism: float, rng: random.Random) -> list[Chord]:
    """n_chords chords that start on the tonic and end in the given cadence."""
    ending = CADENCES[cadence]
    degrees = [1]
    while len(degrees) < n_chords - len(ending):
        options = NEXT_DEGREE[degrees[-1]]
        degrees.append(rng.choices(list(options), weights=list(options.values()))[0])
    degrees = (degrees + list(ending))[-n_chords:] if n_chords > 1 else [ending[-1]]
    if cadence in ("authentic", "half") and n_chords >= 3 and degrees[-3] not in (2, 4):
        degrees[-3] = rng.choice((2, 4))  # a predominant before the cadential dominant

    chords = []
    for degree in degrees:
        seventh = degree in (5, 2, 7) and rng.random() < 0.4
        inversion = 1 if degree in (2, 7) and rng.random() < 0.5 else 0
        chords.append(diatonic_chord(key, degree, seventh, inversion))
    return _add_chromatic_chords(key, chords, degrees, chromaticism, rng)


def _add_chromatic_chords(key: Key, chords: list[Chord], degrees: list[int], chromaticism: float, rng) -> list[Chord]:
    """Swap some non-cadential chords for chromatic ones that lead into their successor."""
    result = list(chords)
    for index in range(1, len(chords) - 2):
        if rng.random() >= chromaticism:
            continue
        following = degrees[index + 1]
        if following in (2, 4, 5, 6):
            result[index] = _chromatic_approach(chords[index + 1], rng)
        elif degrees[index] == 4 and not key.minor:
            result[index] = Chord(key.tonic - 1, MINOR)  # borrowed iv
        elif degrees[index] == 6 and not key.minor:
            result[index] = Chord(key.tonic - 4, MAJOR)  # borrowed bVI
        elif degrees[index] in (2, 4):
            result[index] = Chord(key.tonic - 5, MAJOR, 1)  # Neapolitan sixth
    return result


def related_key(key: Key, rng: random.Random) -> Key:
    """A closely related key to modulate to."""
    if key.minor:
        choices = [Key(key.tonic - 3, False), Key(key.tonic + 1, True), Key(key.tonic - 1, True), Key(key.tonic, False)]
    else:
        choices = [Key(key.tonic + 1, False), Key(key.tonic + 3, True), Key(key.tonic - 1, False), Key(key.tonic, True)]
    return rng.choice([choice for choice in choices if abs(choice.signature) <= 7])
