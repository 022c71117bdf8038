"""Which kinds of token a system's errors fall on: corpus SER split into parts that add up to it.

Every edit of the SER alignment (acai_hf.metrics.ser: token Levenshtein) is charged to one token kind:
a substitution or a missing token to the gold token's kind, an extra token to the predicted token's. Each
kind's part is its edits over all gold tokens, so the parts sum to the SER, and a part says how many
points of SER reading that kind of symbol better could win (pitches, durations, accidentals, ...).
"""
from collections import Counter

from lmx.linearization.vocabulary import (ACCIDENTAL_TOKENS, BEAM_TOKENS, CLEF_TOKENS, EXTENDED_FLAVOR_TOKENS,
                                          KEY_TOKENS, NOTE_TYPE_TOKENS, PITCH_TOKENS, STAFF_TOKENS, STEM_TOKENS,
                                          TIME_MODIFICATION_TOKENS, TIME_SIGNATURE_TOKENS, VOICE_TOKENS)
from rapidfuzz.distance import Levenshtein

KINDS = (  # first match wins; anything else is "other"
    ("pitch", PITCH_TOKENS),
    ("duration", set(NOTE_TYPE_TOKENS) | {"dot"} | set(TIME_MODIFICATION_TOKENS)),
    ("accidental", ACCIDENTAL_TOKENS),
    ("rest", {"rest"}),
    ("chord", {"chord", "grace", "grace:slash"}),
    ("beam", BEAM_TOKENS),
    ("stem", STEM_TOKENS),
    ("tie", {"tied:start", "tied:stop"}),
    ("articulation and slur", EXTENDED_FLAVOR_TOKENS),
    ("voice and staff", set(VOICE_TOKENS) | set(STAFF_TOKENS) | {"backup", "forward"}),
    ("measure", {"measure"}),
    ("clef, key and time", set(CLEF_TOKENS) | set(KEY_TOKENS) | set(TIME_SIGNATURE_TOKENS)),
)
KIND_NAMES = tuple(name for name, _ in KINDS) + ("other",)


def token_kind(token: str) -> str:
    for name, tokens in KINDS:
        if token in tokens:
            return name
    return "other"


def edits_by_kind(prediction: str, gold: str) -> Counter:
    """The SER edits of one system, counted per token kind."""
    predicted, golden = prediction.split(), gold.split()
    edits = Counter()
    for operation in Levenshtein.editops(predicted, golden):
        extra = operation.tag == "delete"  # a predicted token with no gold counterpart
        edits[token_kind(predicted[operation.src_pos] if extra else golden[operation.dest_pos])] += 1
    return edits


def ser_by_kind(predictions, gold_lmx) -> dict:
    """{kind: {"part": its edits over all gold tokens (the parts sum to corpus SER), "gold": gold tokens of
    that kind}}, every kind named, in KIND_NAMES order."""
    edits, gold_counts, gold_total = Counter(), Counter(), 0
    for prediction, gold in zip(predictions, gold_lmx, strict=True):
        edits += edits_by_kind(prediction, gold)
        tokens = gold.split()
        gold_counts.update(token_kind(token) for token in tokens)
        gold_total += len(tokens)
    return {name: {"part": edits[name] / gold_total if gold_total else 0.0, "gold": gold_counts[name]}
            for name in KIND_NAMES}


def largest_parts(points_by_kind: dict, count: int = 3) -> str:
    """'pitch 1.6, duration 1.1, accidental 0.6': the kinds of token that cost the most points of SER, from
    {kind: share of all gold tokens} (ser_by_kind's parts, or training.release.evaluate.by_source's points)."""
    parts = sorted(points_by_kind.items(), key=lambda item: -item[1])[:count]
    return ", ".join(f"{kind} {100 * value:.1f}" for kind, value in parts if value >= 0.0005)
