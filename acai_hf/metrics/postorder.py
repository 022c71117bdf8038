"""Flattening a MusicXML tree into the postorder arrays a Zhang–Shasha kernel works on.

Only what TEDn looks at survives: each node becomes a label (tag, text), notes carry their
code as text, and the children TEDn ignores are skipped with their subtrees.
"""
import xml.etree.ElementTree as ET
from dataclasses import dataclass

import numpy as np

from .note_codes import CODED_CHILDREN

IGNORED_EVERYWHERE = frozenset({"footnote", "level"})
IGNORED_CHILDREN = {
    "measure": IGNORED_EVERYWHERE | {"print", "sound", "listening"},
    # <tie> is playback; the notation is <tied>
    "note": IGNORED_EVERYWHERE | {"duration", "listen", "play", "tie"} | CODED_CHILDREN,
}

Label = tuple[str, str | None]  # (tag, text)


@dataclass
class PostorderTree:
    labels: list[Label]  # per node, in postorder
    leftmost: np.ndarray  # per node: postorder index of its leftmost leaf
    keyroots: np.ndarray  # increasing: nodes with no later node sharing their leftmost leaf


def postorder_tree(root: ET.Element, note_codes: dict[ET.Element, str]) -> PostorderTree:
    """The tree under `root` as TEDn sees it; `note_codes` gives each <note>'s text."""
    labels: list[Label] = []
    leftmost: list[int] = []

    def visit(element: ET.Element) -> int:
        ignored = IGNORED_CHILDREN.get(element.tag, IGNORED_EVERYWHERE)
        first_leaf = -1
        for child in element:
            if child.tag not in ignored:
                child_leaf = visit(child)
                if first_leaf < 0:
                    first_leaf = child_leaf
        if first_leaf < 0:
            first_leaf = len(labels)
        text = note_codes[element] if element.tag == "note" else element.text
        labels.append((element.tag, text))
        leftmost.append(first_leaf)
        return first_leaf

    visit(root)
    # the last node seen for each leftmost leaf is the keyroot of that leaf's path
    last_with_leaf = {leaf: node for node, leaf in enumerate(leftmost)}
    return PostorderTree(
        labels=labels,
        leftmost=np.array(leftmost, dtype=np.int32),
        keyroots=np.array(sorted(last_with_leaf.values()), dtype=np.int32),
    )
