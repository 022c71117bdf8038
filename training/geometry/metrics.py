"""Dev measurements of the geometry signals: does attention land on the token's box, and does the
encoder's dense head say what is in each patch? Sums over a batch, to be added up over the dev set."""
import torch

from training.geometry.box_attention import box_attention_loss
from training.geometry.targets import keys_in_boxes


@torch.no_grad()
def geometry_sums(model, batch: dict, steered_heads: int, pitch_ids: torch.Tensor) -> dict[str, float]:
    """Sums for `mass_steered` / `mass_all` (attention inside the box of the predicted token, steered
    heads or every head, per judged token and layer) and the dense head's true/false positives and
    false negatives, over all tokens and over pitch tokens."""
    sums = {}
    encoder_states, encoder_mask = model.encode(batch["pixel_values"], batch["pixel_mask"])
    patch = model.config.encoder.patch_size
    grid = (batch["pixel_values"].shape[-2] // patch, batch["pixel_values"].shape[-1] // patch)
    labels = batch["labels"]
    inside, known = keys_in_boxes(batch["token_patch_boxes"], grid)
    known = known & (labels != -100)
    if known.any():
        layers = model.decoder.layers
        for layer in layers:
            layer.record_cross_attention = True
        try:
            model(pixel_values=batch["pixel_values"], pixel_mask=batch["pixel_mask"], labels=labels)
            probs = [layer.cross_attention_probs for layer in layers]
        finally:
            for layer in layers:
                layer.record_cross_attention, layer.cross_attention_probs = False, None
        _, steered, judged = box_attention_loss(probs, inside, known, steered_heads)
        _, every, _ = box_attention_loss(probs, inside, known, probs[0].shape[1])
        sums.update(mass_steered=steered * judged, mass_all=every * judged, mass_tokens=float(judged))
    if getattr(model, "dense_head", None) is not None and "dense_targets" in batch:
        logits = model.dense_head(encoder_states).float()  # (B, N, V)
        predicted = logits > 0
        target = batch["dense_targets"].bool()
        valid = encoder_mask.bool()[..., None]
        # F1 at 0.5 stays near 0 long after the head ranks pitches usefully: also count, on patches
        # holding a notehead, how often the top-ranked pitch is one of theirs.
        pitch_target = target[..., pitch_ids]
        holds_note = pitch_target.any(-1) & valid[..., 0]
        top = logits[..., pitch_ids].argmax(-1, keepdim=True)
        sums["dense_pitch_top1_hits"] = float((pitch_target.gather(-1, top)[..., 0] & holds_note).sum())
        sums["dense_pitch_patches"] = float(holds_note.sum())
        is_pitch = torch.zeros(target.shape[-1], dtype=torch.bool, device=target.device)
        is_pitch[pitch_ids] = True
        for name, columns in (("dense", slice(None)), ("dense_pitch", is_pitch)):
            p, t = predicted[..., columns] & valid, target[..., columns] & valid
            sums[f"{name}_tp"] = float((p & t).sum())
            sums[f"{name}_fp"] = float((p & ~t).sum())
            sums[f"{name}_fn"] = float((~p & t).sum())
    return sums


def geometry_metrics(sums: dict[str, float]) -> dict[str, float]:
    """The dev metrics from summed `geometry_sums`: attention mass inside the box, dense F1, dense pitch top-1."""
    metrics = {}
    if sums.get("mass_tokens"):
        metrics["dev_box_mass_steered"] = sums["mass_steered"] / sums["mass_tokens"]
        metrics["dev_box_mass_all_heads"] = sums["mass_all"] / sums["mass_tokens"]
    for name in ("dense", "dense_pitch"):
        if f"{name}_tp" in sums:
            tp, fp, fn = (sums[f"{name}_{k}"] for k in ("tp", "fp", "fn"))
            metrics[f"dev_{name}_f1"] = 2 * tp / max(1.0, 2 * tp + fp + fn)
    if sums.get("dense_pitch_patches"):
        metrics["dev_dense_pitch_top1"] = sums["dense_pitch_top1_hits"] / sums["dense_pitch_patches"]
    return metrics


__all__ = ["geometry_metrics", "geometry_sums"]
