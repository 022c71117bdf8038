"""Turns the planned bars into notes: each hand plays its role (melody, inner voice, accompaniment
pattern, chorale parts) in its own voices, with state carried from measure to measure."""
import random

from training.data.sources.procedural_accompaniment import AccompanimentState, accompaniment_measure
from training.data.sources.procedural_chorale import ChoraleState, chorale_measure
from training.data.sources.procedural_inner_voice import inner_voice_measure
from training.data.sources.procedural_melody import LineState, melody_measure
from training.data.sources.procedural_model import Bar, Measure, Note, staff_of_voice


def compose(bars: list[Bar], rng: random.Random) -> list[Measure]:
    # MuseScore users mostly put a staff's second voice in voice 2 (6), sometimes in 3 or 4 (7, 8)
    upper_second = rng.choices((2, 3, 4), weights=(85, 10, 5))[0]
    lower_second = upper_second + 4
    lines = {"upper": LineState(), "lower": LineState()}
    patterns = {"upper": AccompanimentState(), "lower": AccompanimentState()}
    chorale, inner_last = ChoraleState(), []
    measures: list[Measure] = []
    for bar in bars:
        upper, lower = bar.texture.split("/")
        resting = _resting_staff(bar, lines, rng)
        voices: dict[int, list[Note]] = {}
        if upper == "chorale":
            voices.update(chorale_measure(bar, (1, upper_second, 5, lower_second), chorale, rng))
        else:
            if resting == 1:
                voices[1] = [Note(0, bar.length, measure_rest=True)]
            elif upper.startswith("melody"):
                voices[1] = melody_measure(bar, "upper", lines["upper"], rng)
            else:
                voices.update(accompaniment_measure(bar, "upper", upper, (1, upper_second), patterns["upper"], rng))
            if upper == "melody+alto" and resting != 1:
                voices[upper_second] = inner_voice_measure(bar, "upper", inner_last, rng)
            if resting == 2:
                voices[5] = [Note(0, bar.length, measure_rest=True)]
            elif lower == "melody":
                voices[5] = melody_measure(bar, "lower", lines["lower"], rng)
            else:
                voices.update(accompaniment_measure(bar, "lower", lower, (5, lower_second), patterns["lower"], rng))
        for notes in voices.values():
            for note in notes:
                note.pitches = _tidy_chord(note.pitches)
        _drop_clashing_graces(voices)
        previous = measures[-1].bar if measures else None
        measures.append(Measure(bar, voices, show_key=previous is None or previous.signature != bar.signature,
                                show_time=previous is None or previous.meter != bar.meter))
    return measures


def _resting_staff(bar: Bar, lines: dict[str, LineState], rng: random.Random) -> int:
    """Now and then one hand sits a phrase-opening measure out: the staff (1 or 2) it rests on, else 0."""
    if not bar.phrase_start or bar.final or bar.pickup_shift or rng.random() > 0.08:
        return 0
    staff = rng.choice((1, 2))
    hand = "upper" if staff == 1 else "lower"
    return 0 if lines[hand].hold else staff  # a note tied over the barline needs somewhere to land


def _drop_clashing_graces(voices: dict[int, list[Note]]) -> None:
    """Grace notes on a staff line that a simultaneous note alters differently: readers (and LMX's
    alter reconstruction) take one accidental per line and onset, so such a grace is ambiguous."""
    for voice, notes in voices.items():
        onsets = {}
        for other, other_notes in voices.items():
            if staff_of_voice(other) == staff_of_voice(voice):
                for note in other_notes:
                    if not note.grace:
                        onsets.setdefault(note.start, set()).update((p.step, p.octave, p.alter) for p in note.pitches)
        voices[voice] = [note for note in notes if not note.grace or not any(
            (p.step, p.octave) == (step, octave) and p.alter != alter
            for p in note.pitches for step, octave, alter in onsets.get(note.start, ()))]


def _tidy_chord(pitches):
    """Low to high, one note per staff position."""
    by_position = {p.diatonic: p for p in pitches}
    return [by_position[d] for d in sorted(by_position)]
