"""A run's folder: where a run writes, the files that say how it was started, and its checkpoints.

    <run>/<args file>     every argument, as given and as resumed (args.json; mae_args.json, grpo_args.json)
    <run>/machine.json    the hardware it ran on (the model card names it)
    <run>/datasets.json   each data set it read, from the step it began to (a resume may name another)
    <run>/checkpoints/    training.run.checkpointing, each with the state every trainer records
    <run>/stable/         a WSD run's checkpoint at the start of the LR's fall
Each trainer writes its logs and models beside them.
"""
import json
from pathlib import Path

from training.run.arguments import recordable
from training.run.checkpointing import CHECKPOINTS, STABLE, save_checkpoint
from training.run.logs import machine_facts

DATASETS = "datasets.json"


def run_folder(args, default) -> Path:
    """`--out` (a resumed run: the folder it is in), else `default`; args.out becomes it, so the recorded
    arguments name the folder."""
    out = Path(args.out or default).expanduser()
    args.out = str(out)
    return out


def record_start(out: Path, args, accelerator, precision: str, args_file: str = "args.json", step: int = 0) -> None:
    """Creates the folder and writes the arguments, machine.json and datasets.json (main process only);
    `step`: where a resumed run starts."""
    if not accelerator.is_main_process:
        return
    out.mkdir(parents=True, exist_ok=True)
    (out / args_file).write_text(json.dumps(vars(args), indent=1))
    facts = machine_facts(accelerator.device, accelerator.num_processes, precision)
    (out / "machine.json").write_text(json.dumps(facts, indent=1))
    record_dataset(out, getattr(args, "dataset", None), step)


def record_dataset(out: Path, dataset, step: int) -> None:
    """Appends to <out>/datasets.json ([{step, dataset}]) when the run starts reading another data set. A
    resume from an earlier checkpoint forgets the entries after it, as it cuts train.csv back."""
    history = [entry for entry in _dataset_history(out) if entry["step"] < step]
    if dataset and (not history or history[-1]["dataset"] != str(dataset)):
        history.append({"step": step, "dataset": str(dataset)})
    (out / DATASETS).write_text(json.dumps(history, indent=1))


def datasets_read(run: Path, step: int | None = None) -> list[str]:
    """The data sets a run read up to `step` (all of them when None), first to last, from its datasets.json."""
    # an entry at step S was first read by step S + 1; a run of no steps still names the data it began on
    return [entry["dataset"] for entry in _dataset_history(run) if step is None or entry["step"] < max(step, 1)]


def _dataset_history(run: Path) -> list[dict]:
    path = run / DATASETS
    return json.loads(path.read_text()) if path.is_file() else []



def save_run_checkpoint(out: Path, args, step: int, epoch: int, position: int, model, optimizer, accelerator,
                        processor=None, folder: str = CHECKPOINTS, **extra) -> Path:
    """<out>/checkpoints/step-N: weights, optimizer, RNG, and the state every trainer records: the step, the
    data position (`epoch`, `position`: global batches of that epoch done), the arguments, plus `extra`
    (e.g. total_steps, elapsed_s, best_reward). `folder` STABLE: <out>/stable, only the one. Call on every process."""
    state = {"step": step, "epoch": epoch, "position": position, **extra, "args": recordable(args)}
    keep = 1 if folder == STABLE else args.keep
    return save_checkpoint(out / folder, step, model, optimizer, state, processor, accelerator, keep=keep)


__all__ = ["DATASETS", "datasets_read", "record_dataset", "record_start", "run_folder", "save_run_checkpoint"]
