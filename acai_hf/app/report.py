"""The report beside a score: the measure check, each system's expected accuracy (or its confidence,
plainly named), why systems were left out, a key that stands alone, and the delinearization errors."""
import math

from acai_hf.model.calibration import LIKELY_POOR, Calibration
from acai_hf.music.key_check import lone_key_warning, lone_keys
from acai_hf.music.score import Score

ERRORS_SHOWN = 5  # per system in the report


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


def system_estimate_text(expected: float | None, logprob: float | None, edited: bool = False) -> str:
    """Per system: the calibrated expected accuracy, marked when likely poor; without a calibration, the
    model's confidence, said to be no accuracy (a system with every pitch wrong can be 88% confident).
    Neither speaks for a text the visitor `edited`."""
    if edited:
        return "edited by you (the model's estimate was for its own reading, not for your text)"
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


def report_markdown(score: Score, errors_per_system: int = ERRORS_SHOWN, unchecked_hint: str = "",
                    estimates: bool = False, calibration: Calibration | None = None, edited=()) -> str:
    """The measure check (fills / does not fill / cannot be checked), the systems left out, delinearization
    errors (the first few per system: a misread system can have dozens); with `estimates`, each system's
    expected accuracy (`calibration` saying what it is worth; without one the model's confidence, plainly
    named), or that the visitor edited it (`edited`: a flag per system). `unchecked_hint`: what the
    visitor can do about measures that cannot be checked."""
    bad = score.bad_measures()
    n_errors = sum(len(errors) for errors in score.errors)
    left_out = f" ({len(score.left_out)} left out of the score)" if score.left_out else ""
    lines = [f"**{len(score.systems)} system(s){left_out}, {len(score.validity)} measure(s).** "
             f"Measures: {measure_check_text(score, unchecked_hint)}; {n_errors} delinearization error(s)."]
    lines += [f"- system {i + 1} is left out of the score: {why}" for i, why in score.left_out.items()]
    lines += [f"- the {stage} failed for the whole score ({why}); the other downloads stand"
              for stage, why in score.stage_errors.items()]
    lines += [f"- {lone_key_warning(lone)}" for lone in lone_keys(score.systems)]
    if estimates and score.systems:
        lines.append(f"- {calibration_text(calibration)}")
        edited = list(edited) + [False] * (len(score.systems) - len(edited))
        lines += [f"- system {n}: {system_estimate_text(e, c, mine)}"
                  for n, (c, e, mine) in enumerate(zip(score.confidences, score.expected_accuracy, edited), start=1)]
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
