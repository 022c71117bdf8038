"""Training speed of the `small` preset on this CPU: images/s per training path, and model FLOP utilisation.

A step is what training.supervised.train does at tf_prob 1: forward (ScheduledSampling wrapper, one decoder pass),
CE, backward, gradient clipping, AdamW. The same images (engine data when present, else synthetic
systems) go through every path, each in its own process; data loading is not timed. Paths:

    fp32-eager      fp32, AdamW's per-tensor loop (foreach=False), random batches (padded to the widest),
                    the decoder on the whole padded batch
    foreach         + multi-tensor AdamW (what training.supervised.train uses)
    fused           + fused AdamW kernel instead (the trainer avoids it: wrong on mixed memory layouts)
    bf16            foreach + bf16 autocast (pays only with AMX / AVX512-BF16; without them, timed on
                    2 images of the first batch, as a full batch takes minutes)
    bucketed        foreach + batches of similar width (training.batches.width_buckets)
    grouped         + the decoder on groups of 4 sequences of similar label length
    default         + channels-last conv stem: what training.supervised.train does on this CPU (training.run.fast_path)
    default-compile + torch.compile of every transformer block (dynamic shapes)
    default-bf16    default + bf16 autocast: the trainer's path where --precision auto picks bf16 (AMX)
    default-bf16-compile  + torch.compile of every transformer block

MFU = FLOPs counted by torch's FlopCounterMode over the timed steps / time / peak matmul FLOP/s, the
peak measured in the same run (fp32 and bf16 GEMM). The FLOPs are those each path really computes, so
a path that skips padding does fewer. Prints a table and the speed-up of the default path over
fp32-eager.

    python bench/train_step.py [--batch-size 16] [--batches 4] [--threads 1] [--paths fp32-eager,default]
                               [--rounds 2]   # on shared cores: each path's best of 2 interleaved runs
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

EAGER = {"precision": "fp32", "optimizer": "loop", "grouping": "random", "decoder_groups": 0,
         "channels_last": False, "compile": False}
PATHS = {
    "fp32-eager": EAGER,
    "foreach": {**EAGER, "optimizer": "foreach"},
    "fused": {**EAGER, "optimizer": "fused"},
    "bf16": {**EAGER, "optimizer": "foreach", "precision": "bf16"},
    "bucketed": {**EAGER, "optimizer": "foreach", "grouping": "bucketed"},
    "grouped": {**EAGER, "optimizer": "foreach", "grouping": "bucketed", "decoder_groups": 4},
    "default": {**EAGER, "optimizer": "foreach", "grouping": "bucketed", "decoder_groups": 4, "channels_last": True},
}
PATHS["default-compile"] = {**PATHS["default"], "compile": True}
PATHS["default-bf16"] = {**PATHS["default"], "precision": "bf16"}  # the trainer's path on AMX (precision auto)
PATHS["default-bf16-compile"] = {**PATHS["default-bf16"], "compile": True}
DEFAULT_PATH = "default"  # training.supervised.train's defaults on this CPU (precision auto -> fp32 without AMX)
DATASET = Path("~/.cache/acai-omr/data-v1").expanduser()


def make_batches(batch_size: int, batches: int, seed: int) -> dict:
    """{"random": [...], "bucketed": [...]}: the same images, grouped two ways, collated."""
    import numpy as np

    from acai_hf.model.configuration_acai import AcaiOMRConfig
    from acai_hf.model.loading import default_processor
    from training.batches.collate import SystemCollator

    config = AcaiOMRConfig.from_preset("small")
    processor = default_processor(config)
    count = batch_size * batches
    rng = np.random.default_rng(seed)
    if DATASET.exists():
        from training.batches.splits import load_splits

        train, _ = load_splits(str(DATASET))
        rows = [train[int(i)] for i in rng.choice(len(train), count, replace=False)]
        source = f"{DATASET} ({count} random train systems)"
    else:  # synthetic systems of typical widths and label lengths
        tokens = "measure C4 quarter stem:up staff:1 D4 eighth beam:begin E4 eighth beam:end".split()
        rows = [{"image": rng.integers(0, 256, (128, int(rng.integers(300, 900))), dtype=np.uint8),
                 "lmx": " ".join(tokens * int(rng.integers(10, 60)))} for _ in range(count)]
        source = f"synthetic ({count} systems)"
    collate = SystemCollator(processor, max_label_length=config.decoder.max_position_embeddings)
    widths = [processor.image_processor.resize_one(row["image"]).shape[1] for row in rows]
    order = {"random": list(range(count)), "bucketed": list(np.argsort(widths, kind="stable"))}
    grouped = {}
    for name, indices in order.items():
        chunks = [indices[i: i + batch_size] for i in range(0, count, batch_size)]
        grouped[name] = [collate([rows[i] for i in chunk]) for chunk in chunks]
    return {"batches": grouped, "source": source}


def matmul_peak(dtype_name: str, size: int, seconds: float = 2.0) -> float:
    """FLOP/s of a square GEMM, best of repeated runs within about `seconds`."""
    import torch

    dtype = getattr(torch, dtype_name)
    a, b = torch.randn(size, size, dtype=dtype), torch.randn(size, size, dtype=dtype)
    a @ b  # warm-up
    best, deadline = float("inf"), time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        start = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - start)
    return 2 * size ** 3 / best


def compile_blocks(model) -> int:
    """torch.compile every encoder and decoder block (dynamic shapes), used in training mode only so that
    the FLOP count runs eager. Not the stem: inductor fails on its convolution backward (torch 2.13)."""
    import torch

    layers = [*model.encoder.layers, *model.decoder.layers]
    for layer in layers:
        eager = layer.forward
        compiled = torch.compile(eager, dynamic=True)

        def forward(*args, _layer=layer, _eager=eager, _compiled=compiled, **kwargs):
            run = _compiled if _layer.training and torch.is_grad_enabled() else _eager
            return run(*args, **kwargs)

        layer.forward = forward
    return len(layers)


def run_path(name: str, batches_file: str, passes: int, threads: int | None) -> dict:
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from acai_hf.model.modeling_acai import AcaiOMRForConditionalGeneration
    from training.run.fast_path import channels_last_stem
    from training.run.precision import cpu_has_fast_bf16
    from training.supervised.scheduled_sampling import ScheduledSampling

    if threads:
        torch.set_num_threads(threads)
    spec = PATHS[name]
    batches = torch.load(batches_file, weights_only=False)["batches"][spec["grouping"]]
    torch.manual_seed(0)
    model = AcaiOMRForConditionalGeneration.from_preset("small").train()
    wrapper = ScheduledSampling(model, group_size=spec["decoder_groups"])
    if spec["channels_last"]:
        channels_last_stem(model)
    if spec["compile"]:
        compile_blocks(model)
    options = {"loop": {"foreach": False}, "foreach": {"foreach": True}, "fused": {"fused": True}}[spec["optimizer"]]
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, betas=(0.9, 0.95), **options)
    autocast = torch.autocast("cpu", dtype=torch.bfloat16, enabled=spec["precision"] == "bf16")

    def step(batch):
        with autocast:
            loss, _ = wrapper(batch["pixel_values"], batch["pixel_mask"], batch["labels"])
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    if spec["precision"] == "bf16" and not cpu_has_fast_bf16():  # emulated: time 2 images, once
        batches, passes = [{k: v[:2] for k, v in batches[0].items()}], 1
    started = time.perf_counter()
    for batch in batches:  # warm-up (and compilation) on every shape
        step(batch)
    warmup = time.perf_counter() - started
    started = time.perf_counter()
    for _ in range(passes):
        for batch in batches:
            step(batch)
    seconds = time.perf_counter() - started
    images = passes * sum(len(b["pixel_values"]) for b in batches)

    flops = 0
    wrapper.eval()  # the work of one pass, counted on the eager model (compiled blocks run in training only)
    for batch in batches:
        with FlopCounterMode(display=False) as counter:
            loss, _ = wrapper(batch["pixel_values"], batch["pixel_mask"], batch["labels"])
            loss.backward()
        optimizer.zero_grad(set_to_none=True)
        flops += counter.get_total_flops()
    return {"path": name, **spec, "images_per_s": images / seconds, "seconds": seconds, "warmup_s": warmup,
            "flop_per_s": passes * flops / seconds, "threads": torch.get_num_threads()}


def worker(args) -> dict:
    if args.worker == "matmul":
        import torch

        if args.threads:
            torch.set_num_threads(args.threads)
        return {"fp32": matmul_peak("float32", 2048), "bf16": matmul_peak("bfloat16", 1024)}
    return run_path(args.worker, args.batches_file, args.passes, args.threads)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--batches", type=int, default=4, help="distinct batches (timed passes go over all)")
    parser.add_argument("--passes", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=1, help="repeat every path, keep its best (shared CPUs)")
    parser.add_argument("--paths", default=",".join(PATHS))
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", default=None, help="also write the results here")
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--batches-file", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args)))
        return

    import torch

    data = make_batches(args.batch_size, args.batches, args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        batches_file = os.path.join(tmp, "batches.pt")
        torch.save(data, batches_file)

        def spawn(name):
            command = [sys.executable, __file__, "--worker", name, "--batches-file", batches_file,
                       "--passes", str(args.passes)] + (["--threads", str(args.threads)] if args.threads else [])
            out = subprocess.run(command, capture_output=True, text=True)
            if out.returncode:
                print(f"{name} failed:\n{out.stderr[-3000:]}", file=sys.stderr)
                return None
            return json.loads(out.stdout.strip().splitlines()[-1])

        # rounds interleave the paths and keep each one's best: other jobs on shared cores then
        # slow down one attempt, not one path
        peaks, best = [], {}
        for _ in range(args.rounds):
            peaks.append(spawn("matmul"))
            for name in args.paths.split(","):
                result = spawn(name)
                if result is not None and result["images_per_s"] > best.get(name, {}).get("images_per_s", 0):
                    best[name] = result
        peak = {kind: max(p[kind] for p in peaks if p) for kind in ("fp32", "bf16")}
        results = list(best.values())

    widths = {name: sum(b["pixel_values"].shape[-1] * len(b["pixel_values"]) for b in group)
              for name, group in data["batches"].items()}
    print(f"data: {data['source']}, batch {args.batch_size}; padded width per image: "
          f"random {widths['random'] / args.batch_size / args.batches:.0f} px, "
          f"bucketed {widths['bucketed'] / args.batch_size / args.batches:.0f} px")
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores; "
          f"matmul peak fp32 {peak['fp32'] / 1e9:.1f} GFLOP/s, bf16 {peak['bf16'] / 1e9:.1f} GFLOP/s")
    print(f"{'path':<18}{'images/s':>10}{'GFLOP/s':>10}{'MFU fp32':>10}{'MFU bf16':>10}{'warm-up s':>11}")
    for r in results:
        print(f"{r['path']:<18}{r['images_per_s']:>10.2f}{r['flop_per_s'] / 1e9:>10.1f}"
              f"{r['flop_per_s'] / peak['fp32']:>10.1%}{r['flop_per_s'] / peak['bf16']:>10.1%}{r['warmup_s']:>11.1f}")
    if peak["bf16"] < peak["fp32"]:
        print("(no fast bf16 here: bf16 GEMM is slower than fp32, so utilisation against it exceeds 100%)")
    by_name = {r["path"]: r for r in results}
    if "fp32-eager" in by_name:
        base = by_name["fp32-eager"]["images_per_s"]
        default = by_name.get(DEFAULT_PATH)
        if default:
            print(f"default path ({DEFAULT_PATH}) vs fp32-eager: {default['images_per_s'] / base:.2f}x")
        best = max(results, key=lambda r: r["images_per_s"])
        print(f"fastest path ({best['path']}) vs fp32-eager: {best['images_per_s'] / base:.2f}x")
    if args.json:
        Path(args.json).write_text(json.dumps({"peak": peak, "results": results, "source": data["source"]}, indent=1))


if __name__ == "__main__":
    main()
