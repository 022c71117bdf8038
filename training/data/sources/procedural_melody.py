"""A melodic line over the harmony: chord tones on beats, steps and chromatic inflections between,
held notes tied over barlines, grace notes, and (in the right hand) chords and octaves under the tune."""
import random
from dataclasses import dataclass

from training.data.sources.procedural_meter import NOTE_TYPE_TICKS, TICKS_PER_QUARTER, note_value
from training.data.sources.procedural_model import Bar, Note
from training.data.sources.procedural_pitch import (CHROMATIC_SEMITONE_UP, PIANO_HIGHEST, PIANO_LOWEST, Pitch,
                                                    pitches_in_range, spell)
from training.data.sources.procedural_rhythm import Slot, measure_rhythm

SHORTEST_VALUES = ("eighth", "16th", "32nd", "64th", "128th")
STEP_WEIGHT = {0: 0.3, 1: 3.0, 2: 1.6, 3: 0.9, 4: 0.6, 5: 0.2, 6: 0.1, 7: 0.2}


@dataclass
class LineState:
    last: Pitch | None = None
    hold: bool = False  # the previous measure's last note is tied into this one
    direction: int = 1


def melody_measure(bar: Bar, hand: str, state: LineState, rng: random.Random) -> list[Note]:
    difficulty = bar.difficulty
    shortest = _shortest_value(difficulty, rng)
    density = difficulty * rng.uniform(0.3, 1.0)
    pickup = bar.length < bar.meter.measure_ticks
    slots = measure_rhythm(bar.meter, density * (0.5 if bar.phrase_end else 1.0), shortest, rng,
                           bar.length if pickup else None)
    if bar.phrase_end:
        slots = _end_on_long_note(slots, bar)
    beat_starts = {beat.start - bar.pickup_shift for beat in bar.meter.beat_list}

    notes: list[Note] = []
    for index, slot in enumerate(slots):
        held = (index == 0 and state.hold) or (notes and notes[-1].tie_start)
        if held:
            previous = notes[-1].pitches if notes else [state.last]
            notes.append(_note(slot, list(previous), tie_stop=True))
        elif (index > 0 and (slot.tuplet is None or slot.tuplet[0] == 3) and rng.random() < 0.05 + 0.05 * difficulty
              and not (bar.phrase_end and index == len(slots) - 1)):
            notes.append(_note(slot, []))
            continue
        else:
            pitch = _next_pitch(bar, hand, slot, slot.start in beat_starts, state, rng)
            notes.append(_note(slot, _harmonize(bar, slot, pitch, rng)))
            state.last = pitch
        if index + 1 < len(slots) and slot.tuplet is None and slots[index + 1].tuplet is None and rng.random() < 0.04:
            notes[-1].tie_start = True  # a syncopation held into the next slot

    state.hold = _holds_over(bar, notes, rng)
    if state.hold:
        notes[-1].tie_start = True
    return _with_grace_notes(bar, notes, rng)


def _shortest_value(difficulty: float, rng: random.Random) -> int:
    level = min(len(SHORTEST_VALUES) - 1, int(difficulty * 3 + rng.random() * 1.6))
    return NOTE_TYPE_TICKS[SHORTEST_VALUES[level]]


def _note(slot: Slot, pitches: list[Pitch], tie_stop: bool = False) -> Note:
    return Note(slot.start, slot.length, pitches, slot.tuplet, slot.tuplet_edge, tie_stop=tie_stop)


def _end_on_long_note(slots: list[Slot], bar: Bar) -> list[Slot]:
    """Replace the slots after the latest possible beat with one long cadential note."""
    end = bar.length
    for beat in bar.meter.beat_list:
        start = beat.start - bar.pickup_shift
        if 0 < start < end and note_value(end - start) is not None and any(s.start == start for s in slots):
            kept = [s for s in slots if s.start < start]
            if kept and kept[-1].tuplet is None:
                return kept + [Slot(start, end - start)]
    return slots


def _next_pitch(bar: Bar, hand: str, slot: Slot, strong: bool, state: LineState, rng: random.Random) -> Pitch:
    center = bar.center(hand, slot.start)
    span = 7 + int(10 * bar.difficulty)
    chord = bar.chord_at(slot.start)
    classes = chord.tones if strong else tuple(sorted(set(bar.key.scale) | set(chord.tones)))
    candidates = pitches_in_range(classes, max(PIANO_LOWEST, center - span), min(PIANO_HIGHEST, center + span))
    last = state.last
    if last is None or not candidates:
        return rng.choice(candidates) if candidates else Pitch("C", 0, 4 if hand == "upper" else 3)
    if last.midi > center + span - 2 or last.midi < center - span + 2:
        state.direction = 1 if last.midi < center else -1
    elif rng.random() < 0.2:
        state.direction = -state.direction

    run = slot.length <= NOTE_TYPE_TICKS["16th"] and not strong
    weights = []
    for candidate in candidates:
        step = candidate.diatonic - last.diatonic
        if run:
            weight = 1.0 if step == state.direction else 0.0
        else:
            weight = STEP_WEIGHT.get(abs(step), 0.05) * (1.6 if step * state.direction > 0 else 1.0)
        weights.append(weight)
    if not any(weights):
        weights = [1.0] * len(candidates)
    pitch = rng.choices(candidates, weights=weights)[0]
    if not strong and rng.random() < 0.03 + 0.2 * bar.difficulty:
        pitch = _inflect(pitch, state.direction)
    return pitch


def _inflect(pitch: Pitch, direction: int) -> Pitch:
    """A chromatic passing or neighbour tone: the same letter, raised when rising, lowered when falling."""
    step, alter = spell(pitch.fifths + direction * CHROMATIC_SEMITONE_UP)
    inflected = Pitch(step, alter, pitch.octave)
    return inflected if abs(alter) <= 2 and PIANO_LOWEST <= inflected.midi <= PIANO_HIGHEST else pitch


def _harmonize(bar: Bar, slot: Slot, melody: Pitch, rng: random.Random) -> list[Pitch]:
    """The melody note, sometimes with chord tones or an octave underneath (a chord in the score)."""
    if slot.length < TICKS_PER_QUARTER // 2 or slot.tuplet is not None:
        return [melody]
    roll = rng.random()
    if roll < 0.08 + 0.25 * bar.difficulty:
        below = [p for p in pitches_in_range(bar.chord_at(slot.start).tones, melody.midi - 11, melody.midi - 3)
                 if p.diatonic < melody.diatonic]
        if below:
            chosen = rng.sample(below, min(len(below), rng.choice((1, 2))))
            return sorted({p.diatonic: p for p in chosen + [melody]}.values(), key=lambda p: p.diatonic)
    elif roll < 0.12 + 0.3 * bar.difficulty and melody.midi - 12 >= PIANO_LOWEST:
        return [melody.transposed_octaves(-1), melody]
    return [melody]


def _holds_over(bar: Bar, notes: list[Note], rng: random.Random) -> bool:
    last = notes[-1]
    return (not bar.phrase_end and not last.is_rest and last.tuplet is None and len(last.pitches) == 1
            and rng.random() < 0.12)


def _with_grace_notes(bar: Bar, notes: list[Note], rng: random.Random) -> list[Note]:
    result = []
    for note in notes:
        if (not note.is_rest and not note.tie_stop and note.tuplet is None
                and rng.random() < 0.03 + 0.12 * bar.difficulty):
            result += _grace_group(note, bar, rng)
        result.append(note)
    return result


def _grace_group(note: Note, bar: Bar, rng: random.Random) -> list[Note]:
    main = note.pitches[-1]
    scale = pitches_in_range(bar.key.scale, main.midi - 8, main.midi + 8)
    kind = rng.choices(("slash", "plain", "run"), weights=(5, 2, 2))[0]
    if kind == "run":
        count = rng.choice((2, 3, 4))
        direction = rng.choice((-1, 1))
        run = [p for p in scale if 0 < (main.diatonic - p.diatonic) * direction <= count]
        run.sort(key=lambda p: p.diatonic * direction)
        value = "32nd" if count == 4 else "16th"
        return [Note(note.start, 0, [p], grace="plain", type=value) for p in run]
    neighbour = [p for p in scale if abs(p.diatonic - main.diatonic) == 1]
    if not neighbour:
        return []
    value = "eighth" if kind == "slash" else rng.choice(("eighth", "16th"))
    return [Note(note.start, 0, [rng.choice(neighbour)], grace=kind, type=value)]
