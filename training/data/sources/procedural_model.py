"""The generator's in-memory score: measures of voices of notes, before they are written as MusicXML."""
from dataclasses import dataclass, field

from training.data.sources.procedural_harmony import Chord, Key
from training.data.sources.procedural_meter import Meter
from training.data.sources.procedural_pitch import Pitch
from training.data.sources.procedural_rhythm import rest_slots


def staff_of_voice(voice: int) -> int:
    """OLiMPiC / MuseScore numbering: voices 1-4 on the upper staff, 5-8 on the lower."""
    return 1 if voice <= 4 else 2


@dataclass
class Note:
    """One note, chord, rest or <forward> of one voice."""
    start: int  # ticks from the measure start
    length: int  # ticks; 0 for grace notes
    pitches: list[Pitch] = field(default_factory=list)  # low to high; empty for rests and forwards
    tuplet: tuple[int, int] | None = None  # (actual, normal)
    tuplet_edge: str = ""  # "start" / "stop"
    grace: str = ""  # "slash" or "plain" for grace notes
    measure_rest: bool = False
    hidden: bool = False  # an invisible rest (print-object="no")
    forward: bool = False  # time skipped with <forward> instead of a rest
    tie_start: bool = False
    tie_stop: bool = False
    slurs: list[str] = field(default_factory=list)  # "stop" / "start", in that order
    marks: list[str] = field(default_factory=list)  # staccato, accent, fermata, trill-mark, arpeggiate, ...
    tremolo: tuple[str, int] | None = None  # ("single" | "start" | "stop", number of strokes)
    # filled in by the notation pass
    type: str = ""
    dots: int = 0
    beams: list[str] = field(default_factory=list)  # one entry per beam level
    stem: str = ""
    accidentals: list[tuple[str, str] | None] = field(default_factory=list)  # per pitch: (name, "" | attribute)

    @property
    def is_rest(self) -> bool:
        return not self.pitches


@dataclass
class Bar:
    """What the composer decided for one measure before writing its notes."""
    number: int
    meter: Meter
    length: int  # ticks the voices fill (less than a full measure for a pickup)
    key: Key  # the key the harmony is in (may differ from the signature: tonicisation)
    signature: int
    chords: list[tuple[int, int, Chord]]  # (start, end, chord), in full-measure ticks
    difficulty: float
    texture: str
    upper_center: tuple[int, int]  # register (midi) of the right hand in each half of the measure
    lower_center: tuple[int, int]
    phrase_start: bool = False
    phrase_end: bool = False
    final: bool = False
    pickup_shift: int = 0  # ticks cut from the front of a pickup measure

    def chord_at(self, tick: int) -> Chord:
        tick += self.pickup_shift
        for start, end, chord in self.chords:
            if start <= tick < end:
                return chord
        return self.chords[-1][2]

    def center(self, hand: str, tick: int) -> int:
        centers = self.upper_center if hand == "upper" else self.lower_center
        return centers[0] if tick + self.pickup_shift < self.meter.measure_ticks // 2 else centers[1]


@dataclass
class Measure:
    bar: Bar
    voices: dict[int, list[Note]] = field(default_factory=dict)
    show_key: bool = False
    show_time: bool = False
    clefs: dict[int, list[tuple[int, str]]] = field(default_factory=dict)  # printed: staff -> [(tick, "G" | "F")]
    start_clefs: dict[int, str] = field(default_factory=dict)  # staff -> clef in force as the measure begins
    dynamics: list[tuple[int, str]] = field(default_factory=list)  # (tick, "p" / "f" / "crescendo" ...)
    tempo: str = ""


def clef_at(measure: Measure, staff: int, tick: int) -> str:
    clef = measure.start_clefs[staff]
    for change_tick, sign in measure.clefs.get(staff, []):
        if change_tick <= tick:
            clef = sign
    return clef


def pickup_rests(bar: Bar) -> list[Note]:
    """Rests filling a pickup measure (a measure rest would claim the whole measure)."""
    return [Note(s.start - bar.pickup_shift, s.length) for s in rest_slots(bar.meter, bar.pickup_shift, bar.meter.measure_ticks)]
