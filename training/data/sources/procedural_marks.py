"""Slurs, articulations, ornaments, fermatas and dynamics laid over the composed notes."""
import random

from training.data.sources.procedural_meter import TICKS_PER_QUARTER
from training.data.sources.procedural_model import Measure, Note

DYNAMICS = ("pp", "p", "mp", "mf", "f", "ff", "sf", "fp")
TEMPI = ("Allegro", "Andante", "Moderato", "Adagio", "Allegretto", "Presto", "Largo", "Andantino", "Vivace", "Lento")


def decorate(measures: list[Measure], difficulty: float, rng: random.Random) -> None:
    for voice in (1, 5):
        _phrase_slurs([n for m in measures for n in m.voices.get(voice, []) if not n.grace], difficulty, rng)
    for measure in measures:
        for voice, notes in measure.voices.items():
            _grace_slurs(notes, rng)
            for note in notes:
                if note.pitches and not note.grace:
                    _articulate(note, voice, measure, difficulty, rng)
        _fermatas(measure, rng)
        _dynamics(measure, rng)


def _phrase_slurs(notes: list[Note], difficulty: float, rng: random.Random) -> None:
    """Non-overlapping slurs over runs of notes (never over rests), chained now and then."""
    index = 0
    while index < len(notes) - 1:
        if not notes[index].pitches or rng.random() > 0.12 + 0.15 * difficulty:
            index += 1
            continue
        end = index
        wanted = rng.randint(2, 8)
        while end + 1 < len(notes) and notes[end + 1].pitches and end - index + 1 < wanted:
            end += 1
        if end > index:
            notes[index].slurs.append("start")
            notes[end].slurs.insert(0, "stop")
            index = end if rng.random() < 0.15 else end + 1
        else:
            index += 1


def _grace_slurs(notes: list[Note], rng: random.Random) -> None:
    """A slur from the first grace note of a group to its main note."""
    for index, note in enumerate(notes):
        opens_group = note.grace and (index == 0 or not notes[index - 1].grace)
        if opens_group and rng.random() < 0.4:
            main = next(n for n in notes[index:] if not n.grace)
            note.slurs.append("start")
            main.slurs.insert(0, "stop")


def _articulate(note: Note, voice: int, measure: Measure, difficulty: float, rng: random.Random) -> None:
    short = note.length <= TICKS_PER_QUARTER // 2
    long = note.length >= TICKS_PER_QUARTER and note.tuplet is None
    chances = {
        "staccato": 0.12 if short else 0.04,
        "accent": 0.06 if note.start == 0 else 0.015,
        "tenuto": 0.04 if long else 0.01,
        "strong-accent": 0.01 + 0.02 * difficulty if len(note.pitches) > 1 else 0.003,
        "trill-mark": 0.04 + 0.04 * difficulty if long and voice == 1 and len(note.pitches) == 1 else 0.0,
        "arpeggiate": 0.04 + 0.08 * difficulty if len(note.pitches) >= 3 else 0.0,
        "fermata": 0.002,
    }
    for _ in range(2 if rng.random() < 0.1 else 1):  # now and then two marks, e.g. accent and staccato
        roll = rng.random()  # one draw picks at most one mark, each with its own chance
        for mark, chance in chances.items():
            if roll < chance:
                if mark not in note.marks:
                    note.marks.append(mark)
                break
            roll -= chance
    if measure.bar.texture.startswith("chorale"):
        note.marks = [mark for mark in note.marks if mark in ("fermata", "tenuto", "accent")]
        return
    if long and note.tremolo is None and "trill-mark" not in note.marks and rng.random() < 0.01 + 0.04 * difficulty:
        note.tremolo = ("single", rng.choices((1, 2, 3, 4), weights=(3, 3, 3, 1))[0])


def _fermatas(measure: Measure, rng: random.Random) -> None:
    """On the last sounding note of every voice: at the end of the piece, and at chorale cadences."""
    bar = measure.bar
    if not (bar.final and rng.random() < 0.7 or bar.phrase_end and bar.texture.startswith("chorale") and rng.random() < 0.7):
        return
    for notes in measure.voices.values():
        sounding = [n for n in notes if n.pitches and not n.grace]
        if sounding and "fermata" not in sounding[-1].marks:
            sounding[-1].marks.append("fermata")


def _dynamics(measure: Measure, rng: random.Random) -> None:
    bar = measure.bar
    if bar.number == 1 and rng.random() < 0.7:
        measure.tempo = rng.choice(TEMPI)
    if bar.phrase_start and rng.random() < 0.5:
        measure.dynamics.append((0, rng.choice(DYNAMICS)))
    starts = [n.start for n in measure.voices.get(1, []) if n.start > 0 and not n.grace]
    if starts and rng.random() < 0.15:
        measure.dynamics += [(0, rng.choice(("crescendo", "diminuendo"))), (starts[-1], "stop")]
