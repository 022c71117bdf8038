"""TEDn's edit costs, priced once per pair of distinct labels instead of per pair of nodes."""
from dataclasses import dataclass

import numpy as np
from rapidfuzz.distance import Levenshtein
from rapidfuzz.process import cdist

from .postorder import Label


@dataclass
class CostTables:
    label_a: np.ndarray  # per node of tree a: row in `rename`
    delete_a: np.ndarray  # per node of tree a
    label_b: np.ndarray  # per node of tree b: column in `rename`
    insert_b: np.ndarray  # per node of tree b
    rename: np.ndarray  # distinct labels of a x distinct labels of b


def cost_tables(labels_a: list[Label], labels_b: list[Label]) -> CostTables:
    label_a, distinct_a = _intern(labels_a)
    label_b, distinct_b = _intern(labels_b)
    return CostTables(
        label_a=label_a,
        delete_a=np.ones(len(labels_a), dtype=np.int32),
        label_b=label_b,
        insert_b=np.array([_insert_cost(label) for label in labels_b], dtype=np.int32),
        rename=_rename_table(distinct_a, distinct_b),
    )


def _insert_cost(label: Label) -> int:
    # a note is inserted with all the choices its code stands for
    tag, text = label
    return 1 + len(text) if tag == "note" else 1


def _rename_table(distinct_a: list[Label], distinct_b: list[Label]) -> np.ndarray:
    """Tag change (1) plus text change: Levenshtein if either node is a note, else 0/1."""
    tag_ids: dict[str, int] = {}
    stripped_ids: dict[str, int] = {}

    def ids(labels):
        tags = np.array([tag_ids.setdefault(tag, len(tag_ids)) for tag, _ in labels])
        stripped = np.array(
            [stripped_ids.setdefault((text or "").strip(), len(stripped_ids)) for _, text in labels]
        )
        notes = np.array([tag == "note" for tag, _ in labels])
        return tags, stripped, notes

    tags_a, stripped_a, notes_a = ids(distinct_a)
    tags_b, stripped_b, notes_b = ids(distinct_b)
    text_edits = cdist(
        [text or "" for _, text in distinct_a],
        [text or "" for _, text in distinct_b],
        scorer=Levenshtein.distance,
        dtype=np.int32,
    )
    text_cost = np.where(
        notes_a[:, None] | notes_b[None, :],
        text_edits,
        stripped_a[:, None] != stripped_b[None, :],
    )
    return (tags_a[:, None] != tags_b[None, :]) + text_cost


def _intern(labels: list[Label]) -> tuple[np.ndarray, list[Label]]:
    """Per-node label ids and the distinct labels they index."""
    index: dict[Label, int] = {}
    ids = np.array([index.setdefault(label, len(index)) for label in labels], dtype=np.int32)
    return ids, list(index)
