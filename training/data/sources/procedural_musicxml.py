"""Writes the generator's measures as a MusicXML 4.0 score-partwise string, by plain string building
(an order of magnitude faster than building a music21 stream and exporting it)."""
from math import gcd

from training.data.sources.procedural_meter import TICKS_PER_QUARTER
from training.data.sources.procedural_model import Measure, Note, staff_of_voice

HEADER = ('<?xml version="1.0" encoding="UTF-8"?>\n<score-partwise version="4.0">\n'
          '<part-list><score-part id="P1"><part-name>Piano</part-name></score-part></part-list>\n<part id="P1">\n')
FOOTER = "</part>\n</score-partwise>\n"
CLEF_LINES = {"G": 2, "F": 4}
ARTICULATIONS = ("accent", "strong-accent", "tenuto", "staccato")


def piece_to_musicxml(measures: list[Measure]) -> str:
    unit = _tick_unit(measures)
    slurs = _SlurNumbers()
    out = [HEADER]
    for index, measure in enumerate(measures):
        _write_measure(out, measure, index == 0, unit, slurs)
    out.append(FOOTER)
    return "".join(out)


def _tick_unit(measures: list[Measure]) -> int:
    """Ticks per written division: the largest unit every duration is a multiple of."""
    unit = TICKS_PER_QUARTER
    for measure in measures:
        unit = gcd(unit, measure.bar.length)
        for notes in measure.voices.values():
            for note in notes:
                unit = gcd(unit, note.length)
    return unit


class _SlurNumbers:
    """MusicXML slur numbers: unique among open slurs, matched start to stop within a voice."""

    def __init__(self):
        self.open: dict[int, list[int]] = {}
        self.in_use: set[int] = set()

    def stop(self, voice: int) -> int:
        number = self.open[voice].pop()
        self.in_use.discard(number)
        return number

    def start(self, voice: int, avoid: set[int]) -> int:
        number = min(set(range(1, 17)) - self.in_use - avoid)
        self.in_use.add(number)
        self.open.setdefault(voice, []).append(number)
        return number


def _write_measure(out: list[str], measure: Measure, first: bool, unit: int, slurs: _SlurNumbers) -> None:
    bar = measure.bar
    implicit = ' implicit="yes"' if bar.pickup_shift else ""
    out.append(f'<measure number="{bar.number}"{implicit}>\n')
    _write_attributes(out, measure, first, unit)
    if measure.tempo:
        out.append('<direction placement="above"><direction-type><words font-weight="bold">'
                   f'{measure.tempo}</words></direction-type><staff>1</staff></direction>\n')
    voices = sorted(measure.voices)
    for position, voice in enumerate(voices):
        if position:
            out.append(f"<backup><duration>{bar.length // unit}</duration></backup>\n")
        staff = staff_of_voice(voice)
        pending_clefs = [c for c in measure.clefs.get(staff, []) if c[0] > 0]
        pending_dynamics = list(measure.dynamics) if position == 0 else []
        for note in measure.voices[voice]:
            while pending_clefs and pending_clefs[0][0] <= note.start:
                out.append(f'<attributes>{_clef(staff, pending_clefs.pop(0)[1])}</attributes>\n')
            while pending_dynamics and pending_dynamics[0][0] <= note.start:
                out.append(_dynamic(pending_dynamics.pop(0)[1]))
            _write_note(out, note, voice, staff, unit, slurs)
    out.append("</measure>\n")


def _write_attributes(out: list[str], measure: Measure, first: bool, unit: int) -> None:
    meter = measure.bar.meter
    parts = [f"<divisions>{TICKS_PER_QUARTER // unit}</divisions>"] if first else []
    if measure.show_key:
        parts.append(f"<key><fifths>{measure.bar.signature}</fifths></key>")
    if measure.show_time:
        symbol = f' symbol="{meter.symbol}"' if meter.symbol else ""
        parts.append(f"<time{symbol}><beats>{meter.beats}</beats><beat-type>{meter.beat_type}</beat-type></time>")
    if first:
        parts.append("<staves>2</staves>")
    parts += [_clef(staff, changes[0][1]) for staff, changes in sorted(measure.clefs.items()) if changes[0][0] == 0]
    if parts:
        out.append(f"<attributes>{''.join(parts)}</attributes>\n")


def _clef(staff: int, sign: str) -> str:
    return f'<clef number="{staff}"><sign>{sign}</sign><line>{CLEF_LINES[sign]}</line></clef>'


def _dynamic(kind: str) -> str:
    if kind in ("crescendo", "diminuendo", "stop"):
        content = f'<wedge type="{kind}"/>'
    else:
        content = f"<dynamics><{kind}/></dynamics>"
    return f'<direction placement="below"><direction-type>{content}</direction-type><staff>1</staff></direction>\n'


def _write_note(out: list[str], note: Note, voice: int, staff: int, unit: int, slurs: _SlurNumbers) -> None:
    if note.forward:
        out.append(f"<forward><duration>{note.length // unit}</duration><voice>{voice}</voice><staff>{staff}</staff></forward>\n")
        return
    slur_numbers = _slur_numbers(note, voice, slurs)
    for index, pitch in enumerate(note.pitches or [None]):
        head = index == 0
        parts = ['<note print-object="no">' if note.hidden else "<note>"]
        if note.grace:
            parts.append('<grace slash="yes"/>' if note.grace == "slash" else "<grace/>")
        if not head:
            parts.append("<chord/>")
        if pitch is None:
            parts.append('<rest measure="yes"/>' if note.measure_rest else "<rest/>")
        else:
            alter = f"<alter>{pitch.alter}</alter>" if pitch.alter else ""
            parts.append(f"<pitch><step>{pitch.step}</step>{alter}<octave>{pitch.octave}</octave></pitch>")
        if not note.grace:
            parts.append(f"<duration>{note.length // unit}</duration>")
        ties = (['<tie type="stop"/>'] if note.tie_stop else []) + (['<tie type="start"/>'] if note.tie_start else [])
        parts += ties
        parts.append(f"<voice>{voice}</voice>")
        if note.type:
            parts.append(f"<type>{note.type}</type>")
        parts += ["<dot/>"] * note.dots
        accidental = note.accidentals[index] if note.accidentals else None
        if accidental:
            name, attribute = accidental
            flag = f' {attribute}="yes"' if attribute else ""
            parts.append(f"<accidental{flag}>{name}</accidental>")
        if note.tuplet:
            parts.append(f"<time-modification><actual-notes>{note.tuplet[0]}</actual-notes>"
                         f"<normal-notes>{note.tuplet[1]}</normal-notes></time-modification>")
        if note.stem and pitch is not None:
            parts.append(f"<stem>{note.stem}</stem>")
        parts.append(f"<staff>{staff}</staff>")
        if head:
            parts += [f'<beam number="{level}">{kind}</beam>' for level, kind in enumerate(note.beams, 1)]
        notations = _notations(note, head, ties, slur_numbers)
        if notations:
            parts.append(f"<notations>{notations}</notations>")
        parts.append("</note>\n")
        out.append("".join(parts))


def _slur_numbers(note: Note, voice: int, slurs: _SlurNumbers) -> list[tuple[str, int]]:
    stopped = [("stop", slurs.stop(voice)) for kind in note.slurs if kind == "stop"]
    avoid = {number for _, number in stopped}
    return stopped + [("start", slurs.start(voice, avoid)) for kind in note.slurs if kind == "start"]


def _notations(note: Note, head: bool, ties: list[str], slur_numbers) -> str:
    parts = [tie.replace("tie ", "tied ") for tie in ties]
    if head:
        parts += [f'<slur type="{kind}" number="{number}"/>' for kind, number in slur_numbers]
        if note.tuplet_edge:
            bracket = "no" if note.beams else "yes"
            parts.append(f'<tuplet type="{note.tuplet_edge}" bracket="{bracket}"/>')
        ornaments = "<trill-mark/>" if "trill-mark" in note.marks else ""
        if note.tremolo:
            ornaments += f'<tremolo type="{note.tremolo[0]}">{note.tremolo[1]}</tremolo>'
        if ornaments:
            parts.append(f"<ornaments>{ornaments}</ornaments>")
        articulations = "".join(f"<{mark}/>" for mark in ARTICULATIONS if mark in note.marks)
        if articulations:
            parts.append(f"<articulations>{articulations}</articulations>")
        if "fermata" in note.marks:
            parts.append('<fermata type="upright"/>')
    if "arpeggiate" in note.marks:
        parts.append("<arpeggiate/>")
    return "".join(parts)
