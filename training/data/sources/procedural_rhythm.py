"""Random rhythms that fill a measure exactly, built beat by beat from idiomatic cells.

A cell divides a beat (or a few beats) into slots; tuplet cells carry their ratio so each slot's written
type follows from its length. Density (0..1) moves the choice towards shorter values and tuplets.
"""
import random
from dataclasses import dataclass
from fractions import Fraction as F

from training.data.sources.procedural_meter import NOTE_TYPE_TICKS, Beat, Meter, note_value


@dataclass
class Slot:
    start: int  # ticks from the measure start
    length: int
    tuplet: tuple[int, int] | None = None  # (actual, normal)
    tuplet_edge: str = ""  # "start" or "stop" on a tuplet's first and last slot


# cells as fractions of a simple (two-part) beat: (fractions, tuplet, weight at density 0, at density 1)
SIMPLE_CELLS = [
    ((F(3, 4), F(1, 4)), None, 0.2, 1.0),
    ((F(1, 4), F(3, 4)), None, 0.0, 0.3),
    ((F(7, 8), F(1, 8)), None, 0.0, 0.2),
    ((F(1, 3),) * 3, (3, 2), 0.1, 1.0),
    ((F(2, 3), F(1, 3)), (3, 2), 0.0, 0.3),
    ((F(1, 6),) * 6, (6, 4), 0.0, 0.3),
    ((F(1, 5),) * 5, (5, 4), 0.0, 0.3),
    ((F(1, 7),) * 7, (7, 4), 0.0, 0.12),
    ((F(1, 7),) * 7, (7, 8), 0.0, 0.08),
    ((F(1, 9),) * 9, (9, 8), 0.0, 0.06),
    ((F(1, 10),) * 10, (10, 8), 0.0, 0.05),
    ((F(1, 11),) * 11, (11, 8), 0.0, 0.04),
    ((F(1, 12),) * 12, (12, 8), 0.0, 0.05),
    ((F(1, 13),) * 13, (13, 8), 0.0, 0.03),
    ((F(1, 15),) * 15, (15, 8), 0.0, 0.03),
]
# cells as fractions of a compound (three-part) beat
COMPOUND_CELLS = [
    ((F(2, 3), F(1, 3)), None, 1.0, 1.0),
    ((F(1, 3), F(2, 3)), None, 0.2, 0.3),
    ((F(1, 2), F(1, 6), F(1, 3)), None, 0.1, 0.6),
    ((F(1, 2), F(1, 2)), (2, 3), 0.0, 0.25),
    ((F(1, 4),) * 4, (4, 3), 0.0, 0.2),
    ((F(1, 4),) * 4, (4, 6), 0.0, 0.08),
    ((F(1, 5),) * 5, (5, 3), 0.0, 0.06),
]
# cells spanning two simple beats
TWO_BEAT_CELLS = [
    ((F(3, 4), F(1, 4)), None, 1.0, 0.8),
    ((F(1, 4), F(1, 2), F(1, 4)), None, 0.2, 0.5),
    ((F(1, 3),) * 3, (3, 2), 0.05, 0.4),
]


def _weighted(cells, density: float):
    return [low + (high - low) * density for _, _, low, high in cells]


def _slots_from_cell(start: int, length: int, fractions, tuplet) -> list[Slot] | None:
    slots, position = [], start
    for fraction in fractions:
        ticks = fraction * length
        if ticks.denominator != 1:
            return None
        slots.append(Slot(position, int(ticks), tuplet))
        position += int(ticks)
    if any(_written_value(slot) is None for slot in slots):
        return None
    if tuplet is not None:
        slots[0].tuplet_edge, slots[-1].tuplet_edge = "start", "stop"
    return slots


def _written_value(slot: Slot):
    ticks = slot.length if slot.tuplet is None else F(slot.length * slot.tuplet[0], slot.tuplet[1])
    if ticks < NOTE_TYPE_TICKS["128th"] or F(ticks).denominator != 1:
        return None
    return note_value(int(ticks))


def fill_beat(beat: Beat, density: float, shortest: int, rng: random.Random, depth: int = 0) -> list[Slot]:
    """Slots that exactly fill one beat."""
    keep_whole = 1.5 - density + depth * 0.6
    if beat.compound:
        split_weight = 0.6 + density
        cells = COMPOUND_CELLS
    else:
        split_weight = 0.3 + 1.2 * density if beat.length // 2 >= shortest else 0.0
        cells = SIMPLE_CELLS
    choice = rng.choices(range(len(cells) + 2), weights=[keep_whole, split_weight, *_weighted(cells, density)])[0]
    if choice == 0:
        return [Slot(beat.start, beat.length)]
    if choice == 1:
        parts = 3 if beat.compound else 2
        part = beat.length // parts
        result = []
        for index in range(parts):
            sub_beat = Beat(beat.start + index * part, part, False)
            result += fill_beat(sub_beat, density, shortest, rng, depth + 1) if part >= shortest else [Slot(sub_beat.start, part)]
        return result
    fractions, tuplet, _, _ = cells[choice - 2]
    slots = _slots_from_cell(beat.start, beat.length, fractions, tuplet)
    if slots is None or min(slot.length for slot in slots) < shortest // 2:
        return [Slot(beat.start, beat.length)]
    return slots


def measure_rhythm(meter: Meter, density: float, shortest: int, rng: random.Random, length: int | None = None) -> list[Slot]:
    """Slots that exactly fill a measure (or its last `length` ticks, for a pickup)."""
    beats = meter.beat_list
    if length is not None:
        beats = _tail_beats(beats, meter.measure_ticks - length)
    slots, index = [], 0
    while index < len(beats):
        beat = beats[index]
        span = _long_note_span(beats, index, density, rng)
        if span > 1:
            total = sum(b.length for b in beats[index:index + span])
            slots.append(Slot(beat.start, total))
            index += span
            continue
        pair = beats[index:index + 2]
        if len(pair) == 2 and not beat.compound and not pair[1].compound and rng.random() < 0.25:
            fractions, tuplet, _, _ = rng.choices(TWO_BEAT_CELLS, weights=_weighted(TWO_BEAT_CELLS, density))[0]
            cell = _slots_from_cell(beat.start, 2 * beat.length, fractions, tuplet)
            if cell is not None and pair[1].length == beat.length:
                slots += cell
                index += 2
                continue
        slots += fill_beat(beat, density, shortest, rng)
        index += 1
    if length is not None:  # a pickup's slots count from its own start
        for slot in slots:
            slot.start -= meter.measure_ticks - length
    return slots


def _long_note_span(beats: list[Beat], index: int, density: float, rng: random.Random) -> int:
    """How many beats (1 = just this one) a single long note starting here should cover."""
    if rng.random() > 0.45 * (1.0 - density) + 0.05:
        return 1
    options = [span for span in range(2, len(beats) - index + 1)
               if note_value(sum(b.length for b in beats[index:index + span])) is not None]
    return rng.choice(options) if options else 1


def _tail_beats(beats: list[Beat], skip: int) -> list[Beat]:
    """The beats after `skip` ticks; a beat cut in two keeps only its tail, as a simple beat."""
    result = []
    for beat in beats:
        end = beat.start + beat.length
        if end <= skip:
            continue
        start = max(beat.start, skip)
        result.append(Beat(start, end - start, beat.compound and start == beat.start))
    return result


def rest_slots(meter: Meter, start: int, end: int) -> list[Slot]:
    """Notatable rests for the gap [start, end): whole beats where aligned, smaller values inside a beat."""
    slots, position = [], start
    beat_starts = [beat.start for beat in meter.beat_list] + [meter.measure_ticks]
    while position < end:
        value = _largest_rest(position, end, beat_starts)
        slots.append(Slot(position, value))
        position += value
    return slots


def _largest_rest(position: int, end: int, beat_starts: list[int]) -> int:
    if position in beat_starts:  # whole beats merge into one rest when it starts on its own multiple
        index = beat_starts.index(position)
        for stop in reversed(beat_starts[index + 1:]):
            span = stop - position
            if stop <= end and note_value(span) is not None and position % span == 0:
                return span
    beat_start = max(tick for tick in beat_starts if tick <= position)
    limit = min(end, min(tick for tick in beat_starts if tick > position))
    for value in sorted(NOTE_TYPE_TICKS.values(), reverse=True):
        if value <= limit - position and (position - beat_start) % value == 0:
            return value
    raise ValueError(f"no rest fits {limit - position} ticks")
