"""Atomic, resumable checkpoints.

    <run>/checkpoints/step-0001200/   model (save_pretrained: loadable on its own), processor,
                                      optimizer.pt, trainer_state.json, rng-<rank>.pt
    <run>/checkpoints/latest          name of the newest complete checkpoint
    <run>/stable/step-0003000/        a WSD run's checkpoint at the start of its LR's fall (+ its own latest),
                                      the one a lengthened run continues (training/run/lr_sched.py)
    <run>/best/                       the best dev model so far + metrics.json; kept across resumes

A checkpoint is written into `<name>.tmp` and renamed when complete, so a run killed mid-write
leaves the previous checkpoint intact. A run resumed from an earlier checkpoint than its newest (from
stable/) branches there: the checkpoints past it belong to the branch left behind and go at its first
save. Every process saves its own RNG states: after a resume each one continues the very same random
stream (dropout, Gumbel noise, scheduled-sampling draws).
trainer_state.json holds the step, the data position (`epoch`, `position`: global batches of that epoch
done) and the run's arguments (`args`).
"""
import json
import os
import random
import shutil
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file

from acai_hf.atomic_write import write_atomically

CHECKPOINTS = "checkpoints"  # <run>/checkpoints/
LATEST = "latest"
STABLE = "stable"  # <run>/stable/
STATE = "trainer_state.json"


def rng_state() -> dict:
    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _process(accelerator):
    """(is main process, rank, barrier)"""
    if accelerator is None:
        return True, 0, lambda: None
    return accelerator.is_main_process, accelerator.process_index, accelerator.wait_for_everyone


def _replace_dir(tmp: Path, final: Path) -> None:
    """Rename tmp -> final; an existing final (e.g. the same step written by an earlier attempt)
    is moved aside first and removed only once the new one is in place."""
    old = final.with_name(final.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if final.exists():
        os.replace(final, old)
    os.replace(tmp, final)
    shutil.rmtree(old, ignore_errors=True)


def save_checkpoint(directory, step: int, model, optimizer, state: dict, processor=None, accelerator=None,
                    keep: int = 2) -> Path:
    """Writes <directory>/step-<step>; `model` is the unwrapped model, `state` JSON-serialisable
    (step, data position, schedules, args...). Keeps the newest `keep` checkpoints. Call on every process."""
    is_main, rank, barrier = _process(accelerator)
    directory = Path(directory)
    final = directory / f"step-{step:07d}"
    tmp = directory / f"step-{step:07d}.tmp"
    if is_main:
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        model.save_pretrained(tmp)
        if processor is not None:
            processor.save_pretrained(tmp)
        torch.save(optimizer.state_dict(), tmp / "optimizer.pt")
        (tmp / STATE).write_text(json.dumps(state, indent=1))
    barrier()
    torch.save(rng_state(), tmp / f"rng-{rank}.pt")
    barrier()
    if is_main:
        _replace_dir(tmp, final)
        write_atomically(directory / LATEST, lambda path: path.write_text(final.name))
        steps = sorted(p for p in directory.glob("step-*") if p.is_dir() and not p.name.endswith((".tmp", ".old")))
        left_behind = [p for p in steps if p.name > final.name]  # zero-padded: names sort as steps
        steps = [p for p in steps if p.name <= final.name]
        for stale in left_behind + (steps[:-keep] if keep else []):
            shutil.rmtree(stale, ignore_errors=True)
    barrier()
    return final


def latest_checkpoint(path) -> Path | None:
    """A checkpoint folder from a run folder, its checkpoints/ folder or a checkpoint itself."""
    path = Path(path)
    if (path / STATE).is_file():
        return path
    for directory in (path / CHECKPOINTS, path):
        if (directory / LATEST).is_file():
            return directory / (directory / LATEST).read_text().strip()
    return None


def load_checkpoint(path, model, optimizer=None, accelerator=None) -> dict:
    """Restores weights, optimizer and this process's RNG; returns the trainer state."""
    _, rank, _ = _process(accelerator)
    path = Path(path)
    weights = load_file(path / "model.safetensors", device=str(next(model.parameters()).device))
    model.load_state_dict(weights, strict=True)
    if optimizer is not None:
        optimizer.load_state_dict(torch.load(path / "optimizer.pt", map_location="cpu", weights_only=False))
    rng_file = path / f"rng-{rank}.pt"
    if not rng_file.exists():  # resumed on more processes than saved: the others start fresh streams
        rng_file = path / "rng-0.pt"
    set_rng_state(torch.load(rng_file, weights_only=False))
    return read_state(path)


def read_state(path) -> dict:
    """A checkpoint's trainer state. MAE and GRPO checkpoints written before the trainers shared one
    skeleton name the data position `batch_in_epoch`: it is read as `position`."""
    state = json.loads((Path(path) / STATE).read_text())
    if "batch_in_epoch" in state:
        state["position"] = state.pop("batch_in_epoch")
    return state


def save_best(run_dir, model, processor, metrics: dict, accelerator=None) -> Path:
    """Writes <run_dir>/best atomically: a model folder that from_pretrained loads, plus metrics.json."""
    is_main, _, barrier = _process(accelerator)
    final = Path(run_dir) / "best"
    if is_main:
        tmp = final.with_name("best.tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        model.save_pretrained(tmp)
        if processor is not None:
            processor.save_pretrained(tmp)
        (tmp / "metrics.json").write_text(json.dumps(metrics, indent=1))
        _replace_dir(tmp, final)
    barrier()
    return final


def best_metrics(run_dir) -> dict | None:
    """The metrics of <run_dir>/best, or None when there is none yet."""
    path = Path(run_dir) / "best" / "metrics.json"
    return json.loads(path.read_text()) if path.is_file() else None


__all__ = ["CHECKPOINTS", "STABLE", "save_checkpoint", "load_checkpoint", "latest_checkpoint", "read_state",
           "save_best", "best_metrics", "rng_state", "set_rng_state"]
