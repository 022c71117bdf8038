"""The trainers under several processes, as `accelerate launch` / torchrun runs them on GPUs or nodes:
here two CPU processes joined by gloo. Scheduled sampling stopped and resumed gives the very weights of an
uninterrupted two-process run (each rank restores its own RNG stream and data position); MAE and GRPO run
their distributed paths; a launch whose processes accelerate did not join stops with the fix; SIGTERM to
torchrun stops both processes at the same step, with its checkpoint."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import VECTORS_PATH
from tests.served_inputs import free_port
from safetensors.torch import load_file
from synthetic_systems import save_synthetic_dataset
from terminate_self import sigterm_when_logged

from training.run.logs import read_csv

ROOT = Path(__file__).resolve().parents[1]


def torchrun_command(module: str, *argv, cpu_joined=True, processes=2) -> tuple[list[str], dict]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    env.pop("ACCELERATE_USE_CPU", None)
    if cpu_joined:
        env["ACCELERATE_USE_CPU"] = "1"
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(processes),
               "--master_addr", "127.0.0.1", "--master_port", str(free_port()), "-m", module, *argv]
    return command, env


def torchrun(module: str, *argv, cpu_joined=True, processes=2) -> subprocess.CompletedProcess:
    command, env = torchrun_command(module, *argv, cpu_joined=cpu_joined, processes=processes)
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


def ok(done: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    return done


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return save_synthetic_dataset(tmp_path_factory.mktemp("mp") / "data", VECTORS_PATH, n_train=8, n_dev=2)


def train_argv(data, out):
    return ["--dataset", data, "--out", str(out), "--preset", "tiny", "--batch-size", "2", "--total-steps", "4",
            "--warmup-steps", "1", "--save-every", "2", "--eval-every", "2", "--dev-limit", "2",
            "--decode-limit", "1", "--precision", "fp32", "--augment-p", "0.5", "--threads", "1", "--seed", "5"]


def test_two_processes_train_and_resume_exactly(data, tmp_path):
    straight, stopped = tmp_path / "straight", tmp_path / "stopped"
    ok(torchrun("training.supervised.train", *train_argv(data, straight)))
    ok(torchrun("training.supervised.train", *train_argv(data, stopped), "--stop-at", "2"))
    assert (stopped / "checkpoints" / "latest").read_text().strip() == "step-0000002"
    ok(torchrun("training.supervised.train", "--resume", str(stopped)))

    a, b = (load_file(str(run / "final" / "model.safetensors")) for run in (straight, stopped))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert json.loads((straight / "machine.json").read_text())["processes"] == 2
    checkpoint = straight / "checkpoints" / "step-0000004"
    assert (checkpoint / "rng-0.pt").is_file() and (checkpoint / "rng-1.pt").is_file()
    # one process writes the logs: one header, one row per step, dev rows at 0, 2 and 4
    train_rows = (straight / "train.csv").read_text().splitlines()
    assert train_rows[0].startswith("step,") and [r.split(",")[0] for r in train_rows[1:]] == ["1", "2", "3", "4"]
    # each row counts the step's images over both processes: batch 2 each (what the model card adds up)
    assert [row["images"] for row in read_csv(straight / "train.csv")] == ["4"] * 4
    assert [r.split(",")[0] for r in (straight / "dev.csv").read_text().splitlines()] == ["step", "0", "2", "4"]


def test_two_processes_mae_and_grpo(data, tmp_path):
    ok(torchrun("training.mae.pretrain", "--dataset", data, "--preset", "tiny", "--out", str(tmp_path / "mae"),
                "--batch-size", "2", "--total-steps", "2", "--warmup-epochs", "0", "--precision", "fp32",
                "--threads", "1", "--export", str(tmp_path / "init")))
    assert (tmp_path / "init" / "model.safetensors").is_file()
    done = ok(torchrun("training.grpo.train", "--init-from", str(tmp_path / "init"), "--dataset", data,
                       "--out", str(tmp_path / "grpo"), "--total-steps", "1", "--batch-size", "1",
                       "--group-size", "2", "--max-new-tokens", "12", "12", "--reward-workers", "1",
                       "--precision", "fp32", "--threads", "1"))
    assert done.stdout.count("GRPO:") == 1  # the main process reports, once
    assert (tmp_path / "grpo" / "checkpoints" / "latest").is_file()


def test_processes_not_joined_stop_with_the_fix(data, tmp_path):
    done = torchrun("training.supervised.train", *train_argv(data, tmp_path / "run"), cpu_joined=False)
    assert done.returncode != 0
    output = done.stderr + done.stdout
    assert "2 processes were launched" in output and "ACCELERATE_USE_CPU=1" in output
    assert not (tmp_path / "run" / "checkpoints").exists()


def test_sigterm_to_torchrun_stops_both_processes_after_the_same_step_with_its_checkpoint(data, tmp_path):
    """torchrun passes SIGTERM on to its processes; they agree on the step to stop after and save it."""
    out = tmp_path / "run"
    argv = [*train_argv(data, out), "--total-steps", "5000", "--save-every", "10000", "--eval-every", "0"]
    command, env = torchrun_command("training.supervised.train", *argv)
    launched = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        with sigterm_when_logged(out / "train.csv", 3, pid=launched.pid):  # header and two steps
            output, _ = launched.communicate(timeout=300)
    finally:
        launched.kill()
    steps = [int(row.split(",")[0]) for row in (out / "train.csv").read_text().splitlines()[1:]]
    assert 2 <= steps[-1] < 5000, output[-3000:]
    checkpoint = out / "checkpoints" / f"step-{steps[-1]:07d}"
    assert (out / "checkpoints" / "latest").read_text().strip() == checkpoint.name, output[-3000:]
    assert (checkpoint / "rng-0.pt").is_file() and (checkpoint / "rng-1.pt").is_file()
    assert not (out / "final").exists()
