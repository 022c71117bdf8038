"""Time signatures, their beat structure, and the integer time grid the generator counts in."""
import random
from dataclasses import dataclass
from functools import cached_property

# Ticks per quarter note: divisible by every tuplet and dot the generator writes (down to 128ths,
# tuplets of 3, 5, 7, 9, 11, 13). Written <divisions> are reduced by the gcd of what occurs.
TICKS_PER_QUARTER = 128 * 9 * 5 * 7 * 11 * 13

NOTE_TYPE_TICKS = {
    "breve": 8 * TICKS_PER_QUARTER,
    "whole": 4 * TICKS_PER_QUARTER,
    "half": 2 * TICKS_PER_QUARTER,
    "quarter": TICKS_PER_QUARTER,
    "eighth": TICKS_PER_QUARTER // 2,
    "16th": TICKS_PER_QUARTER // 4,
    "32nd": TICKS_PER_QUARTER // 8,
    "64th": TICKS_PER_QUARTER // 16,
    "128th": TICKS_PER_QUARTER // 32,
}
BEAM_LEVELS = {"eighth": 1, "16th": 2, "32nd": 3, "64th": 4, "128th": 5}


@dataclass(frozen=True)
class Beat:
    start: int  # ticks from the measure start
    length: int
    compound: bool  # divides in three (a dotted beat) rather than two


@dataclass(frozen=True)
class Meter:
    beats: int
    beat_type: int
    groups: tuple[int, ...]  # beat groups, counted in beat-type units
    symbol: str = ""  # "common" or "cut" for the C / cut-C signs

    @property
    def unit(self) -> int:
        return 4 * TICKS_PER_QUARTER // self.beat_type

    @property
    def measure_ticks(self) -> int:
        return self.beats * self.unit

    @cached_property
    def beat_list(self) -> list[Beat]:
        result, start = [], 0
        for group in self.groups:
            result.append(Beat(start, group * self.unit, group == 3))
            start += group * self.unit
        return result


# (beats, beat type, beat groups, weight): the listed common ones, then rarer ones
TIME_SIGNATURES = [
    (4, 4, (1, 1, 1, 1), 10), (3, 4, (1, 1, 1), 9), (2, 4, (1, 1), 6), (2, 2, (1, 1), 4),
    (6, 8, (3, 3), 7), (3, 8, (3,), 4), (9, 8, (3, 3, 3), 3), (12, 8, (3, 3, 3, 3), 3),
    (5, 4, (1, 1, 1, 1, 1), 2), (6, 4, (3, 3), 1), (3, 2, (1, 1, 1), 1), (7, 8, (2, 2, 3), 1),
    (7, 8, (3, 2, 2), 0.5), (5, 8, (3, 2), 0.7), (4, 2, (1, 1, 1, 1), 0.6), (6, 16, (3, 3), 0.3),
    (9, 16, (3, 3, 3), 0.2), (12, 16, (3, 3, 3, 3), 0.2), (8, 8, (3, 3, 2), 0.3), (10, 8, (3, 3, 2, 2), 0.2),
    (11, 8, (3, 3, 3, 2), 0.2), (2, 8, (2,), 0.1), (1, 4, (1,), 0.3), (4, 8, (2, 2), 0.2),
]


def random_meter(rng: random.Random) -> Meter:
    beats, beat_type, groups, _ = rng.choices(TIME_SIGNATURES, weights=[entry[3] for entry in TIME_SIGNATURES])[0]
    symbol = ""
    if (beats, beat_type) == (4, 4) and rng.random() < 0.3:
        symbol = "common"
    elif (beats, beat_type) == (2, 2) and rng.random() < 0.4:
        symbol = "cut"
    return Meter(beats, beat_type, groups, symbol)


# written duration in ticks -> (type, dots), for plain values with up to two dots
_VALUES = {base * factor // 4: (name, dots) for name, base in NOTE_TYPE_TICKS.items()
           for dots, factor in ((2, 7), (1, 6), (0, 4))}


def note_value(ticks: int) -> tuple[str, int] | None:
    """(type, dots) of a plain (non-tuplet) duration, or None when it needs a tie."""
    return _VALUES.get(ticks)
