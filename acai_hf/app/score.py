"""From the LMX of each system to the joined score and the measure report (no model involved).

acai_hf.score_assembly builds it; a system that breaks a stage (the join, MIDI, the measure check,
the preview) is left out and named in the report, and the rest of the score is delivered.
"""
import math
from dataclasses import dataclass, field

from acai_hf.app.user_errors import UserError
from acai_hf.app.workspace import MAX_SYSTEMS
from acai_hf.calibration import LIKELY_POOR, Calibration
from acai_hf.preview import engrave_preview, preview_failed
from acai_hf.score_assembly import Stage, assemble_score
from acai_hf.score_settings import ScoreSettings, parse_first_measure, parse_time_signature

MAX_LMX_CHARS = 200_000  # a page of LMX is ~10k characters; anything far bigger is not a score
ERRORS_SHOWN = 5  # per system in the report
PREVIEW = Stage("preview", engrave_preview, preview_failed)


@dataclass
class Score:
    systems: list[str]
    musicxml: str
    midi: bytes
    errors: list = field(default_factory=list)  # DelinearizationError lists, per system
    validity: list = field(default_factory=list)  # MeasureReport per measure
    measure_counts: list[int] = field(default_factory=list)  # per system: its measures in the score
    left_out: dict[int, str] = field(default_factory=dict)  # 0-based system -> why it is not in the score
    stage_errors: dict[str, str] = field(default_factory=dict)  # what failed for the whole score
    preview: str | None = None  # HTML, when it was asked for

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


def split_systems(lmx_text: str) -> list[str]:
    """Systems are paragraphs: separated by one or more blank lines."""
    paragraphs = [" ".join(p.split()) for p in lmx_text.replace("\r\n", "\n").split("\n\n")]
    return [p for p in paragraphs if p]


def check_lmx_text(lmx_text) -> list[str]:
    if lmx_text is None or not str(lmx_text).strip():
        raise UserError("Paste the LMX of at least one system.")
    lmx_text = str(lmx_text)
    if len(lmx_text) > MAX_LMX_CHARS:
        raise UserError(f"That is {len(lmx_text):,} characters; the limit is {MAX_LMX_CHARS:,}.")
    systems = split_systems(lmx_text)
    if len(systems) > MAX_SYSTEMS:
        raise UserError(f"That is {len(systems):,} systems (paragraphs); at most {MAX_SYSTEMS} are joined at a time.")
    return systems


def score_settings(time_signature=None, first_measure=None) -> ScoreSettings:
    """The metre and first measure number as the visitor typed them, checked."""
    try:
        return ScoreSettings(parse_time_signature(time_signature), parse_first_measure(first_measure))
    except ValueError as error:
        raise UserError(str(error)) from None


def assemble(systems: list[str], preview: bool = False, settings: ScoreSettings | None = None) -> Score:
    """The score of the systems; with `preview`, its engraving too (a stage a system can fail)."""
    built = assemble_score(systems, extra_stages=(PREVIEW,) if preview else (), settings=settings)
    return Score(built.systems, built.musicxml, built.midi, built.errors, built.validity, built.measure_counts,
                 built.left_out, built.stage_errors, built.outputs.get(PREVIEW.name))


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


def system_estimate_text(expected: float | None, logprob: float | None) -> str:
    """Per system: the calibrated expected accuracy, marked when likely poor; without a calibration, the
    model's confidence, said to be no accuracy (a system with every pitch wrong can be 88% confident)."""
    if expected is None:
        return f"no accuracy estimate; {confidence_text(logprob)}, which says how sure the model was, not how right"
    text = f"expected accuracy {expected:.0%}"
    return text + " (**likely poor**: check it against the page)" if expected < LIKELY_POOR else text


def calibration_text(calibration: Calibration | None) -> str:
    """What the expected accuracy is worth, said plainly."""
    if calibration is None:
        return ("This model has no calibration (calibration.json), so there is no expected accuracy per system; "
                "the confidence is the model's mean token probability, not a share of right symbols.")
    weakness = calibration.weakness()
    if weakness:
        return f"Expected accuracy (1 - symbol error rate) is a weak estimate: {weakness}."
    return (f"Expected accuracy is 1 - the symbol error rate, estimated from the model's confidence and the checks; "
            f"on {calibration.test_systems} test systems it was off by {calibration.test_mae:.0%} on average.")


def measure_check_text(score: Score, unchecked_hint: str = "") -> str:
    """How many measures fill their time signature, how many do not, how many cannot be checked:
    a measure with no time signature in force is neither right nor wrong, and is not counted as either."""
    bad, unchecked = len(score.bad_measures()), len(score.unchecked_measures())
    text = f"{len(score.validity) - bad - unchecked} fill their time signature, {bad} do not fill it"
    if unchecked:
        text += f", {unchecked} cannot be checked (no time signature in force{unchecked_hint})"
    return text


def report_markdown(score: Score, confidences=None, errors_per_system: int = ERRORS_SHOWN,
                    unchecked_hint: str = "", expected=None, calibration: Calibration | None = None) -> str:
    """Expected accuracy per system (`expected`, with `calibration` saying what it is worth; without
    them the model's confidence, plainly named), the measure check (fills / does not fill / cannot be checked),
    delinearization errors (the first few per system: a misread system can have dozens).
    `unchecked_hint`: what the visitor can do about measures that cannot be checked."""
    bad = score.bad_measures()
    n_errors = sum(len(errors) for errors in score.errors)
    left_out = f" ({len(score.left_out)} left out of the score)" if score.left_out else ""
    lines = [f"**{len(score.systems)} system(s){left_out}, {len(score.validity)} measure(s).** "
             f"Measures: {measure_check_text(score, unchecked_hint)}; {n_errors} delinearization error(s)."]
    lines += [f"- system {i + 1} is left out of the score: {why}" for i, why in score.left_out.items()]
    lines += [f"- the {stage} failed for the whole score ({why}); the other downloads stand"
              for stage, why in score.stage_errors.items()]
    if confidences:
        expected = expected or [None] * len(confidences)
        lines.append(f"- {calibration_text(calibration)}")
        lines += [f"- system {n}: {system_estimate_text(e, c)}"
                  for n, (c, e) in enumerate(zip(confidences, expected), start=1)]
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
    everything_checked = score.validity and not score.unchecked_measures()
    if not n_errors and not bad and everything_checked and not score.left_out and not score.stage_errors:
        lines.append("No delinearization errors; every measure fills its time signature.")
    return "\n".join(lines)
