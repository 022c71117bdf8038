"""The chain of training runs a model's weights went through, first to last: what the model card counts
(steps, images, hours, machines) and what `training.release.ship` records in the shipped folder's
metrics.json, so the account survives a machine whose run folders are gone."""
import json
import re
from pathlib import Path

from training.run.folder import datasets_read
from training.run.logs import read_csv


def read_json(path: Path) -> dict | None:
    return json.loads(path.read_text()) if path.is_file() else None


def source_step(folder: Path) -> int | None:
    """The training step a saved model folder holds (best/ or checkpoints/step-N)."""
    for name in ("metrics.json", "trainer_state.json"):
        data = read_json(folder / name)
        if data and "step" in data:
            return int(data["step"])
    match = re.fullmatch(r"step-(\d+)", folder.name)
    return int(match.group(1)) if match else None


def run_path(folder: Path) -> Path:
    """Where the run of a saved model folder (RUN/final, RUN/best, RUN/checkpoints/step-N) is, or was."""
    return folder.parent.parent if folder.parent.name == "checkpoints" else folder.parent


def run_of(folder: Path) -> Path | None:
    """The run folder a saved model folder belongs to, while it is on this machine."""
    parent = run_path(folder)
    return parent if (parent / "args.json").is_file() else None


def recorded_lineage(shipped: Path, source: str | None) -> list[dict] | None:
    """The chain behind the weights `source` names, as a shipped model folder recorded it: the whole chain
    while the folder still holds those weights; once it ships a later model trained from them, the part of
    that model's chain up to the run `source` belongs to; None when the folder knows nothing of it."""
    metrics = read_json(shipped / "metrics.json") or {}
    chain = metrics.get("lineage") or []
    if source is None or metrics.get("source") == source:
        return chain or None
    name = run_path(Path(source)).name
    for index, link in enumerate(chain):
        if link.get("run") == name:
            return chain[:index + 1]
    return None


def images_seen(rows: list[dict], steps: int, args: dict) -> int:
    """System images a run trained on up to `steps`: each step's global batch where train.csv logged it
    (`images`: the batch, per process, times the processes), else the batch and accumulation its args.json
    records, one process (runs before the column, all of one process but the steps that say otherwise)."""
    logged = [int(row["images"]) for row in rows if row.get("images")]
    per_step = int(args.get("batch_size") or 0) * int(args.get("grad_accum") or 1)
    return sum(logged) + (steps - len(logged)) * per_step


def lineage(run: Path, step: int | None = None) -> list[dict]:
    """The runs the weights went through, first to last, following each run's `--init-from` back while
    it names a folder of another training run: [{run, steps (up to the step passed on), hours, images, machine,
    dataset (the last run's), datasets (each it read, first to last)}].
    A start from a shipped model folder whose run is not on this machine continues with the chain that
    folder recorded; a start from anything else (e.g. an MAE export) is the first entry, as {run, external: True}."""
    chain, seen = [], set()
    while True:
        seen.add(run.resolve())
        args = read_json(run / "args.json") or {}
        rows = [row for row in read_csv(run / "train.csv") if step is None or int(row["step"]) <= step]
        steps = int(rows[-1]["step"]) if rows else 0
        chain.append({"run": run.name, "steps": steps, "hours": float(rows[-1]["elapsed_s"]) / 3600 if rows else 0.0,
                      "images": images_seen(rows, steps, args),
                      "machine": read_json(run / "machine.json"), "dataset": args.get("dataset"),
                      "datasets": datasets_read(run, steps) or ([args["dataset"]] if args.get("dataset") else [])})
        if not args.get("init_from"):
            break
        # a start from a shipped model folder names the run its weights came from (training.supervised.train records it)
        source = Path(args.get("init_from_source") or args["init_from"]).expanduser()
        parent = run_of(source)
        if parent is None:
            recorded = recorded_lineage(Path(args["init_from"]).expanduser(), args.get("init_from_source"))
            chain.extend(reversed(recorded) if recorded else [{"run": str(source), "external": True}])
            break
        if parent.resolve() in seen:
            raise ValueError(f"{run}: --init-from leads back to {parent}, a run already in the chain")
        run, step = parent, source_step(source)
    return chain[::-1]
