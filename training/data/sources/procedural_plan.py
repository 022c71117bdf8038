"""The form of a procedural piece: phrases with cadences, key / time / texture / register changes
between them, an optional pickup, and each measure's chords."""
import random

from training.data.sources.procedural_harmony import Key, diatonic_chord, key_from_signature, phrase_progression, related_key
from training.data.sources.procedural_meter import Meter, random_meter
from training.data.sources.procedural_model import Bar

UPPER_CENTER, LOWER_CENTER = 74, 50
# pattern -> (weight at difficulty 0, at difficulty 1): figuration and tremolo grow with difficulty
PATTERN_WEIGHTS = {"block": (4, 2), "alberti": (1.5, 2.5), "broken": (1.5, 4), "octaves": (1.5, 1), "walking": (1, 1),
                   "waltz": (3, 1), "afterbeat": (1, 1), "sustain": (1.5, 1.5), "tremolo": (0.2, 1)}
PHRASE_LENGTHS = {4: 6, 2: 1.5, 8: 1.5, 3: 1}
CADENCE_WEIGHTS = {"authentic": 3, "half": 3, "deceptive": 1, "plagal": 1}


def plan_piece(rng: random.Random, difficulty: float, n_measures: int | None) -> list[Bar]:
    n_measures = n_measures or rng.randint(8, 24)
    meter = random_meter(rng)
    signatures = range(-7, 8)
    signature = rng.choices(signatures, weights=[1 + (1 - difficulty) * (7 - abs(s)) / 3.5 for s in signatures])[0]
    key = key_from_signature(signature, rng.random() < 0.35)
    texture = _texture(meter, difficulty, rng)

    bars: list[Bar] = []
    if n_measures > 1 and rng.random() < 0.2:
        bars.append(_pickup(meter, key, texture, difficulty, rng))
    phrase_index = 0
    while len(bars) < n_measures:
        length = min(n_measures - len(bars), rng.choices(list(PHRASE_LENGTHS), weights=list(PHRASE_LENGTHS.values()))[0])
        if phrase_index > 0:
            key, signature = _next_key(key, signature, difficulty, rng)
            if rng.random() < 0.05 + 0.12 * difficulty:
                meter = random_meter(rng)
            if rng.random() < 0.4:
                texture = _texture(meter, difficulty, rng)
        final = len(bars) + length == n_measures
        cadence = "authentic" if final else rng.choices(list(CADENCE_WEIGHTS), weights=list(CADENCE_WEIGHTS.values()))[0]
        bars += _phrase(len(bars) + 1, length, meter, key, signature, texture, cadence, difficulty, rng)
        phrase_index += 1
    bars[-1].final = True
    return bars


def _texture(meter: Meter, difficulty: float, rng: random.Random) -> str:
    """'upper/lower' roles of the two hands, e.g. 'melody/alberti', 'block/melody', 'chorale/chorale'."""
    roll = rng.random()
    if roll < 0.15:
        return "chorale/chorale"
    if roll < 0.25:  # the tune in the left hand under right-hand chords
        return rng.choice(("block", "afterbeat", "waltz", "broken")) + "/melody"
    patterns = {name: easy + (hard - easy) * difficulty for name, (easy, hard) in PATTERN_WEIGHTS.items()}
    if len(meter.groups) < 2:
        patterns.pop("waltz")
    lower = rng.choices(list(patterns), weights=list(patterns.values()))[0]
    upper = "melody+alto" if rng.random() < 0.15 + 0.25 * difficulty else "melody"
    return f"{upper}/{lower}"


def _next_key(key: Key, signature: int, difficulty: float, rng: random.Random) -> tuple[Key, int]:
    """Stay, tonicise a related key under the same signature, or modulate with a new signature."""
    if rng.random() > 0.12 + 0.25 * difficulty:
        return key, signature
    if rng.random() < 0.3:
        return related_key(key, rng), signature
    new_key = related_key(key, rng) if rng.random() < 0.6 else key_from_signature(rng.randint(-7, 7), rng.random() < 0.35)
    return new_key, new_key.signature


def _centers(default: int, away: int, chance: float, rng: random.Random) -> int:
    return away if rng.random() < chance else default


def _phrase(first_number, length, meter, key, signature, texture, cadence, difficulty, rng) -> list[Bar]:
    chorale = texture.startswith("chorale")
    per_measure = len(meter.groups) if chorale else rng.choice((1, 2)) if len(meter.groups) > 1 else 1
    spans = _chord_spans(meter, per_measure)
    chords = phrase_progression(key, length * per_measure, cadence, 0.05 + 0.3 * difficulty, rng)
    upper = _centers(UPPER_CENTER, rng.choice((55, 86, 86, 98)), 0.1 + 0.1 * difficulty, rng)
    lower = _centers(LOWER_CENTER, rng.choice((66, 38)), 0.1 + 0.1 * difficulty, rng)
    bars = []
    for index in range(length):
        upper_halves, lower_halves = (upper, upper), (lower, lower)
        if not chorale and rng.random() < 0.04 + 0.06 * difficulty:  # a register jump halfway: a clef change
            lower_halves = (lower, lower + 16 if lower < 60 else lower - 16)
        measure_chords = chords[index * per_measure:(index + 1) * per_measure]
        bars.append(Bar(first_number + index, meter, meter.measure_ticks, key, signature,
                        [(s, e, c) for (s, e), c in zip(spans, measure_chords)], difficulty, texture,
                        upper_halves, lower_halves, phrase_start=index == 0, phrase_end=index == length - 1))
    return bars


def _chord_spans(meter: Meter, count: int) -> list[tuple[int, int]]:
    beats = meter.beat_list
    sizes = [len(beats) // count + (1 if i < len(beats) % count else 0) for i in range(count)]
    spans, index = [], 0
    for size in sizes:
        group = beats[index:index + size]
        spans.append((group[0].start, group[-1].start + group[-1].length))
        index += size
    return spans


def _pickup(meter: Meter, key: Key, texture: str, difficulty: float, rng: random.Random) -> Bar:
    last_beat = meter.beat_list[-1]
    length = last_beat.length // 3 if last_beat.compound and rng.random() < 0.5 else last_beat.length
    shift = meter.measure_ticks - length
    dominant = diatonic_chord(key, 5)
    return Bar(1, meter, length, key, key.signature, [(0, meter.measure_ticks, dominant)], difficulty, texture,
               (UPPER_CENTER, UPPER_CENTER), (LOWER_CENTER, LOWER_CENTER), pickup_shift=shift)
