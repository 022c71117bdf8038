"""The calibrated expected accuracy: the fit recovers a known relation, the file round-trips, and the app
and API show the estimate when the model folder has calibration.json and plain wording when it has not."""
import shutil

import numpy as np
import pytest

from acai_hf.app import OmrApp
from acai_hf.app.session import RequestDirs
from acai_hf.model.calibration import FEATURES, LIKELY_POOR, fit, load_calibration, system_features
from tests.conftest import VECTORS_PATH
from tests.drawn_pages import draw_page, page_bytes
from tests.synthetic_systems import save_synthetic_dataset
from tests.tiny_omr_model import tiny_model_dir  # noqa: F401  (a fixture)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def synthetic_rows(n, seed):
    """Features in their real ranges, and an accuracy that is a known linear function of them."""
    rng = np.random.default_rng(seed)
    rows = [{"mean_logprob": rng.uniform(-1.5, 0), "errors_per_token": rng.uniform(0, 0.1),
             "measures_not_filling": rng.uniform(0, 1), "no_measure_checked": float(rng.random() < 0.3),
             "tokens_per_width": rng.uniform(10, 80)} for _ in range(n)]
    accuracy = [0.9 + 0.4 * r["mean_logprob"] - 2.0 * r["errors_per_token"] - 0.2 * r["measures_not_filling"]
                for r in rows]
    return rows, np.clip(accuracy, 0, 1)


def test_the_fit_recovers_a_known_relation_and_beats_the_mean():
    rows, accuracy = synthetic_rows(2000, seed=0)
    calibration = fit(rows, accuracy)
    raw = np.array(calibration.coefficients) / np.array(calibration.scales)  # back to the features' own units
    assert raw[FEATURES.index("mean_logprob")] == pytest.approx(0.4, abs=0.02)
    assert raw[FEATURES.index("errors_per_token")] == pytest.approx(-2.0, abs=0.2)
    assert raw[FEATURES.index("measures_not_filling")] == pytest.approx(-0.2, abs=0.02)
    assert abs(raw[FEATURES.index("tokens_per_width")]) < 1e-3  # what does not matter gets no weight
    test_rows, test_accuracy = synthetic_rows(500, seed=1)
    assert np.abs(calibration.predict(test_rows) - test_accuracy).mean() < 0.01
    assert calibration.dev_mae < 0.2 * calibration.dev_baseline_mae
    assert calibration.fit_systems == 2000


def test_the_file_round_trips_and_a_weak_or_unchecked_calibration_says_so(tmp_path):
    rows, accuracy = synthetic_rows(300, seed=2)
    calibration = fit(rows, accuracy)
    assert "not been checked" in calibration.weakness()
    calibration.test_mae, calibration.test_baseline_mae, calibration.test_systems = 0.01, 0.1, 50
    calibration.save(tmp_path)
    loaded = load_calibration(tmp_path)
    assert loaded == calibration and loaded.weakness() is None
    loaded.test_mae = 0.095  # hardly better than guessing the average
    assert "hardly better" in loaded.weakness()
    assert load_calibration(tmp_path / "elsewhere") is None


def test_features_come_from_the_lmx_the_confidence_and_the_crop():
    lmx = "measure key:fifths:0 time beats:4 beat-type:4 clef:G2 staff:1 C4 quarter C4 quarter"
    features = system_features(lmx, -0.2, 400, 100)
    assert set(features) == set(FEATURES)
    assert features["mean_logprob"] == -0.2 and features["tokens_per_width"] == pytest.approx(len(lmx.split()) / 4)
    assert features["measures_not_filling"] == 1.0 and features["no_measure_checked"] == 0.0  # half a 4/4 bar
    assert system_features("", float("-inf"), 400, 100)["mean_logprob"] == -10.0  # no NaN or inf reaches the fit


def test_the_command_fits_on_dev_then_adds_its_test_error(tiny_model_dir, tmp_path):
    from training.release.calibrate import main

    model = shutil.copytree(tiny_model_dir, tmp_path / "model")
    dataset = save_synthetic_dataset(tmp_path / "data", VECTORS_PATH, n_train=1, n_dev=4, n_test=3)
    fitted = main([str(model), "--dataset", dataset, "--dev-limit", "4", "--threads", "1"])
    assert fitted.fit_systems == 4 and fitted.test_mae is None
    checked = main([str(model), "--dataset", dataset, "--split", "test", "--threads", "1"])
    assert load_calibration(model) == checked
    assert checked.test_systems == 3 and checked.test_mae >= 0 and checked.coefficients == fitted.coefficients


@pytest.fixture(scope="module")
def calibrated_model_dir(tiny_model_dir, tmp_path_factory):
    """The tiny model with a calibration that calls every system poor (the intercept is far below the mark)."""
    folder = shutil.copytree(tiny_model_dir, tmp_path_factory.mktemp("calibrated") / "model")
    rows, accuracy = synthetic_rows(100, seed=3)
    calibration = fit(rows, np.asarray(accuracy) * 0 + LIKELY_POOR / 5)
    calibration.test_mae, calibration.test_baseline_mae, calibration.test_systems = 0.05, 0.2, 40
    calibration.save(folder)
    return folder


def transcribed_in_app_and_api(model_dir, tmp_path):
    """(the page tab's rendered result, the API summary) for one drawn page."""
    omr = OmrApp(model_dir, dirs=RequestDirs(tmp_path))
    page = page_bytes(draw_page(2))
    workspace, value, _, _ = omr.load(page)
    _, rendered = omr.transcribe(workspace, value, beams=1, constrained=True)
    *_, summary = omr.api_transcribe(page)
    return rendered, summary


def test_app_and_api_show_expected_accuracy_when_the_model_is_calibrated(calibrated_model_dir, tmp_path):
    rendered, summary = transcribed_in_app_and_api(calibrated_model_dir, tmp_path)
    assert "- system 1: expected accuracy 10% (**likely poor**" in rendered.report
    assert "off by 5% on average" in rendered.report
    system = summary["systems"][0]
    assert system["expected_accuracy"] == pytest.approx(LIKELY_POOR / 5) and system["likely_poor"] is True
    assert system["confidence"] <= 0 and 0 < system["probability"] <= 1  # kept for existing clients
    assert "off by 5%" in summary["calibration"]


def test_without_calibration_the_confidence_is_named_for_what_it_is(tiny_model_dir, tmp_path):
    rendered, summary = transcribed_in_app_and_api(tiny_model_dir, tmp_path)
    assert "has no calibration" in rendered.report
    assert "- system 1: no accuracy estimate; confidence " in rendered.report
    assert "not how right" in rendered.report
    assert summary["systems"][0]["expected_accuracy"] is None and summary["systems"][0]["likely_poor"] is None
    assert "has no calibration" in summary["calibration"]


def test_the_shipped_model_carries_a_checked_calibration():
    """After training.release.ship, training.release.calibrate must run on dev and test (training/README.md,
    Shipping)."""
    from acai_hf.model.loading import DEFAULT_CHECKPOINT

    if not (DEFAULT_CHECKPOINT / "config.json").is_file():
        pytest.skip("the trained model is not in checkpoints/acai-omr-small yet")
    calibration = load_calibration(DEFAULT_CHECKPOINT)
    assert calibration is not None and calibration.features == list(FEATURES)
    assert calibration.fit_systems >= 100 and calibration.test_systems >= 100
