"""Evaluate a model on a split: SER (all tokens, pitches, the rest), TEDn, clean delinearization, filled
measures, key and time signatures, clef changes, speed.

    python -m training.release.evaluate MODEL --dataset D --split test [--limit N | --sample N | --per-source N]
                                        [--num-beams K] [--augment]

MODEL is a folder saved by training (a checkpoint, best/, final/) or a Hub id. Writes
<out>/eval-<split>[-augmented].json and .md, and every prediction beside its gold in
eval-<split>[-augmented]-predictions.jsonl (out defaults to MODEL's folder when it is one). `decode` and
`score` also serve the trainers' dev evaluations (dev_evaluation.py beside this file, and GRPO's).
"""
import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from lmx.linearization.vocabulary import PITCH_TOKENS

from acai_hf.music.lmx import delinearize
from acai_hf.music.measure_lengths import measure_validity
from acai_hf.metrics.error_kinds import largest_parts, ser_by_kind
from acai_hf.metrics.ser import corpus_ser
from acai_hf.metrics.pitch_errors import pitch_error_distances, pitch_misses_by_place
from acai_hf.metrics.clef_changes import clef_change_accuracy
from acai_hf.metrics.signatures import signature_accuracy
from acai_hf.metrics.tedn import corpus_tedn
from acai_hf.music.joining import join_systems


def decode(model, processor, images, num_beams=1, batch_size=8, max_new_tokens=None, constrained=False):
    """Images -> LMX strings, by width-sorted batches (acai_hf.model.generation_acai.generate_lmx)."""
    from acai_hf.model.generation_acai import generate_lmx

    # max_length counts the start token; generation_config already sets it, so max_new_tokens would warn
    kwargs = {} if max_new_tokens is None else {"max_length": max_new_tokens + 1}
    texts, _ = generate_lmx(model, processor, images, num_beams=num_beams, constrained=constrained,
                            batch_size=batch_size, **kwargs)
    return texts


def measure_fill(prediction: str, gold: str) -> tuple[int, int]:
    """(measures that fill their length, measures judged) in a predicted system. A measure is judged
    by the predicted time signature in force, else (LMX prints it only where engraved) by the length
    of the gold measure at the same position; measures beyond the gold's without one are not judged."""
    predicted = measure_validity(delinearize(prediction)[0])
    gold_lengths = [max(r.voices.values(), default=None) for r in measure_validity(delinearize(gold)[0])]
    filled = judged = 0
    for index, report in enumerate(predicted):
        if report.expected is not None:
            ok = report.fills
        elif index < len(gold_lengths) and gold_lengths[index] is not None:
            ok = bool(report.voices) and all(length == gold_lengths[index] for length in report.voices.values())
        else:
            continue
        judged += 1
        filled += bool(ok)
    return filled, judged


def ser_of_kind(predictions, gold_lmx, is_kind) -> float:
    """Corpus SER over only the tokens `is_kind` accepts, both sides filtered alike: with pitches, whether
    the model reads them; with the rest, how well it gets rhythm and structure whatever the pitches."""
    def only(text):
        return " ".join(token for token in text.split() if is_kind(token))
    return corpus_ser([only(p) for p in predictions], [only(g) for g in gold_lmx]).value


def score(predictions, gold_lmx, gold_musicxml=None, workers=1, sources=None) -> dict:
    """Corpus SER and TEDn (micro-averaged), SER of the pitch tokens and of all others, share of
    predictions that delinearize without any error, share of judged measures that fill their length,
    opening key and time signatures read right (acai_hf.metrics.signatures), clef changes inside systems read
    (acai_hf.metrics.clef_changes), how far wrong pitches are off
    and which gold pitches are missed, in the staff, on ledger lines or in chords (acai_hf.metrics.pitch_errors),
    and the SER split by the kind of token the errors fall on (acai_hf.metrics.error_kinds).
    Without gold MusicXML, TEDn compares with the delinearized gold LMX. With each system's `sources`
    (more than one kind), SER, pitch SER and measure fill per source too (`by_source`)."""
    if gold_musicxml is None:
        gold_musicxml = [None] * len(gold_lmx)
    gold_musicxml = [xml if xml else join_systems([lmx]) for xml, lmx in zip(gold_musicxml, gold_lmx)]
    clean = sum(not delinearize(p)[1] for p in predictions)
    fills = [measure_fill(p, g) for p, g in zip(predictions, gold_lmx)]
    judged = sum(j for _, j in fills)
    metrics = {
        "systems": len(predictions),
        "ser": corpus_ser(predictions, gold_lmx).value,
        "tedn": corpus_tedn(predictions, gold_musicxml, workers=workers).value,
        "ser_pitch": ser_of_kind(predictions, gold_lmx, PITCH_TOKENS.__contains__),
        "ser_not_pitch": ser_of_kind(predictions, gold_lmx, lambda token: token not in PITCH_TOKENS),
        "delinearize_clean": clean / max(1, len(predictions)),
        "measure_fill": fill_share(fills),
        "measures_judged": judged,
        **signature_accuracy(predictions, gold_lmx),
        **clef_change_accuracy(predictions, gold_lmx),
        **pitch_error_distances(predictions, gold_lmx),
        "pitch_missed_by_place": pitch_misses_by_place(predictions, gold_lmx),
        "ser_by_kind": ser_by_kind(predictions, gold_lmx),
    }
    if sources is not None and len(set(sources)) > 1:
        metrics["by_source"] = by_source(predictions, gold_lmx, fills, sources)
    return metrics


def fill_share(fills) -> float | None:
    """Filled over judged measures, from measure_fill's (filled, judged) per system; None when none is judged."""
    judged = sum(j for _, j in fills)
    return sum(f for f, _ in fills) / judged if judged else None


def by_source(predictions, gold_lmx, fills, sources) -> dict:
    """SER, pitch SER and measure fill per source (chorale, corpus-piano, procedural...): the test split is
    mostly chorales, so one figure can hide which kind of music the model reads. `fills`: score's.
    `points` and `points_by_kind`: the source's edits over all gold tokens, in all and per token kind, so
    they add up, over sources and kinds, to the corpus SER: what reading each kind of symbol in each kind of
    music better could win."""
    all_tokens = sum(len(gold.split()) for gold in gold_lmx)
    kinds = {}
    for source in sorted(set(sources)):
        rows = [i for i, s in enumerate(sources) if s == source]
        chosen, gold = [predictions[i] for i in rows], [gold_lmx[i] for i in rows]
        share = sum(len(g.split()) for g in gold) / all_tokens if all_tokens else 0.0
        ser = corpus_ser(chosen, gold).value
        kinds[source] = {"systems": len(rows), "ser": ser,
                         "ser_pitch": ser_of_kind(chosen, gold, PITCH_TOKENS.__contains__),
                         "measure_fill": fill_share([fills[i] for i in rows]),
                         "points": ser * share,
                         "points_by_kind": {kind: part["part"] * share
                                            for kind, part in ser_by_kind(chosen, gold).items()}}
    return kinds


def markdown_table(metrics: dict, title: str) -> str:
    rows = [f"| {name} | {value:.4f} |" if isinstance(value, float) else f"| {name} | {value} |"
            for name, value in metrics.items() if not isinstance(value, dict)]
    lines = [f"### {title}", "", "| metric | value |", "|---|---|", *rows, ""]
    if metrics.get("ser_by_kind"):
        lines += ["| token kind | gold tokens | part of SER |", "|---|---|---|"]
        lines += [f"| {kind} | {part['gold']} | {part['part']:.4f} |" for kind, part in metrics["ser_by_kind"].items()]
        lines.append("")
    if metrics.get("pitch_missed_by_place"):
        lines += ["| gold pitches | count | missed |", "|---|---|---|"]
        lines += [f"| {place} | {part['gold']} | " + ("n/a" if part["missed"] is None else f"{part['missed']:.4f}") + " |"
                  for place, part in metrics["pitch_missed_by_place"].items()]
        lines.append("")
    if metrics.get("by_source"):
        lines += ["| source | systems | SER | pitch SER | measures filled | points of the SER | largest parts |",
                  "|---|---|---|---|---|---|---|"]
        for source, kind in metrics["by_source"].items():
            fill = "n/a" if kind["measure_fill"] is None else f"{kind['measure_fill']:.4f}"
            lines.append(f"| {source} | {kind['systems']} | {kind['ser']:.4f} | {kind['ser_pitch']:.4f} | {fill} | "
                         f"{100 * kind['points']:.1f} | {largest_parts(kind['points_by_kind'])} |")
        lines.append("")
    return "\n".join(lines)


def select_systems(data, limit: int | None = None, sample: int | None = None, per_source: int | None = None,
                   seed: int = 0):
    """The rows to decode: the first `limit`, `sample` drawn at random, or `per_source` drawn at random from each
    source in the order the sources first appear (all rows when none is given). Seeded, so two models compared
    on the same data read the same systems."""
    if limit is not None:
        return data.select(range(min(limit, len(data))))
    if sample is not None:
        return data.shuffle(seed=seed).select(range(min(sample, len(data))))
    if per_source is not None:
        if "source" not in data.column_names:
            raise ValueError("drawing systems per source needs the data's source column; this data has none")
        rng = np.random.default_rng(seed)
        rows_of: dict[str, list[int]] = {}
        for index, source in enumerate(data["source"]):
            rows_of.setdefault(source, []).append(index)
        chosen = [index for indices in rows_of.values()
                  for index in sorted(rng.permutation(indices)[:per_source].tolist())]
        return data.select(chosen)
    return data


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", help="model folder or Hub id")
    parser.add_argument("--dataset", required=True, help="engine output, OLiMPiC folder or HF dataset")
    parser.add_argument("--split", default="test")
    parser.add_argument("--limit", type=int, default=None, help="first N systems only")
    parser.add_argument("--sample", type=int, default=None,
                        help="N systems drawn at random (--seed) instead: e.g. seen pieces from a train split")
    parser.add_argument("--per-source", type=int, default=None,
                        help="N systems drawn at random (--seed) from each source, so that real music weighs as much "
                             "as the procedural music that fills most of a dev split")
    parser.add_argument("--num-beams", type=int, default=1)
    parser.add_argument("--constrained", action="store_true", help="LMX grammar-constrained decoding")
    parser.add_argument("--augment", action="store_true", help="camera-like augmentation (seeded per row)")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--max-new-tokens", type=int, default=None)
    parser.add_argument("--image-column", default="image")
    parser.add_argument("--lmx-column", default="lmx")
    parser.add_argument("--int8", action="store_true", help="int8 decoder weights (CPU; acai_hf.model.quantization_acai)")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    parser.add_argument("--workers", type=int, default=1, help="processes for TEDn")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=None, help="folder for eval-<split>.json/.md")
    args = parser.parse_args(argv)
    if sum(n is not None for n in (args.limit, args.sample, args.per_source)) > 1:  # before the model and data load
        parser.error("--limit takes the first systems, --sample draws them, --per-source draws from each source: give one")
    return args


def main(argv=None) -> dict:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    import acai_hf  # noqa: F401  (registers the Auto classes)
    from acai_hf.model.loading import load
    from training.data.loaders import load_system_dataset

    model, processor = load(args.model, int8=args.int8)
    data = load_system_dataset(args.dataset, args.split, image_column=args.image_column, lmx_column=args.lmx_column)
    data = select_systems(data, args.limit, args.sample, args.per_source, args.seed)
    images = list(data["image"])
    if args.augment:
        from training.data.augment import CameraAugment

        augment = CameraAugment(p=1.0)
        images = [augment(image, np.random.default_rng([args.seed, i])) for i, image in enumerate(images)]
    start = time.perf_counter()
    predictions = decode(model, processor, images, args.num_beams, args.batch_size, args.max_new_tokens,
                         args.constrained)
    seconds = time.perf_counter() - start
    sources = data["source"] if "source" in data.column_names else None
    metrics = score(predictions, data["lmx"], data["musicxml"], workers=args.workers, sources=sources)
    metrics.update(systems_per_s=len(images) / seconds, num_beams=args.num_beams, augment=args.augment,
                   split=args.split, dataset=str(args.dataset), model=str(args.model), int8=args.int8)

    out = Path(args.out) if args.out else (Path(args.model) if Path(args.model).is_dir() else Path("."))
    out.mkdir(parents=True, exist_ok=True)
    # clean, augmented and int8 results side by side, none overwriting the card's fp32 figures
    name = f"eval-{args.split}" + ("-augmented" if args.augment else "") + ("-int8" if args.int8 else "")
    title = (f"{args.model} on {args.split}" + (" (camera-like augmentation)" if args.augment else "")
             + (" (int8 decoder)" if args.int8 else ""))
    (out / f"{name}.json").write_text(json.dumps(metrics, indent=1))
    # per system, for error analysis (training/release/model_card.py), with its piece where the data names it
    origins = {name: list(data[name]) for name in ("source", "piece_id") if name in data.column_names}
    with open(out / f"{name}-predictions.jsonl", "w") as f:
        for index, (prediction, gold) in enumerate(zip(predictions, data["lmx"])):
            f.write(json.dumps({"index": index, **{name: column[index] for name, column in origins.items()},
                                "prediction": prediction, "gold": gold}) + "\n")
    (out / f"{name}.md").write_text(markdown_table(metrics, title))
    print(markdown_table(metrics, title))
    return metrics


if __name__ == "__main__":
    main()
