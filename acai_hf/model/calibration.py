"""Expected accuracy of a transcribed system, from what is known without the answer.

The mean token probability says how sure the model was, not how right it is: a system whose every
pitch is wrong can score 88%. `training.release.calibrate` fits, on dev systems, a linear model from a few
per-system signals (the model's confidence, the LMX's own checks, its length against the crop's
width) to the system's accuracy (1 - SER, floored at 0), and writes it as `calibration.json` beside
the model; the app reads it to show "expected accuracy NN%". Only numpy: refitting after each model
ships must stay cheap.
"""
import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from acai_hf.music.lmx import delinearize
from acai_hf.music.measure_lengths import measure_validity

CALIBRATION_FILE = "calibration.json"
FEATURES = ("mean_logprob", "errors_per_token", "measures_not_filling", "no_measure_checked", "tokens_per_width")
LIKELY_POOR = 0.5  # expected accuracy below this marks a system "likely poor"
# a calibration whose test error is not this much below the constant baseline's is called weak
WEAK_MARGIN = 0.8


def system_features(lmx: str, mean_logprob: float | None, width: int, height: int) -> dict[str, float]:
    """The signals for one system: `mean_logprob` as generate_lmx gives it, `width`/`height` of its crop."""
    tokens = lmx.split()
    part, errors = delinearize(lmx)
    try:
        verdicts = [report.fills for report in measure_validity(part)]
    except Exception:  # a part the check cannot read is as bad a sign as measures that do not fill
        verdicts = [False]
    judged = [fills for fills in verdicts if fills is not None]
    logprob = mean_logprob if mean_logprob is not None and math.isfinite(mean_logprob) else -10.0
    return {
        "mean_logprob": max(logprob, -10.0),  # one -inf token must not swamp the fit
        "errors_per_token": len(errors) / max(1, len(tokens)),
        "measures_not_filling": sum(not fills for fills in judged) / len(judged) if judged else 0.0,
        "no_measure_checked": float(not judged),
        # a staff height of width holds a few tokens; far more or fewer is a sign of a misread system
        "tokens_per_width": len(tokens) / max(1e-6, width / max(1, height)),
    }


def system_accuracy(ser_value: float) -> float:
    """What the estimate predicts: 1 - SER, floored at 0 (SER passes 1 when the output is too long)."""
    return max(0.0, 1.0 - ser_value)


@dataclass
class Calibration:
    features: list[str]
    coefficients: list[float]  # one per feature, on standardized features
    intercept: float
    means: list[float]
    scales: list[float]
    fit_systems: int = 0
    dev_mae: float | None = None  # mean absolute error of the estimate on the systems it was fit on
    dev_baseline_mae: float | None = None  # the same, predicting the dev mean for every system
    test_mae: float | None = None
    test_baseline_mae: float | None = None
    test_systems: int = 0
    notes: dict = field(default_factory=dict)  # model, dataset, split sizes: where the figures come from

    def predict(self, rows: list[dict[str, float]]) -> np.ndarray:
        x = np.array([[row[name] for name in self.features] for row in rows], dtype=float).reshape(len(rows), -1)
        z = (x - np.array(self.means)) / np.array(self.scales)
        return np.clip(self.intercept + z @ np.array(self.coefficients), 0.0, 1.0)

    def expected_accuracy(self, lmx: str, mean_logprob: float | None, width: int, height: int) -> float:
        return float(self.predict([system_features(lmx, mean_logprob, width, height)])[0])

    def weakness(self) -> str | None:
        """Why the estimate should not be trusted much, in words; None when it has earned some trust."""
        if self.test_mae is None or self.test_baseline_mae is None:
            return "it has not been checked on the test split"
        if self.test_mae > WEAK_MARGIN * self.test_baseline_mae:
            return (f"on test systems it is off by {self.test_mae:.0%} on average, hardly better than guessing "
                    f"the average ({self.test_baseline_mae:.0%})")
        return None

    def save(self, folder) -> Path:
        path = Path(folder) / CALIBRATION_FILE
        path.write_text(json.dumps(asdict(self), indent=1) + "\n")
        return path


def fit(rows: list[dict[str, float]], accuracies, features=FEATURES, ridge: float = 1.0) -> Calibration:
    """Least squares (a little ridge, so a feature that never varies on dev cannot blow up) of accuracy
    on standardized features."""
    x = np.array([[row[name] for name in features] for row in rows], dtype=float)
    y = np.asarray(accuracies, dtype=float)
    means, scales = x.mean(0), x.std(0)
    scales[scales == 0] = 1.0
    z = (x - means) / scales
    intercept = y.mean()
    coefficients = np.linalg.solve(z.T @ z + ridge * np.eye(z.shape[1]), z.T @ (y - intercept))
    calibration = Calibration(list(features), coefficients.tolist(), float(intercept), means.tolist(),
                              scales.tolist(), fit_systems=len(y))
    calibration.dev_mae = float(np.abs(calibration.predict(rows) - y).mean())
    calibration.dev_baseline_mae = float(np.abs(y.mean() - y).mean())
    return calibration


def load_calibration(model_folder) -> Calibration | None:
    """The model folder's calibration, or None when it has none (or is not a folder: a Hub id)."""
    if model_folder is None:
        return None
    path = Path(model_folder) / CALIBRATION_FILE
    if not path.is_file():
        return None
    return Calibration(**json.loads(path.read_text()))


__all__ = ["Calibration", "FEATURES", "LIKELY_POOR", "fit", "load_calibration",
           "system_accuracy", "system_features"]
