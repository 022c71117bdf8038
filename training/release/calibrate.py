"""Fit (dev) or check (test) the per-system expected accuracy the app shows (acai_hf.model.calibration).

    python -m training.release.calibrate MODEL --dataset D [--dev-limit N]           # fit: MODEL/calibration.json
    python -m training.release.calibrate MODEL --dataset D --split test [--limit N]  # its error on test, added there

Systems are decoded as the app decodes them (greedy, LMX grammar, confidence from generate_lmx); each
system's accuracy is 1 - its SER. Run after every `training.release.ship`: a new model's probabilities mean
something else.
"""
import argparse
import json
import time

import numpy as np
import torch

from acai_hf.model.calibration import Calibration, fit, load_calibration, system_accuracy, system_features
from acai_hf.metrics.ser import ser


def decoded_rows(model_folder, dataset, split, limit, batch_size) -> tuple[list[dict], list[float]]:
    """(features per system, accuracy per system) for the first `limit` systems of a split."""
    import acai_hf  # noqa: F401  (registers the Auto classes)
    from acai_hf.model.generation_acai import generate_lmx
    from acai_hf.model.loading import load
    from training.data.loaders import load_system_dataset

    model, processor = load(model_folder)
    data = load_system_dataset(dataset, split)
    if limit is not None:
        data = data.select(range(min(limit, len(data))))
    images = list(data["image"])
    texts, confidences = generate_lmx(model, processor, images, num_beams=1, constrained=True, batch_size=batch_size)
    rows = [system_features(text, confidence, *image.size)
            for text, confidence, image in zip(texts, confidences, images)]
    accuracies = [system_accuracy(ser(text, gold).value) for text, gold in zip(texts, data["lmx"])]
    return rows, accuracies


def test_error(calibration: Calibration, rows, accuracies) -> tuple[float, float]:
    """(mean absolute error of the estimate, the same for predicting the dev mean everywhere)."""
    y = np.asarray(accuracies)
    return float(np.abs(calibration.predict(rows) - y).mean()), float(np.abs(calibration.intercept - y).mean())


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", help="model folder (calibration.json is written there)")
    parser.add_argument("--dataset", required=True, help="engine output, OLiMPiC folder or HF dataset")
    parser.add_argument("--split", default="dev", help="dev: fit; any other: check the fitted calibration")
    parser.add_argument("--dev-limit", type=int, default=200, help="systems to fit on")
    parser.add_argument("--limit", type=int, default=None, help="systems to check on (not dev)")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    return parser.parse_args(argv)


def main(argv=None) -> Calibration:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    start = time.perf_counter()
    if args.split == "dev":
        rows, accuracies = decoded_rows(args.model, args.dataset, "dev", args.dev_limit, args.batch_size)
        calibration = fit(rows, accuracies)
        calibration.notes = {"model": str(args.model), "dataset": str(args.dataset), "fit_split": "dev"}
    else:
        calibration = load_calibration(args.model)
        if calibration is None:
            raise SystemExit(f"{args.model} has no calibration.json: fit it on dev first")
        rows, accuracies = decoded_rows(args.model, args.dataset, args.split, args.limit, args.batch_size)
        calibration.test_mae, calibration.test_baseline_mae = test_error(calibration, rows, accuracies)
        calibration.test_systems = len(rows)
        calibration.notes["test_split"] = args.split
    path = calibration.save(args.model)
    figures = {key: getattr(calibration, key) for key in
               ("fit_systems", "dev_mae", "dev_baseline_mae", "test_systems", "test_mae", "test_baseline_mae")}
    print(json.dumps({"written": str(path), "seconds": round(time.perf_counter() - start, 1),
                      "mean_accuracy": float(np.mean(accuracies)), **figures}, indent=1))
    weakness = calibration.weakness()
    if weakness:
        print(f"The estimate is weak: {weakness}.")
    return calibration


if __name__ == "__main__":
    main()
