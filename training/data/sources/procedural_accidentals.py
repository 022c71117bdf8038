"""Printed accidentals, as an engraver writes them: against the key signature and the accidentals
earlier in the measure on the same staff line, none on tied continuations, plus some courtesy ones."""
import random

from training.data.sources.procedural_model import Measure, staff_of_voice
from training.data.sources.procedural_pitch import ACCIDENTAL_OF_ALTER, key_signature_alters

OLD_STYLE = {(2, 1): "natural-sharp", (-2, -1): "natural-flat"}  # (alter in force, new alter)


def set_accidentals(measures: list[Measure], courtesy: float, rng: random.Random) -> None:
    """`courtesy`: the chance of a courtesy accidental where an engraver might add one."""
    previous_alters: dict[int, dict[tuple[str, int], int]] = {1: {}, 2: {}}
    for measure in measures:
        key = key_signature_alters(measure.bar.signature)
        for staff in (1, 2):
            in_force: dict[tuple[str, int], int] = {}
            for note in _in_reading_order(measure, staff):
                note.accidentals = []
                for pitch in note.pitches:
                    line = (pitch.step, pitch.octave)
                    current = in_force.get(line, key[pitch.step])
                    if note.tie_stop:
                        note.accidentals.append(None)
                        continue
                    first_on_line = line not in in_force
                    in_force[line] = pitch.alter
                    if pitch.alter != current:
                        name = OLD_STYLE.get((current, pitch.alter)) if rng.random() < 0.3 else None
                        note.accidentals.append((name or ACCIDENTAL_OF_ALTER[pitch.alter], ""))
                    elif (first_on_line and previous_alters[staff].get(line, pitch.alter) != pitch.alter
                          and rng.random() < courtesy):
                        note.accidentals.append((ACCIDENTAL_OF_ALTER[pitch.alter], rng.choice(("", "cautionary", "parentheses"))))
                    else:
                        note.accidentals.append(None)
            previous_alters[staff] = {line: alter for line, alter in in_force.items() if alter != key[line[0]]}


def _in_reading_order(measure: Measure, staff: int):
    notes = [(note.start, 0 if note.grace else 1, order, note)
             for voice, voice_notes in measure.voices.items() if staff_of_voice(voice) == staff
             for order, note in enumerate(voice_notes) if note.pitches]
    return [entry[3] for entry in sorted(notes, key=lambda entry: entry[:3])]
