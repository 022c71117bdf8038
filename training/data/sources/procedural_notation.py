"""Engraving decisions per voice: written values, stem directions and beams (with hooks)."""
from training.data.sources.procedural_meter import BEAM_LEVELS, note_value
from training.data.sources.procedural_model import Measure, Note, clef_at, staff_of_voice

MIDDLE_LINE = {"G": 34, "F": 22}  # diatonic positions of B4 and D3
STEMLESS = {"whole", "breve"}


def engrave(measures: list[Measure]) -> None:
    for measure in measures:
        staves_with_voices = [staff_of_voice(v) for v in measure.voices]
        for voice, notes in measure.voices.items():
            for note in notes:
                _set_value(note)
            groups = _beam_groups(measure, notes)
            for group in groups:
                _beam_run(group)
            _beam_graces(notes)
            shared = staves_with_voices.count(staff_of_voice(voice)) > 1
            _set_stems(measure, voice, notes, groups + _tremolo_pairs(notes), shared)


def _set_value(note: Note) -> None:
    if note.grace or note.measure_rest:
        return
    written = note.length if note.tuplet is None else note.length * note.tuplet[0] // note.tuplet[1]
    value = note_value(written)
    if value is None:
        raise ValueError(f"unwritable duration {note.length} ticks")
    note.type, note.dots = value


def _beamable(note: Note) -> bool:
    return bool(note.pitches) and not note.grace and note.type in BEAM_LEVELS


def _beam_groups(measure: Measure, notes: list[Note]) -> list[list[Note]]:
    """Runs of beamable notes within one beat (two beats of plain eighths in 2/4 and 4/4)."""
    shift = measure.bar.pickup_shift
    beats = measure.bar.meter.beat_list
    by_beat: dict[int, list[Note]] = {}
    for note in notes:
        if note.grace or note.forward:
            continue
        index = max(i for i, beat in enumerate(beats) if beat.start <= note.start + shift)
        by_beat.setdefault(index, []).append(note)
    meter = measure.bar.meter
    if meter.beat_type == 4 and meter.beats in (2, 4):
        for first in range(0, meter.beats, 2):
            pair = by_beat.get(first, []), by_beat.get(first + 1, [])
            if all(len(part) == 2 and all(n.type == "eighth" and n.tuplet is None and n.pitches for n in part) for part in pair):
                by_beat[first] = pair[0] + pair[1]
                by_beat[first + 1] = []
    runs = []
    for beat_notes in by_beat.values():
        run = []
        for note in beat_notes:
            # a beam never holds part of a tuplet: tuplet edges and rests break it
            if run and (note.tuplet_edge == "start" or run[-1].tuplet_edge == "stop" or (note.tuplet is None) != (run[-1].tuplet is None)):
                runs.append(run)
                run = []
            if _beamable(note):
                run.append(note)
                continue
            runs.append(run)
            run = []
        runs.append(run)
    return [run for run in runs if len(run) > 1]


def _tremolo_pairs(notes: list[Note]) -> list[list[Note]]:
    """The two notes of a fingered tremolo: joined by strokes, so they share a stem direction."""
    return [[note, following] for note, following in zip(notes, notes[1:]) if note.tremolo and note.tremolo[0] == "start"]


def _beam_run(run: list[Note]) -> None:
    levels = [BEAM_LEVELS[note.type] for note in run]
    for index, note in enumerate(run):
        note.beams = []
        for level in range(1, levels[index] + 1):
            before = index > 0 and levels[index - 1] >= level
            after = index + 1 < len(run) and levels[index + 1] >= level
            if before and after:
                note.beams.append("continue")
            elif after:
                note.beams.append("begin")
            elif before:
                note.beams.append("end")
            else:
                note.beams.append("forward hook" if index == 0 else "backward hook")


def _beam_graces(notes: list[Note]) -> None:
    run = []  # grace notes always precede their main note, which closes the run
    for note in notes:
        if note.grace and note.type in BEAM_LEVELS:
            run.append(note)
            continue
        if len(run) > 1:
            _beam_run(run)
        run = []


def _set_stems(measure: Measure, voice: int, notes: list[Note], groups: list[list[Note]], shared: bool) -> None:
    staff = staff_of_voice(voice)
    if shared:
        direction = "up" if voice % 2 == 1 else "down"
        for note in notes:
            if note.pitches and note.type not in STEMLESS:
                note.stem = direction
        return
    grouped = {id(note) for group in groups for note in group}
    for group in groups:
        direction = _direction(measure, staff, group)
        for note in group:
            note.stem = direction
    for note in notes:
        if note.pitches and note.type not in STEMLESS and id(note) not in grouped:
            note.stem = "up" if note.grace else _direction(measure, staff, [note])


def _direction(measure: Measure, staff: int, notes: list[Note]) -> str:
    """Away from the note furthest from the middle line (down on ties)."""
    middle = MIDDLE_LINE[clef_at(measure, staff, notes[0].start)]
    above = max(p.diatonic for n in notes for p in n.pitches) - middle
    below = middle - min(p.diatonic for n in notes for p in n.pitches)
    return "up" if below > above else "down"
