"""The supervised trainer's periodic dev evaluation, on a fixed dev subset: teacher-forced CE with each
system's own image and with its neighbour's (how much the image helps), the same on pitch tokens, the
geometry signals' measurements, and greedy decoding scored like evaluate.py (its `decode` and `score`).
"""
import time

import numpy as np
import torch
import torch.nn.functional as F
from lmx.linearization.vocabulary import PITCH_TOKENS

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


__all__ = ["dev_subset", "evaluate_dev"]
