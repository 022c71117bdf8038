"""Symbol error rate: token-level Levenshtein distance over whitespace-split LMX."""
from typing import Iterable, NamedTuple

from rapidfuzz.distance import Levenshtein


class SERResult(NamedTuple):
    distance: int
    gold_len: int
    value: float


def ser(predicted_lmx: str, gold_lmx: str) -> SERResult:
    """Edits turning the predicted tokens into the gold ones, over the gold length.

    Tokens outside the LMX vocabulary are compared like any other token.
    """
    gold_tokens = gold_lmx.split()
    distance = Levenshtein.distance(predicted_lmx.split(), gold_tokens)
    return _result(distance, len(gold_tokens))


def corpus_ser(predictions: Iterable[str], golds: Iterable[str]) -> SERResult:
    """Micro-average: summed distances over summed gold lengths."""
    results = [ser(p, g) for p, g in zip(predictions, golds, strict=True)]
    return _result(sum(r.distance for r in results), sum(r.gold_len for r in results))


def _result(distance: int, gold_len: int) -> SERResult:
    # an empty gold has nothing to get wrong; avoid dividing by zero
    return SERResult(distance, gold_len, distance / gold_len if gold_len else 0.0)
