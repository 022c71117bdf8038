"""The supervised trainer's periodic dev evaluation, on a fixed dev subset: teacher-forced CE with each
system's own image and with its neighbour's (how much the image helps), the same on pitch tokens, the
geometry signals' measurements, and greedy decoding scored like evaluate.py (its `decode` and `score`);
and, teacher-forced, whether the key and time signature tokens are read (on dev rows that print a time
signature) and the clef changes (on dev rows that change clef).
"""
import time

import numpy as np
import torch
import torch.nn.functional as F
from lmx.linearization.vocabulary import PITCH_TOKENS

from acai_hf.metrics.clef_changes import clef_change_positions
from acai_hf.metrics.signatures import KEY_PREFIX, TIME_PREFIXES, opening_signatures
from training.geometry.metrics import geometry_metrics, geometry_sums
from training.release.evaluate import decode, score

DECODED_METRICS = ("ser", "tedn", "delinearize_clean", "measure_fill")


def dev_subset(dev, limit: int) -> list[dict]:
    """A fixed spread of dev rows (shards are grouped by source, so not just the first ones)."""
    if limit <= 0 or len(dev) == 0:
        return []
    indices = np.unique(np.linspace(0, len(dev) - 1, min(limit, len(dev))).round().astype(int))
    return [dev[int(i)] for i in indices]


@torch.no_grad()
def evaluate_dev(model, processor, rows, collator, accelerator, batch_size: int, decode_limit: int,
                 steered_heads: int | None = None) -> dict:
    """Teacher-forced CE on `rows`, greedy SER / TEDn on the first `decode_limit` of them. `steered_heads`:
    the cross-attention heads per layer that box attention steers (default: half)."""
    model.eval()
    pitch_ids = torch.tensor(processor.tokenizer.convert_tokens_to_ids(list(PITCH_TOKENS)), device=accelerator.device)
    # [own image, neighbour's image] x [all tokens, pitch tokens]: (CE sum, token count)
    sums = torch.zeros(2, 2, 2, dtype=torch.float64)
    geometry = {}  # training.geometry.metrics sums, on rows with the engraver's geometry
    steered = steered_heads or max(1, model.config.decoder.num_attention_heads // 2)
    for start in range(0, len(rows), batch_size):
        batch = {k: v.to(accelerator.device) for k, v in collator(rows[start: start + batch_size]).items()}
        labels = batch["labels"]
        if "token_patch_boxes" in batch:
            with accelerator.autocast():
                for name, value in geometry_sums(model, batch, steered, pitch_ids).items():
                    geometry[name] = geometry.get(name, 0.0) + value
        is_pitch = torch.isin(labels, pitch_ids)
        images = [(batch["pixel_values"], batch["pixel_mask"])]
        if labels.shape[0] > 1:  # each system's labels against its neighbour's image
            images.append((batch["pixel_values"].roll(1, 0), batch["pixel_mask"].roll(1, 0)))
        for swapped, (pixel_values, pixel_mask) in enumerate(images):
            with accelerator.autocast():
                logits = model(pixel_values=pixel_values, pixel_mask=pixel_mask, labels=labels).logits
            ce = F.cross_entropy(logits.float().flatten(0, 1), labels.flatten(), ignore_index=-100,
                                 reduction="none").view(labels.shape)
            for kind, mask in enumerate((labels != -100, is_pitch)):
                sums[swapped, kind] += torch.tensor([float(ce[mask].sum()), float(mask.sum())], dtype=torch.float64)
    mean = sums[..., 0] / sums[..., 1].clamp(min=1)
    metrics = {"dev_ce": float(mean[0, 0])}
    if sums[1, 0, 1] > 0:
        # how much the image helps: ~0 while the model reads nothing but the token history; pitches
        # are the test of reading (measure boundaries alone already lower the CE a little)
        metrics["dev_ce_swapped_images"] = float(mean[1, 0])
        metrics["dev_pitch_ce"] = float(mean[0, 1])
        metrics["dev_pitch_ce_swapped_images"] = float(mean[1, 1])
    if geometry:
        metrics.update(geometry_metrics(geometry))
    decoded = rows[:decode_limit]
    if decoded:
        golds = [row["lmx"] for row in decoded]
        # an untrained model rarely stops: cap the length a little above the longest gold
        longest = max(len(gold.split()) for gold in golds) + 1
        cap = min(model.config.decoder.max_position_embeddings - 1, int(1.25 * longest) + 8)
        start = time.perf_counter()
        with accelerator.autocast():
            predictions = decode(model, processor, [row["image"] for row in decoded], batch_size=batch_size,
                                 max_new_tokens=cap)
        seconds = time.perf_counter() - start
        scores = score(predictions, golds, [row.get("musicxml") for row in decoded])
        metrics.update({f"dev_{k}": v for k, v in scores.items() if k in DECODED_METRICS})
        metrics["dev_systems_per_s"] = len(decoded) / seconds
        metrics["dev_example"] = predictions[0][:200]
    model.train()
    return metrics


def time_signature_rows(dev, limit: int) -> list[dict]:
    """Up to `limit` dev rows, spread as dev_subset spreads them, among those that print a time signature."""
    printing = [index for index, lmx in enumerate(dev["lmx"]) if opening_signatures(lmx).time]
    return dev_subset(dev.select(printing), limit) if printing else []


def clef_change_rows(dev, limit: int) -> list[dict]:
    """Up to `limit` dev rows, spread alike, among those that change clef after their opening."""
    changing = [index for index, lmx in enumerate(dev["lmx"]) if clef_change_positions(lmx.split())]
    return dev_subset(dev.select(changing), limit) if changing else []


def _with_prefixes(prefixes):
    return lambda tokens: [index for index, token in enumerate(tokens) if token.startswith(prefixes)]


# which label positions of a row each reading judges, from its LMX tokens
READINGS = {"time": _with_prefixes(TIME_PREFIXES), "key": _with_prefixes(KEY_PREFIX),
            "clef_change": clef_change_positions}


@torch.no_grad()
def evaluate_reading(model, processor, rows, accelerator, batch_size: int, kinds=("time", "key")) -> dict:
    """Teacher-forced top-1 on the tokens of each of `kinds` (READINGS) over `rows`: on rows that print a
    time signature (time_signature_rows), the time signature (beats:*, beat-type:*) and key (key:*), whether
    the model reads them or says the commonest (the model shipped in session 12 wrote 4/4 on 42 of the 44
    test systems that print one); on rows that change clef (clef_change_rows), the clef changes."""
    from training.batches.collate import SystemCollator

    model.eval()
    # images and labels only: the trainer's dev collator would also make geometry targets nobody reads here
    collator = SystemCollator(processor, max_label_length=model.config.decoder.max_position_embeddings)
    right, judged = dict.fromkeys(kinds, 0), dict.fromkeys(kinds, 0)
    for start in range(0, len(rows), batch_size):
        chunk = rows[start: start + batch_size]
        batch = collator(chunk)
        labels = batch["labels"].to(accelerator.device)
        with accelerator.autocast():
            logits = model(pixel_values=batch["pixel_values"].to(accelerator.device),
                           pixel_mask=batch["pixel_mask"].to(accelerator.device), labels=labels).logits
        hit = (logits.argmax(-1) == labels).cpu()
        for row_index, row in enumerate(chunk):  # label position i holds LMX token i (no start token)
            tokens = row["lmx"].split()
            for kind in kinds:
                positions = [i for i in READINGS[kind](tokens) if i < labels.shape[1]]
                right[kind] += int(hit[row_index, positions].sum())
                judged[kind] += len(positions)
    model.train()
    return {f"dev_{kind}_top1": right[kind] / judged[kind] for kind in kinds if judged[kind]}


def main(argv=None) -> dict:
    """python -m training.release.dev_evaluation MODEL --dataset D [--split dev] [--limit 64]: the trainer's
    readings (evaluate_reading) for a saved model: key and time signature on the rows of a split that print a
    time signature, clef changes on those that change clef; to compare models trained before the trainer
    measured them."""
    import argparse

    from acai_hf.model.loading import load
    from training.data.loaders import load_system_dataset
    from training.run.launch import make_accelerator

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("model")
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--split", default="dev")
    parser.add_argument("--limit", type=int, default=64,
                        help="rows that print a time signature, and as many that change clef")
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    model, processor = load(args.model)
    split = load_system_dataset(args.dataset, args.split)
    accelerator = make_accelerator("fp32")
    rows = time_signature_rows(split, args.limit)
    metrics = evaluate_reading(model, processor, rows, accelerator, batch_size=8)
    metrics["rows"] = len(rows)
    changing = clef_change_rows(split, args.limit)
    metrics.update(evaluate_reading(model, processor, changing, accelerator, 8, kinds=("clef_change",)))
    metrics["clef_change_rows"] = len(changing)
    print(" ".join(f"{name}={value:.4g}" for name, value in metrics.items()))
    return metrics


__all__ = ["READINGS", "clef_change_rows", "dev_subset", "evaluate_dev", "evaluate_reading", "time_signature_rows"]


if __name__ == "__main__":
    main()
