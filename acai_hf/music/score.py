"""Score: what transcribing a page (or joining typed LMX) gives, one type for the library, the command
line and the app: the systems' LMX, the joined MusicXML, its MIDI and measure check, and per system
its errors, its measures, why it was left out, and how sure the model was."""
from dataclasses import dataclass, field
from typing import Any

MIDI_STAGE = "MIDI"  # the names of the stages' outputs (score_assembly.Stage.name)
MEASURE_CHECK_STAGE = "measure check"
PREVIEW_STAGE = "preview"


@dataclass
class Score:
    systems: list[str]  # LMX of every system given, in reading order
    musicxml: str  # the systems kept, joined
    outputs: dict[str, Any]  # stage name -> its output for the kept systems (MIDI, measure check, preview...)
    errors: list[list] = field(default_factory=list)  # DelinearizationError lists, per system given ([] if left out)
    measure_counts: list[int] = field(default_factory=list)  # measures each system given holds in the score
    left_out: dict[int, str] = field(default_factory=dict)  # index of a system given -> why it is not in the score
    stage_errors: dict[str, str] = field(default_factory=dict)  # stage -> why it fell back on the whole score
    confidences: list = field(default_factory=list)  # per system: mean token log-prob (0 is certain); None: typed
    expected_accuracy: list = field(default_factory=list)  # per system: calibrated 1 - SER; None: no calibration

    @property
    def midi(self) -> bytes:
        return self.outputs[MIDI_STAGE]

    @property
    def validity(self) -> list:
        """acai_hf.music.measure_lengths.MeasureReport per measure."""
        return self.outputs[MEASURE_CHECK_STAGE]

    @property
    def preview(self) -> str | None:
        """The engraving's HTML, when it was asked for."""
        return self.outputs.get(PREVIEW_STAGE)

    def measures_per_system(self) -> list[int] | None:
        """How many measures each system gave (0 when left out); None if that does not add up to the
        score's measures."""
        counts = self.measure_counts or [lmx.split().count("measure") for lmx in self.systems]
        return counts if sum(counts) == len(self.validity) else None

    def bad_measures(self) -> list:
        return [r for r in self.validity if r.fills is False]

    def unchecked_measures(self) -> list:
        """Measures with no time signature in force: nothing to check their length against."""
        return [r for r in self.validity if r.fills is None]


__all__ = ["Score", "MIDI_STAGE", "MEASURE_CHECK_STAGE", "PREVIEW_STAGE"]
