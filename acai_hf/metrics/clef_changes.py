"""Did the model read the clef changes inside a system?

Piano music changes clef within a system often (a left hand climbing into the treble). LMX writes each
change as `clef:X staff:N` where it happens; every system also opens with the clefs in force, which are
nearly always G2 and F4 and say little. A missed change costs SER one or two tokens, yet puts every later
note on that staff a third or a sixth off, so it is counted here on its own.
"""
from collections import Counter

CLEF_PREFIX = "clef:"
# what a system's opening may hold before its first note, rest or backup
OPENING_PREFIXES = ("measure", "key:", "time", "beats:", "beat-type:", CLEF_PREFIX, "staff:")


def opening_length(tokens: list[str]) -> int:
    """How many tokens the system's opening attributes take (its first measure, key, time, clefs)."""
    for index, token in enumerate(tokens):
        if not token.startswith(OPENING_PREFIXES) or (token == "measure" and index > 0):
            return index
    return len(tokens)


def clef_change_positions(tokens: list[str]) -> list[int]:
    """Indices of the clef tokens written after the system's opening: its clef changes."""
    return [index for index in range(opening_length(tokens), len(tokens)) if tokens[index].startswith(CLEF_PREFIX)]


def clef_changes(lmx: str) -> Counter:
    """The system's clef changes as a multiset of (clef token, staff token) pairs."""
    tokens = lmx.split()
    return Counter((tokens[i], tokens[i + 1] if i + 1 < len(tokens) else "") for i in clef_change_positions(tokens))


def clef_change_accuracy(predictions, gold_lmx) -> dict:
    """Clef changes in the gold, how many the predictions write, and how many of them match one of the gold's
    in the same system (same clef, same staff): read = matching / gold, right = matching / written."""
    gold = written = matching = 0
    for prediction, truth in zip(predictions, gold_lmx):
        said, wanted = clef_changes(prediction), clef_changes(truth)
        gold += sum(wanted.values())
        written += sum(said.values())
        matching += sum((said & wanted).values())
    return {"clef_changes_gold": gold, "clef_changes_written": written,
            "clef_changes_read": matching / gold if gold else None,
            "clef_changes_right": matching / written if written else None}


__all__ = ["CLEF_PREFIX", "clef_change_accuracy", "clef_change_positions", "clef_changes", "opening_length"]
