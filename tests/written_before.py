"""Checkpoints as the trainers wrote them before they shared one skeleton (commit 1f32eff): some arguments
under other names, and MAE's and GRPO's data position as `batch_in_epoch`."""
import json
from pathlib import Path

SUPERVISED_NAMES = {"grad_clip": "clip"}  # today's argument: its name in training/train.py then
MAE_NAMES = {"out": "output_dir", "grad_accum": "accum", "total_steps": "max_steps", "workers": "num_workers",
             "save_every": "checkpoint_every"}  # training/pretrain_mae.py then
GRPO_NAMES = {"init_from": "model", "out": "output_dir", "total_steps": "steps", "workers": "num_workers",
              "dev_limit": "eval_limit", "save_every": "checkpoint_every"}  # training/grpo.py then


def as_written_before(checkpoint, old_names: dict, position_key: str = "position") -> dict:
    """Rewrites a checkpoint's trainer_state.json in the old format; returns the rewritten state."""
    path = Path(checkpoint) / "trainer_state.json"
    state = json.loads(path.read_text())
    state[position_key] = state.pop("position")
    state["args"] = {old_names.get(key, key): value for key, value in state["args"].items()}
    path.write_text(json.dumps(state, indent=1))
    return state
