"""Two cores, one trainer: one process on two threads, or two processes on one thread each (DDP over gloo)?

    python bench/cpu_processes.py [--dataset ~/.cache/acai-omr/data-mix-v3v6v7v8]
                                  [--init-from checkpoints/acai-omr-small] [--steps 60] [--skip 10] [--rounds 1]

Each layout runs the real trainer (`training.supervised.train`, the geometry recipe of the shipped line) for
--steps optimizer steps of the same global batch (8: one process of 8, or two of 4), from the same weights and
the same seed, without checkpoints or dev evaluation, in a fresh run folder. Its figure is the global images/s
and tokens/s over the steps after --skip (start-up, the first batches' allocations), from the run's
train.csv (`elapsed_s`, the loop's own clock). The layouts alternate, A B A B..., so a drifting machine
shows as a spread between rounds. The two-process layout is launched as training/run/launch.py says
(`ACCELERATE_USE_CPU=1 torchrun --nproc_per_node 2 ... --threads 1`).
"""
import argparse
import csv
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RECIPE = ["--lr", "5e-5", "--encoder-lr", "5e-5", "--layer-decay", "1.0", "--warmup-steps", "10", "--ss-start", "1.0",
          "--augment-p", "0.1", "--box-attention", "1.0", "--box-glyphs", "--dense-loss", "1.0",
          "--corrupt-inputs", "0.3", "--corrupt-only", "pitches", "--repeat-time-signatures", "3",
          "--signature-weight", "10", "--precision", "auto"]
GLOBAL_BATCH = 8
LAYOUTS = {  # name: (processes, threads each)
    "1 process x 2 threads": (1, 2),
    "2 processes x 1 thread": (2, 1),
}


def run_layout(processes: int, threads: int, args, out: Path) -> tuple[float, float]:
    """Global (images/s, tokens/s) of the trainer in this layout over the steps after args.skip."""
    trainer = ["-m", "training.supervised.train", "--dataset", str(args.dataset), "--init-from", str(args.init_from),
               "--out", str(out), "--batch-size", str(GLOBAL_BATCH // processes), "--total-steps", str(args.steps),
               "--save-every", "0", "--dev-limit", "0", "--threads", str(threads), *RECIPE]
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "TQDM_DISABLE": "1"}
    if processes == 1:
        command = [sys.executable, *trainer]
    else:
        command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(processes),
                   *trainer]
        env["ACCELERATE_USE_CPU"] = "1"
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    rows = list(csv.DictReader((out / "train.csv").open()))
    timed = rows[args.skip:]
    seconds = float(rows[-1]["elapsed_s"]) - float(rows[args.skip - 1]["elapsed_s"])
    # every step takes the global batch; its tokens are logged as a rate over the step's own time, which is
    # the batch over its images/s: back to counts
    tokens = sum(float(row["tokens_per_s"]) * GLOBAL_BATCH / float(row["images_per_s"]) for row in timed)
    return GLOBAL_BATCH * len(timed) / seconds, tokens / seconds


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", type=Path, default=Path("~/.cache/acai-omr/data-mix-v3v6v7v8").expanduser())
    parser.add_argument("--init-from", type=Path, default=REPO / "checkpoints" / "acai-omr-small")
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--skip", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args(argv)
    if not 1 <= args.skip < args.steps:
        parser.error("--skip must be at least 1 and below --steps")
    figures = {name: [] for name in LAYOUTS}
    with tempfile.TemporaryDirectory() as tmp:
        for round_ in range(args.rounds):
            for name, (processes, threads) in LAYOUTS.items():
                figures[name].append(run_layout(processes, threads, args, Path(tmp) / f"{round_}-{processes}"))
                print(f"round {round_ + 1}, {name}: {figures[name][-1][0]:.2f} images/s", flush=True)
    base = figures["1 process x 2 threads"]
    print(f"global batch {GLOBAL_BATCH}, steps {args.skip + 1}-{args.steps}, {args.rounds} round(s); "
          f"images/s and tokens/s (x one process), per round")
    for name, rounds in figures.items():
        cells = ", ".join(f"{images:.2f} img/s {tokens:.0f} tok/s ({images / base[i][0]:.2f}x)"
                          for i, (images, tokens) in enumerate(rounds))
        print(f"{name:<24}{cells}")


if __name__ == "__main__":
    main()
