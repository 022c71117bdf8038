"""Linear warm-up then half-cycle cosine, applied per step to every param group's own `base_lr`.

A pure function of the step (as in facebookresearch/mae's util/lr_sched.py), so a resumed run needs
only the step to be back on the curve, and may stretch the curve by passing a new `total_steps`.
"""
import math


def lr_multiplier(step: int, warmup_steps: int, total_steps: int, min_ratio: float = 0.0) -> float:
    """0 -> 1 linearly over `warmup_steps`, then cosine down to `min_ratio` at `total_steps`."""
    if step < warmup_steps:
        return (step + 1) / warmup_steps  # step 0 already learns a little
    progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
    return min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))


def set_lr(optimizer, step: int, warmup_steps: int, total_steps: int, min_ratio: float = 0.0) -> float:
    """Sets each group's lr to its base_lr (or lr at first call) times the multiplier; returns it."""
    factor = lr_multiplier(step, warmup_steps, total_steps, min_ratio)
    for group in optimizer.param_groups:
        group.setdefault("base_lr", group["lr"])
        group["lr"] = group["base_lr"] * factor
    return factor


__all__ = ["lr_multiplier", "set_lr"]
