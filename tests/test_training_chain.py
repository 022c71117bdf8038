"""The whole training pipeline on a tiny data set, through the real command-line entry points:
MAE pretraining -> encoder export -> scheduled sampling from that export -> a run killed (SIGKILL,
in a subprocess) and resumed, equal to an uninterrupted one -> GRPO -> evaluation -> model card."""
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

import acai_hf  # noqa: F401  (registers the Auto classes)
from acai_hf.model.configuration_acai import AcaiOMRConfig
from acai_hf.model.modeling_acai import AcaiOMRForConditionalGeneration
from conftest import VECTORS_PATH
from synthetic_systems import save_synthetic_dataset
from training.grpo import train as grpo
from training.mae import pretrain as pretrain_mae
from training.release import evaluate, model_card
from training.run.checkpointing import latest_checkpoint
from training.supervised import train as train_cli

ROOT = Path(__file__).resolve().parents[1]
STEPS, ENCODER_LR = 3, 1e-5

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def weights(folder, prefix=""):
    return {k: v for k, v in load_file(str(Path(folder) / "model.safetensors")).items() if k.startswith(prefix)}


def train_argv(data, init, out):
    # --eval-every 1: each checkpoint is followed by a dev evaluation, the window in which the kill lands;
    # --decoder-group-size 1: the grouped decoder path even on batches of 2
    return ["--dataset", data, "--init-from", str(init), "--out", str(out), "--preset", "tiny",
            "--batch-size", "2", "--total-steps", str(STEPS), "--warmup-steps", "1", "--save-every", "1",
            "--eval-every", "1", "--dev-limit", "2", "--decode-limit", "1", "--encoder-lr", str(ENCODER_LR),
            "--precision", "fp32", "--augment-p", "0.5", "--threads", "1", "--seed", "3",
            "--decoder-group-size", "1"]


def kill_after_checkpoint(argv, run: Path, step: int, log: Path, timeout=240.0) -> None:
    """Runs the trainer as its own process and SIGKILLs it once its checkpoint of `step` is complete."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    latest = run / "checkpoints" / "latest"
    with open(log, "w") as output:
        process = subprocess.Popen([sys.executable, "-m", "training.supervised.train", *argv], cwd=ROOT, env=env,
                                   stdout=output, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        try:
            while not (latest.exists() and latest.read_text().strip() >= f"step-{step:07d}"):
                assert process.poll() is None, f"the trainer exited first:\n{log.read_text()[-3000:]}"
                assert time.monotonic() < deadline, "no checkpoint in time"
                time.sleep(0.01)
        finally:
            process.kill()
            process.wait()


def logged_steps(run: Path) -> list[list[str]]:
    """The deterministic columns of train.csv (step .. lr, not the timings)."""
    return [row.split(",")[:9] for row in (run / "train.csv").read_text().splitlines()]


def test_mae_to_evaluation_chain(tmp_path):
    data = save_synthetic_dataset(tmp_path / "data", VECTORS_PATH, n_train=8, n_dev=2, n_test=2)

    # 1. MAE pretraining, 2 steps, exported as a model initialisation
    init = tmp_path / "mae-init"
    pretrain_mae.main(["--dataset", data, "--preset", "tiny", "--out", str(tmp_path / "mae"),
                       "--batch-size", "4", "--workers", "0", "--warmup-epochs", "0", "--lr", "1e-2",
                       "--total-steps", "2", "--threads", "1", "--export", str(init)])
    exported = weights(init, "encoder.")

    # 2. scheduled sampling from the export, uninterrupted
    straight = tmp_path / "straight"
    train_cli.main(train_argv(data, init, straight))
    trained = weights(straight / "final", "encoder.")
    torch.manual_seed(3)  # what the trainer would have started from without --init-from
    fresh = AcaiOMRForConditionalGeneration(AcaiOMRConfig.from_preset("tiny")).state_dict()
    # AdamW moves a weight by about lr per step: the encoder is the MAE's plus at most a few such steps,
    # while MAE (lr 1e-2) moved it far from any fresh initialisation
    reach = 3 * STEPS * ENCODER_LR
    assert exported.keys() == trained.keys() and len(trained) > 4
    for name in trained:
        assert (trained[name] - exported[name]).abs().max() <= reach, name
    moved = [name for name in trained if (exported[name] - fresh[name]).abs().max() > 100 * reach]
    assert len(moved) > 0.8 * len(trained), sorted(set(trained) - set(moved))
    assert any(not torch.equal(trained[k], exported[k]) for k in trained)  # and it did train

    # 3. the same run killed after its step-2 checkpoint (step 2 drew Gumbel noise and mixing coins, so
    # the RNG state must come back too), then resumed: the very same weights
    killed = tmp_path / "killed"
    kill_after_checkpoint(train_argv(data, init, killed), killed, STEPS - 1, tmp_path / "killed.log")
    assert latest_checkpoint(killed).name == f"step-{STEPS - 1:07d}" and not (killed / "final").exists()
    train_cli.main(["--resume", str(killed)])
    a, b = weights(straight / "final"), weights(killed / "final")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert logged_steps(killed) == logged_steps(straight) and len(logged_steps(straight)) == STEPS + 1

    # 4. one GRPO step from the trained model: only the decoder moves
    grpo.main(["--init-from", str(killed / "final"), "--dataset", data, "--out", str(tmp_path / "grpo"),
               "--total-steps", "1", "--batch-size", "2", "--group-size", "2", "--max-new-tokens", "24", "24",
               "--reward-workers", "1", "--workers", "0", "--threads", "1"])
    tuned_dir = latest_checkpoint(tmp_path / "grpo")
    tuned, before = weights(tuned_dir), weights(killed / "final")
    changed = {k for k in before if not torch.equal(before[k], tuned[k])}
    assert changed and all(k.startswith("decoder.") for k in changed)

    # 5. evaluation of the GRPO model on the test split: JSON and markdown
    out = tmp_path / "eval"
    metrics = evaluate.main([str(tuned_dir), "--dataset", data, "--split", "test", "--max-new-tokens", "24",
                             "--threads", "1", "--out", str(out)])
    saved = json.loads((out / "eval-test.json").read_text())
    assert saved == json.loads(json.dumps(metrics))
    for key in ("ser", "tedn", "delinearize_clean", "measure_fill", "systems_per_s"):
        assert key in saved, key
    assert saved["systems"] == 2 and saved["split"] == "test" and saved["ser"] >= 0 and saved["systems_per_s"] > 0
    table = (out / "eval-test.md").read_text()
    rows = [json.loads(line) for line in (out / "eval-test-predictions.jsonl").read_text().splitlines()]
    assert [row["index"] for row in rows] == [0, 1] and all(row["source"] and row["piece_id"] for row in rows)
    assert all(f"| {key} |" in table for key in ("ser", "tedn", "delinearize_clean", "systems_per_s"))

    # 6. the model card, from that model's clean and augmented evaluations and the run it came from
    shipped = tmp_path / "shipped"
    shutil.copytree(tuned_dir, shipped)
    for extra in ([], ["--augment"]):
        evaluate.main([str(shipped), "--dataset", data, "--split", "test", "--max-new-tokens", "24",
                       "--threads", "1", *extra])
    augmented = json.loads((shipped / "eval-test-augmented.json").read_text())
    card = model_card.main([str(shipped), "--run", str(killed), "--out", str(tmp_path / "model_card.md")])
    assert card == (tmp_path / "model_card.md").read_text() == (shipped / "README.md").read_text()
    front = card.split("---")[1]
    assert "library_name: transformers" in front and "pipeline_tag: image-to-text" in front
    assert f"value: {saved['ser']:.4f}" in front and f"value: {augmented['ser']:.4f}" in front
    assert f"{STEPS} optimizer steps in all ({STEPS * 2:,} system images; batch 2 in the last run" in card and f"`{killed.name}` ({STEPS} steps)" in card and "| clean | " in card and "| camera-like" in card
    assert "misses** the target" in card or "meets the target" in card
    assert f"pitch tokens alone score SER {model_card.pct(saved['ser_pitch'])}" in card
    assert f"the key a system opens with is right on {model_card.pct(saved['key_right'])} of 2 test systems" in card
    assert sum(part["part"] for part in saved["ser_by_kind"].values()) == pytest.approx(saved["ser"])
    assert "| token kind | gold tokens | part of SER |" in table
    if saved["ser"] >= 0.001:
        assert "Where the clean test SER comes from" in card
    assert (shipped / "training_curves.png").is_file() == (killed / "curves.png").is_file()
