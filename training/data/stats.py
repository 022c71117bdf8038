"""Token lengths, LMX vocabulary coverage and geometry coverage of a built dataset, split by split."""
import json
from collections import Counter
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
from lmx.linearization.vocabulary import ALL_TOKENS, PITCH_TOKENS, TIME_MODIFICATION_TOKENS

from training.data.schema import SPLITS

COMMON_TUPLETS = {"3in2", "2in3", "6in4", "5in4", "4in3", "7in8", "7in4", "9in8"}
PIANO_KEYS = PITCH_TOKENS[PITCH_TOKENS.index("A0") : PITCH_TOKENS.index("C8") + 1]
# Tokens of the LMX vocabulary that pianoform scores (OLiMPiC's domain) practically never use.
NOT_PIANOFORM = {
    "voice:9", "voice:10", "voice:11", "voice:12", "staff:3",  # a third staff: organ music
    "1024th", "512th", "256th", "long", "maxima",  # beyond common-practice note values
    *(pitch for pitch in PITCH_TOKENS if pitch not in PIANO_KEYS),  # off the keyboard (A0-C8)
    "clef:G3", "clef:G4", "clef:G5", "clef:C1", "clef:C2", "clef:C5", "clef:F1", "clef:F2", "clef:F5",
    *(t for t in TIME_MODIFICATION_TOKENS if t not in COMMON_TUPLETS),  # irregular tuplets
}  # fmt: skip
PITCH_SET = set(PITCH_TOKENS)
PIANO_VOCABULARY = [token for token in ALL_TOKENS if token not in NOT_PIANOFORM]
LENGTH_PERCENTILES = (0, 10, 50, 90, 99, 100)


def read_lmx(dataset_dir: Path, split: str) -> list[str]:
    files = sorted((Path(dataset_dir) / "data").glob(f"{split}-*.parquet"))
    return [lmx for file in files for lmx in pq.read_table(file, columns=["lmx"]).column("lmx").to_pylist()]


def split_stats(sequences: list[str]) -> dict:
    counts = Counter(token for lmx in sequences for token in lmx.split())
    lengths = np.array([len(lmx.split()) for lmx in sequences])
    return {
        "systems": len(sequences),
        "lengths": dict(zip(LENGTH_PERCENTILES, np.percentile(lengths, LENGTH_PERCENTILES).round().astype(int))),
        "mean_length": float(lengths.mean()),
        "counts": counts,
    }


def coverage_lines(name: str, counts: Counter) -> list[str]:
    piano_seen = [t for t in PIANO_VOCABULARY if counts[t]]
    all_seen = [t for t in ALL_TOKENS if counts[t]]
    missing = [t for t in PIANO_VOCABULARY if not counts[t]]
    return [
        f"  {name} vocabulary coverage: pianoform {len(piano_seen)}/{len(PIANO_VOCABULARY)}"
        f" = {len(piano_seen) / len(PIANO_VOCABULARY):.1%}; all LMX {len(all_seen)}/{len(ALL_TOKENS)}",
        f"  never produced (pianoform): {' '.join(missing) or '-'}",
    ]


def geometry_lines(dataset_dir: Path) -> list[str]:
    """Share of tokens, and of pitch tokens, that have a box, per source and per font; what lacks one."""
    tokens, boxed, unboxed = Counter(), Counter(), Counter()
    for file in sorted((Path(dataset_dir) / "data").glob("*.parquet")):
        table = pq.read_table(file, columns=["lmx", "source", "engraving", "token_boxes"]).to_pylist()
        for row in table:
            font = json.loads(row["engraving"] or "{}").get("font", "unknown")
            boxes = row["token_boxes"] or [None] * len(row["lmx"].split())
            for token, box in zip(row["lmx"].split(), boxes):
                kind = "pitch" if token in PITCH_SET else "all"
                for group in (("source", row["source"]), ("font", font)):
                    for counted in {kind, "all"}:
                        tokens[group, counted] += 1
                        boxed[group, counted] += box is not None
                if box is None:
                    unboxed[token] += 1
    if not tokens:
        return ["geometry: no systems"]
    lines = ["geometry (tokens with a box: all / pitch tokens):"]
    for group in sorted({group for group, _ in tokens}):
        shares = [f"{boxed[group, k] / tokens[group, k]:.2%} of {tokens[group, k]}" if tokens[group, k] else "-"
                  for k in ("all", "pitch")]
        lines.append(f"  {group[0]} {group[1]}: {shares[0]} / {shares[1]}")
    total = sum(unboxed.values())
    common = ", ".join(f"{token} {count / total:.1%}" for token, count in unboxed.most_common(12))
    lines.append(f"  without a box ({total} tokens): {common}")
    return lines


def report(dataset_dir: Path) -> str:
    lines, total = [], Counter()
    for split in SPLITS:
        sequences = read_lmx(dataset_dir, split)
        if not sequences:
            lines.append(f"{split}: no systems")
            continue
        stats = split_stats(sequences)
        total.update(stats["counts"])
        percentiles = " ".join(f"p{p}={v}" for p, v in stats["lengths"].items())
        mean = f"mean={stats['mean_length']:.0f}"
        lines.append(f"{split}: {stats['systems']} systems; tokens per system {mean} {percentiles}")
        lines += coverage_lines(split, stats["counts"])
    lines.append("all splits:")
    lines += coverage_lines("all", total)
    lines.append(f"  left out of the pianoform vocabulary: {' '.join(sorted(NOT_PIANOFORM))}")
    lines += geometry_lines(dataset_dir)
    return "\n".join(lines)
