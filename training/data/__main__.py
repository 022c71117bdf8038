"""Command line of the data engine.

  python -m training.data build --out DIR --systems N --seed S --workers W [--mix procedural=0.7,...] [--transpose P]
  python -m training.data stats DIR
  python -m training.data montage DIR [--n 20] [--split train] [--boxes] --out montage.png
  python -m training.data mix --out MIX --eval-from BUILD BUILD [BUILD ...]
"""
import argparse
import logging
from pathlib import Path

from training.data import plan


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m training.data", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)

    build = commands.add_parser("build", help="render a dataset (resumes an interrupted build in DIR)")
    build.add_argument("--out", type=Path, required=True, help="dataset folder (keep it outside the repo)")
    build.add_argument("--systems", type=int, required=True, help="train + dev systems")
    build.add_argument("--seed", type=int, default=0)
    build.add_argument("--workers", type=int, default=2)
    mix_help = f"source weights (default {','.join(f'{k}={v}' for k, v in plan.DEFAULT_MIX.items())})"
    build.add_argument("--mix", type=plan.parse_mix, default=dict(plan.DEFAULT_MIX), help=mix_help)
    build.add_argument("--dev-fraction", type=float, default=0.05)
    build.add_argument("--units-per-shard", type=int, default=4, help="pieces per parquet shard")
    build.add_argument("--test-pieces", type=int, default=None, help="only the first K reserved pieces")
    build.add_argument("--transpose", type=float, default=0.0, help="share of train corpus excerpts moved to another key")

    stats = commands.add_parser("stats", help="token lengths, LMX vocabulary and geometry coverage per split")
    stats.add_argument("dir", type=Path)

    montage = commands.add_parser("montage", help="random images above their re-engraved ground truth")
    montage.add_argument("dir", type=Path)
    montage.add_argument("--out", type=Path, required=True)
    montage.add_argument("--n", type=int, default=20)
    montage.add_argument("--split", default="train")
    montage.add_argument("--seed", type=int, default=0)
    montage.add_argument("--columns", type=int, default=2)
    montage.add_argument("--boxes", action="store_true", help="draw each token's box on its image, by kind")

    mix = commands.add_parser("mix", help="a folder of symlinks: builds' train shards, one build's dev and test")
    mix.add_argument("builds", type=Path, nargs="+", help="engine builds whose train shards the mix holds")
    mix.add_argument("--out", type=Path, required=True, help="new folder for the mix")
    mix.add_argument("--eval-from", type=Path, required=True, help="the build whose dev and test the mix keeps")

    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    if args.command == "build":
        from training.data.build import BuildConfig, build as run_build

        try:
            config = BuildConfig(
                systems=args.systems,
                seed=args.seed,
                mix=args.mix,
                dev_fraction=args.dev_fraction,
                units_per_shard=args.units_per_shard,
                test_pieces=args.test_pieces,
                transpose=args.transpose,
            )
        except ValueError as error:
            parser.error(str(error))
        counts = run_build(args.out, config, workers=args.workers)
        print(" ".join(f"{split}={n}" for split, n in counts.items()), f"systems in {args.out}")
    elif args.command == "stats":
        from training.data.stats import report

        print(report(args.dir))
    elif args.command == "mix":
        from training.data.mixing import make_mix

        counts = make_mix(args.out, args.builds, args.eval_from)
        print(" ".join(f"{split}={n}" for split, n in counts.items()), f"shards linked in {args.out}")
    else:
        from training.data.montage import montage as make_montage

        make_montage(
            args.dir, args.out, n=args.n, split=args.split, seed=args.seed, columns=args.columns, boxes=args.boxes
        )
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
