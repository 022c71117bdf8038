"""GRPO rewards, TRL-style: each is a plain callable `f(completions, **kwargs) -> list[float]`.

`completions` are predicted LMX strings; kwargs carry the data set's columns, one value per completion
(a group repeats its image's values): `lmx` (gold LMX) and `musicxml` (gold MusicXML). The reward of
DESIGN.md is their weighted sum (`weighted_rewards`):

    R = l_t * exp(-a_t * TEDn) + l_w * WF + l_f * F1 - l_r * repeat - l_l * len

with penalties entering through negative weights (`default_weights`).
"""
import math
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Callable, Sequence
from functools import lru_cache

from acai_hf.music.lmx import delinearize
from acai_hf.metrics.tedn import tedn_batch

RewardFunc = Callable[..., list[float]]


@lru_cache(maxsize=4096)
def _parsed(lmx: str) -> tuple[Counter, int, bool]:
    """(note multiset, minor errors, catastrophic) of one LMX string; shared by the WF and F1 rewards,
    and cached because one gold is parsed once per group and TRL calls each reward separately."""
    part, errors = delinearize(lmx)
    catastrophic = any(e.severity == "catastrophic" for e in errors)
    return Counter(note_key(n) for n in part.iter("note")), len(errors) - catastrophic, catastrophic


def note_key(note: ET.Element) -> tuple:
    """A note's identity for F1: pitch (step, alter, octave; "rest" for rests) and written duration
    (type, dots, tuplet ratio, grace). Written values, so the score's divisions do not matter."""
    pitch = note.find("pitch")
    if pitch is None:
        where = "rest"
    else:
        where = (pitch.findtext("step"), float(pitch.findtext("alter") or 0), pitch.findtext("octave"))
    ratio = (note.findtext("time-modification/actual-notes"), note.findtext("time-modification/normal-notes"))
    return where, note.findtext("type"), len(note.findall("dot")), ratio, note.find("grace") is not None


def tedn_reward(completions: Sequence[str], musicxml: Sequence[str], alpha: float = 0.01,
                scale: str = "edit_cost", workers: int | None = None, **kwargs) -> list[float]:
    """exp(-alpha * d): 1 for an exact match. d is the TEDn edit cost (`scale="edit_cost"`, as the
    original applied a_t = .01) or TEDn in percent (`scale="percent"`, size-free). All pairs are scored
    at once by the fast TEDn, over `workers` processes."""
    results = tedn_batch(list(completions), list(musicxml), workers=workers)
    if scale == "edit_cost":
        return [math.exp(-alpha * r.edit_cost) for r in results]
    if scale == "percent":
        return [math.exp(-alpha * 100 * r.value) for r in results]
    raise ValueError(f"scale must be 'edit_cost' or 'percent', not {scale!r}")


def wellformedness_reward(completions: Sequence[str], alpha: float = 0.2, gamma: float = 3.0,
                          **kwargs) -> list[float]:
    """WF: -gamma when the prediction is unparseable (a catastrophic delinearization error, e.g. no
    `measure`), else exp(-alpha * minor errors)."""
    rewards = []
    for completion in completions:
        _, minor, catastrophic = _parsed(completion)
        rewards.append(-gamma if catastrophic else math.exp(-alpha * minor))
    return rewards


def note_f1_reward(completions: Sequence[str], lmx: Sequence[str], **kwargs) -> list[float]:
    """F1 between the predicted and gold notes, each a multiset of `note_key`s (pitch + written
    duration) read from the delinearized part; order and voices are TEDn's business. 1 when both
    have no notes."""
    rewards = []
    for completion, gold in zip(completions, lmx, strict=True):
        predicted, expected = _parsed(completion)[0], _parsed(gold)[0]
        total = sum(predicted.values()) + sum(expected.values())
        rewards.append(2 * sum((predicted & expected).values()) / total if total else 1.0)
    return rewards


def repeat_penalty(completions: Sequence[str], ngram_sizes: Sequence[int] = (2, 3, 4), **kwargs) -> list[float]:
    """Degenerate loops: for each n, count positions i where tokens[i:i+n] == tokens[i+n:i+2n]
    (an n-gram repeated right after itself), summed over n and divided by 4(|y| - 1); in [0, 1)."""
    penalties = []
    for completion in completions:
        tokens = completion.split()
        if len(tokens) < 2:
            penalties.append(0.0)
            continue
        repeats = sum(
            tokens[i:i + n] == tokens[i + n:i + 2 * n]
            for n in ngram_sizes
            for i in range(len(tokens) - 2 * n + 1)
        )
        penalties.append(min(1.0, repeats / (4 * (len(tokens) - 1))))
    return penalties


def length_penalty(completions: Sequence[str], lmx: Sequence[str], delta: int = 10, tau: float = 100.0,
                   **kwargs) -> list[float]:
    """0 while the token count is within `delta` of the gold's, else clip(exp(ln 2 / tau * x) - 1, 0, 1)
    with x the absolute difference: it reaches 1 (its cap) at x = tau."""
    penalties = []
    for completion, gold in zip(completions, lmx, strict=True):
        x = abs(len(completion.split()) - len(gold.split()))
        penalties.append(0.0 if x <= delta else min(1.0, max(0.0, math.exp(math.log(2) / tau * x) - 1)))
    return penalties


# DESIGN.md's components and their weights, l_l at the start of its ramp (.02 -> .35).
REWARD_FUNCS: dict[str, RewardFunc] = {
    "tedn": tedn_reward,
    "wellformedness": wellformedness_reward,
    "note_f1": note_f1_reward,
    "repeat": repeat_penalty,
    "length": length_penalty,
}


def default_weights(length_weight: float = 0.02) -> dict[str, float]:
    return {"tedn": 0.35, "wellformedness": 0.10, "note_f1": 0.25, "repeat": -0.15, "length": -length_weight}


def weighted_rewards(completions: Sequence[str], funcs: Sequence[RewardFunc], weights: Sequence[float],
                     **kwargs) -> tuple[list[float], list[list[float]]]:
    """(total per completion, each component's raw values), as TRL sums `reward_weights * rewards`.
    A component whose weight is 0 is not computed (its values are reported as zeros)."""
    components = [
        list(func(completions, **kwargs)) if weight else [0.0] * len(completions)
        for func, weight in zip(funcs, weights, strict=True)
    ]
    totals = [sum(w * values[i] for w, values in zip(weights, components)) for i in range(len(completions))]
    return totals, components


__all__ = [
    "tedn_reward", "wellformedness_reward", "note_f1_reward", "repeat_penalty", "length_penalty",
    "REWARD_FUNCS", "default_weights", "weighted_rewards", "note_key",
]
