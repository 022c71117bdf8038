"""A second, slower voice on a staff (an alto under the tune): held chord tones that may enter late,
with the silence before them written as a rest, an invisible rest, a <forward>, or a measure rest."""
import random

from training.data.sources.procedural_meter import note_value
from training.data.sources.procedural_model import Bar, Note, pickup_rests
from training.data.sources.procedural_pitch import Pitch, pitches_in_range
from training.data.sources.procedural_rhythm import rest_slots


def inner_voice_measure(bar: Bar, hand: str, last: list[Pitch], rng: random.Random) -> list[Note]:
    """Notes of the inner voice; `last` holds its previous pitch (updated in place)."""
    if bar.pickup_shift:
        return pickup_rests(bar)
    if rng.random() < 0.06:
        return [Note(0, bar.length, measure_rest=True)]
    center = bar.center(hand, 0) - 8
    notes = []
    spans = bar.chords
    silent = 0
    if len(spans) > 1 and rng.random() < 0.3:  # enters with the second chord
        silent = spans[1][0]
        notes += _silence(bar, silent, rng)
    for start, end, chord in spans:
        if start < silent:
            continue
        options = pitches_in_range(chord.tones, center - 6, center + 6)
        pitch = min(options, key=lambda p: abs(p.midi - (last[0].midi if last else center)))
        last[:] = [pitch]
        if note_value(end - start) is not None:
            notes.append(Note(start, end - start, [pitch]))
        else:
            notes += [Note(b.start, b.length, [pitch]) for b in bar.meter.beat_list if start <= b.start < end]
    return notes


def _silence(bar: Bar, end: int, rng: random.Random) -> list[Note]:
    """How MuseScore users leave a voice empty: visible rests, invisible rests, or a skip."""
    style = rng.choices(("rest", "hidden", "forward"), weights=(3, 3, 1))[0]
    if style == "forward" and note_value(end) is not None:
        return [Note(0, end, forward=True)]
    return [Note(s.start, s.length, hidden=style == "hidden") for s in rest_slots(bar.meter, 0, end)]
