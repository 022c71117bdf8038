"""training/supervised/gpu_run.sh end to end on this CPU with tiny sizes (build -> calibration -> resumed run -> sharded
export), the export of the committed geometry weights at the GPU run's own limits, and the time plan."""
import base64
import hashlib
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import torch

import acai_hf  # noqa: F401  (registers the Auto classes)
from acai_hf.model.modeling_acai import AcaiOMRForConditionalGeneration
from training.release.export_shards import MIB, check_limits, export, generate_tokens, smoke_image
from training.supervised import step_budget
from training.supervised.step_budget import plan

ROOT = Path(__file__).resolve().parents[1]
GEOMETRY = ROOT / "checkpoints" / "acai-omr-small"  # the shipped weights: the geometry line since small-v23

pytestmark = pytest.mark.usefixtures("one_torch_thread")

# tiny sizes; the tiny preset's ~160 KB of float16 weights in 100 KB shards stand for the real ~20 MB in 15 MB
TINY = {
    "REQUIRE_GPU": "0", "SYSTEMS": "40", "UNITS_PER_SHARD": "1", "BUILD_WORKERS": "2", "INIT": "none",
    "PRESET": "tiny", "BATCH": "2", "STEPS": "4", "CAL_STEPS": "2", "WARMUP": "1", "TRAIN_WORKERS": "0",
    "DEV_LIMIT": "2", "DECODE_LIMIT": "0", "EVAL_EVERY": "2", "EVAL_SECONDS": "2", "SAVE_EVERY": "2",
    "SHARD_SIZE": "100KB", "MAX_FILES": "8", "MAX_FILE_MIB": "0.11", "OMP_NUM_THREADS": "1",
}


def weights_as_float16(model) -> dict:
    return {name: tensor.to(torch.float16) for name, tensor in model.state_dict().items()}


def write_probe_wheel(folder: Path) -> Path:
    """A one-module wheel, written by hand (no build backend offline), standing for the carried packages."""
    files = {"acai_wheel_probe.py": b"CARRIED = True\n",
             "acai_wheel_probe-0.1.dist-info/METADATA": b"Metadata-Version: 2.1\nName: acai-wheel-probe\nVersion: 0.1\n",
             "acai_wheel_probe-0.1.dist-info/WHEEL": b"Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\n"
                                                     b"Tag: py3-none-any\n"}
    record = "".join(f"{name},sha256={base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b'=').decode()},"
                     f"{len(data)}\n" for name, data in files.items())
    files["acai_wheel_probe-0.1.dist-info/RECORD"] = (record + "acai_wheel_probe-0.1.dist-info/RECORD,,\n").encode()
    folder.mkdir(parents=True)
    wheel = folder / "acai_wheel_probe-0.1-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return wheel


def test_gpu_run_script_end_to_end_with_tiny_sizes(tmp_path):
    work, output = tmp_path / "work", tmp_path / "out" / "model"
    write_probe_wheel(tmp_path / "wheels")
    env = {**os.environ, **TINY, "WORK": str(work), "OUTPUT": str(output), "PYTHON": sys.executable,
           "WHEELS": str(tmp_path / "wheels")}
    done = subprocess.run(["bash", str(ROOT / "training" / "supervised" / "gpu_run.sh")], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    log = (work / "gpu_run.log").read_text()
    assert "training: steps 2 -> 4" in log and "done:" in log
    # the carried wheels went into the work folder, not this Python
    assert f"installed 1 wheels from {tmp_path / 'wheels'}" in log and (work / "site" / "acai_wheel_probe.py").exists()

    # one folder, within the limits, the weights in shards with their index
    files = check_limits(output, 8, int(0.11 * MIB))
    names = [name for name, _ in files]
    assert sum(name.endswith(".safetensors") for name in names) >= 2 and "model.safetensors.index.json" in names
    assert {"config.json", "processor_config.json", "tokenizer.json"} <= set(names)
    with pytest.raises(ValueError, match="limit 7"):
        check_limits(output, 7, int(0.11 * MIB))

    # the exported model is the finished run's final/, float32 again when loaded
    loaded = AcaiOMRForConditionalGeneration.from_pretrained(output)
    assert next(loaded.parameters()).dtype == torch.float32
    trained = AcaiOMRForConditionalGeneration.from_pretrained(work / "run" / "final")
    assert weights_as_float16(loaded).keys() == weights_as_float16(trained).keys()
    assert all(torch.equal(a, b) for a, b in zip(weights_as_float16(loaded).values(),
                                                  weights_as_float16(trained).values()))
    # and the app's loader writes tokens with it on a system of the built data
    assert len(generate_tokens(output, smoke_image(work / "data"), tokens=3)) == 3


def test_committed_geometry_weights_export_in_eight_files_of_16_mib(tmp_path):
    out = tmp_path / "model"
    files = export(GEOMETRY, out)  # the GPU run's defaults: 15 MB shards, 8 files, 16 MiB
    assert len(files) <= 8 and max(size for _, size in files) <= 16 * MIB
    assert sum(name.endswith(".safetensors") for name, _ in files) == 2
    original = AcaiOMRForConditionalGeneration.from_pretrained(GEOMETRY)
    loaded = AcaiOMRForConditionalGeneration.from_pretrained(out)
    assert all(torch.equal(a, b) for a, b in zip(weights_as_float16(original).values(),
                                                  weights_as_float16(loaded).values()))
    assert len(generate_tokens(out, smoke_image(), tokens=4)) == 4
    with pytest.raises(ValueError, match="other files than a model"):  # a mistyped OUTPUT is not wiped
        export(GEOMETRY, tmp_path)
    assert (tmp_path / "model" / "config.json").is_file()


def test_time_plan_fills_the_time_left_and_counts_evaluations():
    # 10 steps/s, 300 s left, 20 s to start, 30 s per evaluation, 10 s to save: 240 s of loop
    total, minutes = plan(200, 10.0, 300, 20, eval_every=0, eval_seconds=30)
    assert (total, minutes) == (200 + 2400, 4.0)
    total, _ = plan(200, 10.0, 300, 20, eval_every=1000, eval_seconds=30)  # each step also pays 30/1000 s
    assert total == 200 + 1846 and (total - 200) / 10 + 1 * 30 <= 240  # one evaluation, at step 1000
    assert plan(200, 10.0, 300, 20, max_steps=500)[0] == 500
    assert plan(200, 10.0, 50, 20, eval_seconds=30) == (200, 0.0)  # no time left: nothing more


def test_pace_is_the_last_stretch_at_todays_batch_without_its_evaluations(tmp_path):
    log = tmp_path / "train.csv"
    # 1 s a step at batch 8 to step 40; resumed from step 20 (a branch) at batch 16, 2 s a step,
    # with a 60-s evaluation in step 50
    rows = [(step, float(step), 8) for step in range(1, 41)]
    rows += [(step, 20.0 + 2 * (step - 20) + (60 if step >= 50 else 0), 16) for step in range(21, 61)]
    log.write_text("step,elapsed_s,images\n" + "".join(f"{s},{e},{i}\n" for s, e, i in rows))
    last_step, last_s, rate = step_budget.pace(log)
    assert (last_step, last_s) == (60, 160.0) and rate == pytest.approx(0.5)
    log.write_text("step,elapsed_s\n1,1.0\n")
    with pytest.raises(ValueError, match="fewer than two steps"):
        step_budget.pace(log)
    log.write_text("step,elapsed_s\n")
    with pytest.raises(ValueError, match="no steps logged"):
        step_budget.pace(log)


def test_time_plan_of_a_wsd_run_starts_at_its_plateau_checkpoint(tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    # 1 step/s logged up to the annealed end, step 40; the plateau checkpoint is step 30
    (run / "train.csv").write_text("step,elapsed_s\n" + "".join(f"{s},{s}.0\n" for s in range(1, 41)))
    stable = run / "stable" / "step-0000030"
    stable.mkdir(parents=True)
    (stable / "trainer_state.json").write_text('{"step": 30}')
    (run / "stable" / "latest").write_text(stable.name)
    budget = ["--seconds", "110", "--calibration-seconds", "40"]
    step_budget.main([str(run), *budget])
    step_budget.main([str(run), *budget, "--start", str(run / "stable")])
    from_end, from_plateau = (line.split()[0] for line in capsys.readouterr().out.splitlines())
    assert (int(from_end), int(from_plateau)) == (140, 130)  # 110 s - 10 s saving: 100 more steps
    with pytest.raises(SystemExit, match="no checkpoint"):
        step_budget.main([str(run), *budget, "--start", str(tmp_path)])
    # killed after logging step 40 with its newest checkpoint at 35: a plain --resume goes on from 35
    latest = run / "checkpoints" / "step-0000035"
    latest.mkdir(parents=True)
    (latest / "trainer_state.json").write_text('{"step": 35}')
    (run / "checkpoints" / "latest").write_text(latest.name)
    step_budget.main([str(run), *budget])
    assert int(capsys.readouterr().out.split()[0]) == 135
