"""From the LMX of each system to the joined score and the measure report (no model involved)."""
import math
from dataclasses import dataclass, field

import gradio as gr

from acai_hf.music import join_systems_with_errors, measure_validity, to_midi

MAX_LMX_CHARS = 200_000  # a page of LMX is ~10k characters; anything far bigger is not a score
ERRORS_SHOWN = 5  # per system in the report


@dataclass
class Score:
    systems: list[str]
    musicxml: str
    midi: bytes
    errors: list = field(default_factory=list)  # DelinearizationError lists, per system
    validity: list = field(default_factory=list)  # MeasureReport per measure

    def measures_per_system(self) -> list[int] | None:
        """How many measures each system gave (every 'measure' token opens one); None if that does
        not add up to the score's measures (e.g. no system gave any and an empty one was added)."""
        counts = [lmx.split().count("measure") for lmx in self.systems]
        return counts if sum(counts) == len(self.validity) else None

    def bad_measures(self) -> list:
        return [r for r in self.validity if r.fills is False]


def split_systems(lmx_text: str) -> list[str]:
    """Systems are paragraphs: separated by one or more blank lines."""
    paragraphs = [" ".join(p.split()) for p in lmx_text.replace("\r\n", "\n").split("\n\n")]
    return [p for p in paragraphs if p]


def check_lmx_text(lmx_text) -> list[str]:
    if lmx_text is None or not lmx_text.strip():
        raise gr.Error("Paste the LMX of at least one system.")
    if len(lmx_text) > MAX_LMX_CHARS:
        raise gr.Error(f"That is {len(lmx_text):,} characters; the limit is {MAX_LMX_CHARS:,}.")
    return split_systems(lmx_text)


def assemble(systems: list[str]) -> Score:
    joined = join_systems_with_errors(systems)
    try:
        midi = to_midi(joined.musicxml)
    except Exception as error:  # music21 refusing our own MusicXML is a bug, but say what happened
        raise gr.Error(f"The score was built but MIDI could not be made from it: {error}") from error
    return Score(list(systems), joined.musicxml, midi, joined.errors, measure_validity(joined.musicxml))


def system_of_measures(score: Score) -> dict[int, int]:
    """Measure index (0-based, document order) -> system number (1-based), when known."""
    counts = score.measures_per_system()
    if counts is None:
        return {}
    owner, index = {}, 0
    for system, count in enumerate(counts, start=1):
        for _ in range(count):
            owner[index] = system
            index += 1
    return owner


def confidence_text(logprob: float | None) -> str:
    """Mean token log-probability, and exp of it: the geometric mean of the token probabilities."""
    if logprob is None or math.isnan(logprob):
        return "confidence unknown"
    return f"confidence {math.exp(logprob):.0%} (mean token log-prob {logprob:.3f})"


def report_markdown(score: Score, confidences=None, errors_per_system: int = ERRORS_SHOWN) -> str:
    """Confidence per system, measures that do not fill their time signature, delinearization errors
    (the first few per system: a misread system can have dozens)."""
    bad = score.bad_measures()
    n_errors = sum(len(errors) for errors in score.errors)
    lines = [f"**{len(score.systems)} system(s), {len(score.validity)} measure(s).** "
             f"{len(bad)} measure(s) do not fill their time signature; {n_errors} delinearization error(s)."]
    if confidences:
        lines += [f"- system {n}: {confidence_text(c)}" for n, c in enumerate(confidences, start=1)]
    owners = system_of_measures(score)
    for index, report in enumerate(score.validity):
        if report.fills is False:
            where = f" (system {owners[index]})" if index in owners else ""
            lines.append(f"- measure {report.number}{where}: {report.verdict}")
    for number, errors in enumerate(score.errors, start=1):
        lines += [f"- system {number}, token {e.position}: {e.severity} error: {e.message}"
                  for e in errors[:errors_per_system]]
        if len(errors) > errors_per_system:
            lines.append(f"- system {number}: and {len(errors) - errors_per_system} more error(s)")
    if not n_errors and not bad:
        lines.append("No delinearization errors; every measure fills its time signature.")
    return "\n".join(lines)
