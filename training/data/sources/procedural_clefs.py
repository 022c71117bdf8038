"""Clefs that follow the music: each staff switches between treble and bass where its notes move,
at a barline or (for a one-voice staff whose register jumps halfway) in the middle of a measure."""
from statistics import fmean

from training.data.sources.procedural_model import Measure, staff_of_voice

TO_BASS_BELOW, TO_TREBLE_ABOVE = 57, 65  # mean midi pitch that makes a staff change clef (with hysteresis)


def assign_clefs(measures: list[Measure]) -> None:
    for staff in (1, 2):
        current = None
        for measure in measures:
            staff_notes = [n for voice, notes in measure.voices.items() if staff_of_voice(voice) == staff for n in notes]
            notes = [n for n in staff_notes if n.pitches and not n.grace]
            after_grace = {n.start for n in staff_notes if n.grace}  # a clef there would split grace from main note
            voices = {v for v, notes in measure.voices.items() if staff_of_voice(v) == staff}
            if current is None:
                current = _preferred(notes, "G" if staff == 1 else "F")
                measure.start_clefs[staff] = current
                measure.clefs[staff] = [(0, current)]
                continue
            measure.start_clefs[staff] = current
            half = measure.bar.meter.measure_ticks // 2 - measure.bar.pickup_shift
            second = [n for n in notes if n.start >= half and n.start not in after_grace]
            first = [n for n in notes if n.start < half]
            changes = []
            if len(voices) == 1 and first and second:
                opening = _preferred(first, current)
                closing = _preferred(second, opening)
                if opening != current:
                    changes.append((0, opening))
                if closing != opening:
                    changes.append((second[0].start, closing))
            else:
                whole = _preferred(notes, current)
                if whole != current:
                    changes.append((0, whole))
            if changes:
                measure.clefs[staff] = changes
                current = changes[-1][1]


def _preferred(notes, current: str) -> str:
    if not notes:
        return current
    mean = fmean(p.midi for n in notes for p in n.pitches)
    if current == "G" and mean < TO_BASS_BELOW:
        return "F"
    if current == "F" and mean > TO_TREBLE_ABOVE:
        return "G"
    return current
