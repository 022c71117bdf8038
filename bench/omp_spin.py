"""How long torch's OpenMP threads should spin before sleeping, on this CPU: a training step alone on the
cores and beside another busy one-thread job (a test, an evaluation), for each setting.

    python bench/omp_spin.py [--path default] [--batch-size 8] [--batches 2] [--threads 2]

Each cell is bench/train_step.py's images/s for one path, run in a fresh process with the setting in its
environment (libgomp reads it once, when torch loads). "Beside" starts a one-thread matmul loop first and
stops it after. training/__init__.py sets the winner (GOMP_SPINCOUNT=1000) for every trainer.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

TRAIN_STEP = Path(__file__).resolve().parent / "train_step.py"
SETTINGS = {  # libgomp spins 300,000 times by default (30 billion under OMP_WAIT_POLICY=active)
    "libgomp default": {"GOMP_SPINCOUNT": "300000"},
    "OMP_WAIT_POLICY=PASSIVE": {"OMP_WAIT_POLICY": "PASSIVE"},
    "GOMP_SPINCOUNT=1000": {"GOMP_SPINCOUNT": "1000"},
}
COMPETITOR = ("import torch; torch.set_num_threads(1); a = torch.randn(512, 512)\n"
              "while True: a @ a")


def images_per_s(setting: dict, args, beside: bool) -> float:
    env = {key: value for key, value in os.environ.items() if key not in ("GOMP_SPINCOUNT", "OMP_WAIT_POLICY")}
    competitor = None
    if beside:
        competitor = subprocess.Popen([sys.executable, "-c", COMPETITOR], env={**env, "OMP_NUM_THREADS": "1"})
    try:
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "result.json"
            subprocess.run([sys.executable, str(TRAIN_STEP), "--paths", args.path, "--batch-size", str(args.batch_size),
                            "--batches", str(args.batches), "--threads", str(args.threads), "--json", str(out)],
                           env={**env, **setting}, check=True, capture_output=True)
            return json.loads(out.read_text())["results"][0]["images_per_s"]
    finally:
        if competitor is not None:
            competitor.kill()
            competitor.wait()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--path", default="default", help="a bench/train_step.py path")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--batches", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    rows = {name: (images_per_s(setting, args, False), images_per_s(setting, args, True))
            for name, setting in SETTINGS.items()}
    base_alone, base_beside = rows["libgomp default"]
    print(f"{args.path} path, {args.threads} threads, batch {args.batch_size}; images/s (x libgomp default)")
    print(f"{'setting':<26}{'alone':>16}{'beside a 1-thread job':>26}")
    for name, (alone, beside) in rows.items():
        print(f"{name:<26}{alone:>9.2f} ({alone / base_alone:.2f}x){beside:>19.2f} ({beside / base_beside:.2f}x)")


if __name__ == "__main__":
    main()
