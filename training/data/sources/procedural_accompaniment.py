"""Accompaniment patterns under (or over) a melody: block chords, Alberti bass, broken chords, octaves,
walking bass, oom-pah, after-beats, a held bass under a figure (two voices), fingered tremolos."""
import random
from dataclasses import dataclass

from training.data.sources.procedural_harmony import Chord
from training.data.sources.procedural_meter import TICKS_PER_QUARTER, Beat, note_value
from training.data.sources.procedural_model import Bar, Note, pickup_rests
from training.data.sources.procedural_pitch import PIANO_LOWEST, Pitch, pitches_in_range

SIMPLE_ONLY = {"alberti", "walking"}


@dataclass
class AccompanimentState:
    last_bass: Pitch | None = None
    pattern: str = ""
    fast: bool = False  # figures in sixteenths rather than eighths, kept while the pattern lasts


def accompaniment_measure(bar: Bar, hand: str, pattern: str, voices: tuple[int, int],
                          state: AccompanimentState, rng: random.Random) -> dict[int, list[Note]]:
    if bar.pickup_shift:
        return {voices[0]: pickup_rests(bar)}
    if pattern in SIMPLE_ONLY and any(beat.compound for beat in bar.meter.beat_list):
        pattern = "broken"
    if pattern != state.pattern:
        state.pattern, state.fast = pattern, rng.random() < bar.difficulty * 0.7
    fast = state.fast
    main, second = [], []
    for span_start, span_end, chord in bar.chords:
        beats = [b for b in bar.meter.beat_list if span_start <= b.start < span_end]
        center = bar.center(hand, span_start)
        bass = _bass(chord, center - 10, state)
        upper = _close_voicing(chord, center + (4 if hand == "lower" else 0), 3)
        if pattern == "sustain":
            second += _held(span_start, span_end, beats, [bass])
            main += _figure(beats, [upper[1], upper[2], upper[0], upper[2]], fast)
        elif pattern == "tremolo" and note_value(span_end - span_start) in {("half", 0), ("whole", 0)}:
            main += _fingered_tremolo(span_start, span_end, [bass], upper)
        elif pattern in ("alberti", "broken"):
            cycle = [bass, upper[2], upper[1], upper[2]] if pattern == "alberti" else _arpeggio(chord, bass)
            main += _figure(beats, cycle, fast)
        elif pattern == "octaves" and bass.midi - 12 >= PIANO_LOWEST:
            main += _chords_per_beat(span_start, span_end, beats, [bass.transposed_octaves(-1), bass], rng)
        elif pattern == "walking":
            main += _walking(beats, bass, bar, span_end, rng)
        elif pattern == "waltz":
            main += _oom_pah(beats, bass, upper)
        elif pattern == "afterbeat":
            main += _after_beats(beats, bass, upper)
        else:
            tones = upper if hand == "upper" or rng.random() < 0.5 else [bass] + upper[1:]
            main += _chords_per_beat(span_start, span_end, beats, tones, rng)
    result = {voices[0]: main}
    if second:
        result[voices[1]] = second
    return result


def _bass(chord: Chord, target: int, state: AccompanimentState) -> Pitch:
    options = pitches_in_range((chord.bass,), max(PIANO_LOWEST, target - 6), target + 6)
    reference = state.last_bass.midi if state.last_bass else target
    bass = min(options, key=lambda p: abs(p.midi - reference) + 0.5 * abs(p.midi - target))
    state.last_bass = bass
    return bass


def _close_voicing(chord: Chord, target: int, count: int) -> list[Pitch]:
    """`count` adjacent chord tones whose middle is nearest to target."""
    tones = pitches_in_range(chord.tones, target - 10, target + 10)
    windows = [list(tones[i:i + count]) for i in range(len(tones) - count + 1)]
    return min(windows, key=lambda window: abs(sum(p.midi for p in window) / count - target))


def _arpeggio(chord: Chord, bass: Pitch) -> list[Pitch]:
    rising = [bass, *pitches_in_range(chord.tones, bass.midi + 1, bass.midi + 17)[:4]]
    return rising + rising[-2:0:-1]


def _subdivisions(beat: Beat, fast: bool) -> list[tuple[int, int]]:
    parts = (3 if beat.compound else 2) * (2 if fast else 1)
    size = beat.length // parts
    return [(beat.start + i * size, size) for i in range(parts)]


def _figure(beats: list[Beat], cycle: list[Pitch], fast: bool) -> list[Note]:
    """A repeating pattern of single notes, one per subdivision, restarting with each chord."""
    notes, index = [], 0
    for beat in beats:
        for start, length in _subdivisions(beat, fast):
            notes.append(Note(start, length, [cycle[index % len(cycle)]]))
            index += 1
    return notes


def _held(span_start: int, span_end: int, beats: list[Beat], pitches: list[Pitch]) -> list[Note]:
    if note_value(span_end - span_start) is not None:
        return [Note(span_start, span_end - span_start, pitches)]
    return [Note(beat.start, beat.length, pitches) for beat in beats]


def _chords_per_beat(span_start, span_end, beats, pitches, rng) -> list[Note]:
    if rng.random() < 0.35:
        return _held(span_start, span_end, beats, pitches)
    notes = []
    for beat in beats:
        if beat.compound and rng.random() < 0.5:
            two_thirds = beat.length * 2 // 3
            notes += [Note(beat.start, two_thirds, pitches), Note(beat.start + two_thirds, beat.length - two_thirds, pitches)]
        else:
            notes.append(Note(beat.start, beat.length, pitches))
    return notes


def _walking(beats: list[Beat], bass: Pitch, bar: Bar, span_end: int, rng: random.Random) -> list[Note]:
    """Quarter-note bass: the root on the chord's first beat, then steps towards the next root."""
    target = bar.chord_at(span_end).bass if span_end < bar.meter.measure_ticks else bass.fifths
    scale = pitches_in_range(bar.key.scale, bass.midi - 9, bass.midi + 9)
    notes, current = [Note(beats[0].start, beats[0].length, [bass])], bass
    for beat in beats[1:]:
        goal = min(pitches_in_range((target,), bass.midi - 7, bass.midi + 7) or [bass], key=lambda p: abs(p.midi - current.midi))
        direction = 1 if goal.diatonic > current.diatonic else -1 if goal.diatonic < current.diatonic else rng.choice((-1, 1))
        steps = [p for p in scale if p.diatonic == current.diatonic + direction]
        current = steps[0] if steps else current
        notes.append(Note(beat.start, beat.length, [current]))
    return notes


def _oom_pah(beats: list[Beat], bass: Pitch, upper: list[Pitch]) -> list[Note]:
    notes = []
    for index, beat in enumerate(beats):
        if beat.compound:
            two_thirds = beat.length * 2 // 3
            notes += [Note(beat.start, two_thirds, [bass]), Note(beat.start + two_thirds, beat.length - two_thirds, upper)]
        else:
            notes.append(Note(beat.start, beat.length, [bass] if index == 0 else upper))
    return notes


def _after_beats(beats: list[Beat], bass: Pitch, upper: list[Pitch]) -> list[Note]:
    notes = []
    for index, beat in enumerate(beats):
        parts = _subdivisions(beat, False)
        first = [bass] if index == 0 and len(beats) > 1 else []
        notes.append(Note(parts[0][0], parts[0][1], first))
        notes += [Note(start, length, upper) for start, length in parts[1:]]
    return notes


def _fingered_tremolo(span_start: int, span_end: int, low: list[Pitch], high: list[Pitch]) -> list[Note]:
    """Two notes alternating fast: each is written with the whole span's value and time-modification 2:1."""
    half = (span_end - span_start) // 2
    strokes = 3 if half >= TICKS_PER_QUARTER else 2
    return [Note(span_start, half, low, tuplet=(2, 1), tremolo=("start", strokes)),
            Note(span_start + half, half, high, tuplet=(2, 1), tremolo=("stop", strokes))]
