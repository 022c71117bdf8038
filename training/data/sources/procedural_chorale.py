"""Four-part chorale texture: soprano and alto on the upper staff, tenor and bass on the lower, voiced
with smooth voice leading, passing eighths between chords a third apart, and held common tones."""
import random
from dataclasses import dataclass, field
from itertools import permutations

from training.data.sources.procedural_harmony import Chord
from training.data.sources.procedural_model import Bar, Note
from training.data.sources.procedural_pitch import Pitch, pitches_in_range
from training.data.sources.procedural_rhythm import rest_slots

RANGES = ((60, 81), (53, 74), (47, 69), (36, 62))  # soprano, alto, tenor, bass
STARTING_VOICING = (72, 64, 57, 45)


@dataclass
class ChoraleState:
    previous: list[float] = field(default_factory=lambda: list(STARTING_VOICING))


def chorale_measure(bar: Bar, voices: tuple[int, int, int, int], state: ChoraleState, rng: random.Random) -> dict[int, list[Note]]:
    """Notes for the four voices; `voices` numbers soprano, alto, tenor, bass in that order."""
    spans = [(max(start, bar.pickup_shift) - bar.pickup_shift, end - bar.pickup_shift, chord)
             for start, end, chord in bar.chords if end > bar.pickup_shift]
    voicings = []
    for _, _, chord in spans:
        voicing = _voice(chord, state.previous)
        state.previous = [p.midi for p in voicing]
        voicings.append(voicing)

    result = {}
    for part, voice in enumerate(voices):
        notes = []
        for index, (start, end, _) in enumerate(spans):
            pitch = voicings[index][part]
            following = voicings[index + 1][part] if index + 1 < len(voicings) else None
            passing = _passing_tone(bar, pitch, following) if following and rng.random() < 0.5 else None
            if passing is not None and (end - start) % 2 == 0:
                middle = start + (end - start) // 2
                notes += [Note(start, middle - start, [pitch]), Note(middle, end - middle, [passing])]
            elif notes and notes[-1].pitches == [pitch] and not notes[-1].tie_stop and rng.random() < 0.3:
                notes[-1].tie_start = True
                notes.append(Note(start, end - start, [pitch], tie_stop=True))
            else:
                notes.append(Note(start, end - start, [pitch]))
        result[voice] = notes
    if bar.phrase_end and len(spans) > 1 and rng.random() < 0.3:
        _rest_after_cadence(bar, result, spans[-1][0])
    return result


def _rest_after_cadence(bar: Bar, voices: dict[int, list[Note]], start: int) -> None:
    """End the phrase a beat early and pad with invisible rests, as chorale editions with pickups do."""
    for voice, notes in voices.items():
        kept = [n for n in notes if n.start < start]
        kept[-1].tie_start = False
        padding = rest_slots(bar.meter, start + bar.pickup_shift, bar.meter.measure_ticks)
        voices[voice] = kept + [Note(s.start - bar.pickup_shift, s.length, hidden=True) for s in padding]


def _voice(chord: Chord, previous: list[float]) -> list[Pitch]:
    """Soprano, alto, tenor, bass pitches of the chord, moving as little as possible from `previous`."""
    bass = _nearest(chord.bass, previous[3], RANGES[3])
    upper_classes = chord.tones if len(chord.tones) == 3 else tuple(t for t in chord.tones if t != chord.bass)
    best, best_cost = None, None
    for classes in set(permutations(upper_classes)):
        upper = [_nearest(c, previous[i], RANGES[i]) for i, c in enumerate(classes)]
        voicing = upper + [bass]
        ordered = all(voicing[i].diatonic > voicing[i + 1].diatonic for i in range(3))
        spacing = voicing[0].midi - voicing[1].midi <= 12 and voicing[1].midi - voicing[2].midi <= 12
        cost = sum(abs(p.midi - q) for p, q in zip(voicing, previous)) + (0 if ordered else 100) + (0 if spacing else 20)
        if best_cost is None or cost < best_cost:
            best, best_cost = voicing, cost
    return best


def _nearest(fifths: int, reference: float, bounds: tuple[int, int]) -> Pitch:
    options = pitches_in_range((fifths,), *bounds)
    return min(options, key=lambda p: abs(p.midi - reference))


def _passing_tone(bar: Bar, pitch: Pitch, following: Pitch) -> Pitch | None:
    """The scale tone between two chord tones a third apart."""
    if abs(following.diatonic - pitch.diatonic) != 2:
        return None
    middle = (following.diatonic + pitch.diatonic) // 2
    low, high = sorted((pitch.midi, following.midi))
    between = [p for p in pitches_in_range(bar.key.scale, low, high) if p.diatonic == middle]
    return between[0] if between else None
