"""Linear warm-up then half-cycle cosine, or warm-up, stable, decay (WSD), applied per step to every param
group's own `base_lr`.

A pure function of the step (as in facebookresearch/mae's util/lr_sched.py), so a resumed run needs
only the step to be back on the curve, and may stretch the curve by passing a new `total_steps`.

WSD (Hu et al. 2024, MiniCPM; Hägele et al. 2024) holds the peak until the last `decay_steps`, then falls as
1 - sqrt. Our runs are cut into sessions: a cosine run lengthened in the next session climbs back from its
floor and loses what the annealing won (dev CE 0.6249 -> 0.6447 in v30's first 103 lengthened steps), while a
WSD run continues from its last checkpoint before the fall, still on the plateau, and anneals only its end.
"""
import math


def lr_multiplier(step: int, warmup_steps: int, total_steps: int, min_ratio: float = 0.0,
                  decay_steps: int | None = None) -> float:
    """0 -> 1 linearly over `warmup_steps`, then cosine down to `min_ratio` at `total_steps`; with `decay_steps`
    (WSD), 1 until `decay_start`, then 1 - sqrt down to `min_ratio` at `total_steps`."""
    if step < warmup_steps:
        return (step + 1) / warmup_steps  # step 0 already learns a little
    if decay_steps:
        start = decay_start(warmup_steps, total_steps, decay_steps)
        progress = min(1.0, max(0, step - start) / max(1, total_steps - start))
        return min_ratio + (1.0 - min_ratio) * (1.0 - math.sqrt(progress))
    progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
    return min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))


def decay_start(warmup_steps: int, total_steps: int, decay_steps: int) -> int:
    """The steps a WSD run takes at its peak before the fall: the checkpoint written there is the one a
    lengthened run continues."""
    return max(warmup_steps, total_steps - decay_steps)


def set_lr(optimizer, step: int, warmup_steps: int, total_steps: int, min_ratio: float = 0.0,
           decay_steps: int | None = None) -> float:
    """Sets each group's lr to its base_lr (or lr at first call) times the multiplier; returns it."""
    factor = lr_multiplier(step, warmup_steps, total_steps, min_ratio, decay_steps)
    for group in optimizer.param_groups:
        group.setdefault("base_lr", group["lr"])
        group["lr"] = group["base_lr"] * factor
    return factor


__all__ = ["decay_start", "lr_multiplier", "set_lr"]
