"""TEDn: tree edit distance between a predicted LMX and the gold MusicXML, normalised by gold size.

Reproduces the OLiMPiC reference (ufal/olimpic-icdar24, TEDn_lmx_xml) exactly, but computes the
Zhang–Shasha distance in a compiled kernel over integer arrays.
"""
import os
import xml.etree.ElementTree as ET
from concurrent.futures import ProcessPoolExecutor
from functools import lru_cache, partial
from typing import NamedTuple, Sequence

from .note_codes import NoteCoder
from .postorder import PostorderTree, postorder_tree
from .tedn_costs import cost_tables
from .tedn_parts import FLAVORS, gold_part, predicted_part
from .zhang_shasha import tree_edit_distance


class TEDnResult(NamedTuple):
    edit_cost: int
    gold_cost: int
    value: float  # edit_cost / gold_cost; can exceed 1
    delinearizer_crashed: bool  # the prediction was scored as an empty <part>


def tedn(predicted_lmx: str, gold_musicxml: str, flavor: str = "lmx") -> TEDnResult:
    """TEDn of one system; flavor "lmx" prunes both trees to what LMX encodes, "full" does not."""
    if flavor not in FLAVORS:
        raise ValueError(f"flavor must be one of {FLAVORS}, not {flavor!r}")
    gold = _prepared_gold(gold_musicxml, flavor)
    predicted, crashed = predicted_part(predicted_lmx, flavor)
    coder = gold.coder.copy()  # predicted notes continue the gold's pitch letters
    predicted_tree = postorder_tree(predicted, coder.code_all(predicted))
    return _result(_distance(predicted_tree, gold.tree), gold.cost, crashed)


def clear_gold_cache() -> None:
    """Forget prepared golds (benchmarks use it to time the whole work of a call)."""
    _prepared_gold.cache_clear()


class _PreparedGold(NamedTuple):
    tree: PostorderTree
    coder: NoteCoder  # holds the pitch letters handed out to gold notes; copied, never mutated
    cost: int  # distance from a bare <part> to the gold


@lru_cache(maxsize=512)
def _prepared_gold(gold_musicxml: str, flavor: str) -> _PreparedGold:
    """The gold side of TEDn, kept because one gold is scored against many predictions
    (GRPO rollouts, beam candidates, the checkpoints of a training run)."""
    gold = gold_part(gold_musicxml, flavor)
    coder = NoteCoder()
    tree = postorder_tree(gold, coder.code_all(gold))  # gold notes take the first pitch letters
    cost = _distance(postorder_tree(ET.Element(gold.tag), {}), tree)
    return _PreparedGold(tree, coder, cost)


def tedn_batch(
    predictions: Sequence[str],
    golds: Sequence[str],
    flavor: str = "lmx",
    workers: int | None = None,
) -> list[TEDnResult]:
    """`tedn` over pairs, spread over `workers` processes (default: all cores; 1: in-process)."""
    pairs = list(zip(predictions, golds, strict=True))
    workers = min(workers or os.cpu_count() or 1, len(pairs))
    if workers <= 1:
        return [tedn(p, g, flavor) for p, g in pairs]
    with ProcessPoolExecutor(workers) as pool:
        # a few chunks per worker keeps the load even without paying per-item round trips
        chunksize = max(1, len(pairs) // (4 * workers))
        return list(pool.map(partial(_tedn_pair, flavor=flavor), pairs, chunksize=chunksize))


def corpus_tedn(
    predictions: Sequence[str],
    golds: Sequence[str],
    flavor: str = "lmx",
    workers: int | None = None,
) -> TEDnResult:
    """Micro-average as in the reference: summed edit costs over summed gold costs.

    `delinearizer_crashed` tells whether any prediction crashed.
    """
    results = tedn_batch(predictions, golds, flavor, workers)
    return _result(
        sum(r.edit_cost for r in results),
        sum(r.gold_cost for r in results),
        any(r.delinearizer_crashed for r in results),
    )


def _tedn_pair(pair: tuple[str, str], flavor: str) -> TEDnResult:
    return tedn(*pair, flavor)


def _distance(tree_a: PostorderTree, tree_b: PostorderTree) -> int:
    costs = cost_tables(tree_a.labels, tree_b.labels)
    return int(
        tree_edit_distance(
            tree_a.leftmost, tree_a.keyroots, costs.label_a, costs.delete_a,
            tree_b.leftmost, tree_b.keyroots, costs.label_b, costs.insert_b,
            costs.rename,
        )
    )


def _result(edit_cost: int, gold_cost: int, crashed: bool) -> TEDnResult:
    # an empty gold has nothing to get wrong; avoid dividing by zero
    value = edit_cost / gold_cost if gold_cost else 0.0
    return TEDnResult(edit_cost, gold_cost, value, crashed)
