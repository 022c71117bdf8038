"""Ship a trained model as the app's default: `checkpoints/acai-omr-small/`.

    python -m training.release.ship RUN/best --dataset ~/.cache/acai-omr/data-v1 [--dev-limit 100 | --dev-per-source 50]
                                    [--force]

The candidate and the model already shipped are decoded greedily on the same dev systems (the first
--dev-limit, or --dev-per-source drawn from each source, so that real music weighs as much as procedural
music); the candidate replaces the shipped one only when its dev SER is lower (or with --force, or when
nothing ships yet).
Weights are stored in float16 (half the bytes; the repo keeps its models under 50 MiB) while the config
says float32, so `from_pretrained` computes in float32: float16 matmuls are slow on CPUs. The folder
holds config, generation config, safetensors, processor and tokenizer files, `metrics.json` (dev
figures, where the weights came from, and the chain of runs behind them: training.release.lineage) and
the model card as README.md. It is written next to the target and renamed into place, so an interrupted
ship leaves the old model intact.
"""
import argparse
import copy
import json
import shutil
import time
from pathlib import Path

import torch

from training.release.lineage import lineage, run_of, source_step
from training.run.checkpointing import _replace_dir

REPO = Path(__file__).resolve().parents[2]
DEFAULT_TARGET = REPO / "checkpoints" / "acai-omr-small"
MAX_BYTES = 50 * 2**20


def folder_bytes(folder: Path) -> int:
    return sum(f.stat().st_size for f in Path(folder).rglob("*") if f.is_file())


def write_shipped_folder(model, processor, out: Path, metrics: dict | None, card: Path | None = None,
                         max_shard_size: str | int | None = None) -> int:
    """model (any dtype) -> `out` with float16 weights and a float32 config; returns the folder's bytes.
    `metrics` None: no metrics.json (a folder that must stay within a file count). `max_shard_size`
    (e.g. "15MB"): weights in safetensors shards of at most that size plus their index, which
    `from_pretrained` reads as it reads one file."""
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    sharding = {"max_shard_size": max_shard_size} if max_shard_size else {}
    copy.deepcopy(model).to(torch.float16).save_pretrained(tmp, **sharding)  # the caller's model stays as it was
    config_path = tmp / "config.json"
    config = json.loads(config_path.read_text())
    config["dtype"] = "float32"
    for sub in ("encoder", "decoder"):
        if isinstance(config.get(sub), dict):
            config[sub]["dtype"] = "float32"
    config_path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
    processor.save_pretrained(tmp)
    if metrics is not None:
        (tmp / "metrics.json").write_text(json.dumps(metrics, indent=1) + "\n")
    if card is not None and card.is_file():
        shutil.copyfile(card, tmp / "README.md")
    size = folder_bytes(tmp)
    if size > MAX_BYTES:
        shutil.rmtree(tmp, ignore_errors=True)
        raise ValueError(f"the shipped folder would be {size / 2**20:.1f} MiB; the limit is {MAX_BYTES / 2**20:.0f} MiB")
    out.parent.mkdir(parents=True, exist_ok=True)
    _replace_dir(tmp, out)
    return size


def dev_metrics(model, processor, dataset, limit: int | None, batch_size: int = 8, per_source: int | None = None) -> dict:
    """Greedy decoding on the first `limit` dev systems, or on `per_source` of each source (then `limit` is not
    used): training.release.evaluate's metrics, by source too."""
    from training.data.loaders import load_system_dataset
    from training.release.evaluate import decode, score, select_systems

    data = load_system_dataset(dataset, "dev")
    data = select_systems(data, limit=None if per_source else limit, per_source=per_source)
    start = time.perf_counter()
    predictions = decode(model, processor, list(data["image"]), batch_size=batch_size)
    seconds = time.perf_counter() - start
    sources = data["source"] if "source" in data.column_names else None
    metrics = score(predictions, data["lmx"], data["musicxml"], sources=sources)
    metrics["systems"] = len(predictions)
    metrics["seconds_per_system"] = seconds / max(1, len(predictions))
    return metrics


def describe(name: str, metrics: dict) -> str:
    sources = ", ".join(f"{source} {kind['ser']:.4f}" for source, kind in metrics.get("by_source", {}).items())
    return (f"{name}: dev SER {metrics['ser']:.4f}, TEDn {metrics['tedn']:.4f} on {metrics['systems']} systems"
            + (f" ({sources})" if sources else ""))


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("candidate", help="model folder (a run's best/ or a checkpoint)")
    parser.add_argument("--dataset", required=True, help="data with a dev split, to compare the models on")
    parser.add_argument("--dev-limit", type=int, default=100, help="compare on the first N dev systems")
    parser.add_argument("--dev-per-source", type=int, default=None,
                        help="compare on N dev systems drawn from each source instead (seeded: the same for both)")
    parser.add_argument("--out", default=str(DEFAULT_TARGET))
    parser.add_argument("--card", default=str(REPO / "model_card.md"), help="copied into the folder as README.md")
    parser.add_argument("--force", action="store_true", help="ship even if not better on dev")
    parser.add_argument("--threads", type=int, default=None)
    return parser.parse_args(argv)


def main(argv=None) -> dict:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    import acai_hf  # noqa: F401  (registers the Auto classes)
    from acai_hf.model.loading import load

    out = Path(args.out)
    model, processor = load(args.candidate)
    model = model.float()
    candidate = dev_metrics(model, processor, args.dataset, args.dev_limit, per_source=args.dev_per_source)
    print(describe(f"candidate {args.candidate}", candidate))
    if (out / "config.json").is_file() and not args.force:
        current_model, current_processor = load(str(out))
        current = dev_metrics(current_model.float(), current_processor, args.dataset, args.dev_limit,
                              per_source=args.dev_per_source)
        print(describe(f"shipped {out}", current))
        if candidate["ser"] >= current["ser"]:
            print("not shipped: the candidate is not better on dev")
            return {"shipped": False, "candidate": candidate, "current": current}
    source = Path(args.candidate)
    provenance = json.loads((source / "metrics.json").read_text()) if (source / "metrics.json").is_file() else {}
    selection = {"dev_per_source": args.dev_per_source} if args.dev_per_source else {"dev_limit": args.dev_limit}
    metrics = {"dev": candidate, **selection, "dataset": str(args.dataset),
               "source": str(args.candidate), "source_metrics": provenance}
    run = run_of(source)
    if run is not None:  # read now, while the folder being replaced still holds the chain it started from
        metrics["lineage"] = lineage(run, source_step(source))
    size = write_shipped_folder(model, processor, out, metrics, Path(args.card))
    print(f"shipped to {out} ({size / 2**20:.1f} MiB)")
    return {"shipped": True, "candidate": candidate, "bytes": size}


if __name__ == "__main__":
    main()
