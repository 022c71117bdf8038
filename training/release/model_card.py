"""Write the model card (`model_card.md`, and README.md in the model folder) from measured files only.

    python -m training.release.model_card checkpoints/acai-omr-small --run ~/.cache/acai-omr/runs/RUN

Every figure in the card is read from a file a repo command wrote:
- MODEL/eval-test.json, eval-test-augmented.json and (if present) eval-test-int8.json (+ -predictions.jsonl):
  `training.release.evaluate`
- MODEL/metrics.json: `training.release.ship` (dev figures, and the checkpoint the weights came from)
- RUN/args.json, train.csv, dev.csv, curves.png: `training.supervised.train`
- the dataset's build.json: `training.data build`
The training curve is copied into the model folder as training_curves.png, so it travels with the model.
"""
import argparse
import json
import shutil
from pathlib import Path

from acai_hf.metrics.error_kinds import largest_parts
from acai_hf.metrics.ser import corpus_ser
from training.release.lineage import lineage, read_json, source_step
from training.run.logs import cpu_name, read_csv

REPO = Path(__file__).resolve().parents[2]
TARGETS = {"ser": 0.10, "tedn": 0.12, "ser_augmented": 0.20}  # issue #7
LENGTH_BUCKETS = ((0, 100), (100, 200), (200, 400), (400, 10**9))


def pct(value) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}%"


def ser_by_length(predictions_file: Path) -> list[tuple[str, int, float]]:
    """[(gold length range, systems, SER)] from an evaluation's predictions: where the model fails."""
    if not predictions_file.is_file():
        return []
    rows = [json.loads(line) for line in predictions_file.read_text().splitlines()]
    table = []
    for low, high in LENGTH_BUCKETS:
        part = [r for r in rows if low <= len(r["gold"].split()) < high]
        if part:
            label = f"{low}+" if high > 10**8 else f"{low}-{high - 1}"
            value = corpus_ser([r["prediction"] for r in part], [r["gold"] for r in part]).value
            table.append((label, len(part), value))
    return table


def ser_by_piece(predictions_file: Path, source: str) -> list[tuple[str, int, float]]:
    """[(piece, systems, SER)] of one source's test pieces, most systems first, from an evaluation's predictions
    when they name their pieces: a few pieces make a source's figure, and they differ widely."""
    if not predictions_file.is_file():
        return []
    rows = [json.loads(line) for line in predictions_file.read_text().splitlines()]
    pieces = {}
    for row in rows:
        if row.get("source") == source and row.get("piece_id"):
            pieces.setdefault(row["piece_id"], []).append(row)
    return [(piece, len(part), corpus_ser([r["prediction"] for r in part], [r["gold"] for r in part]).value)
            for piece, part in sorted(pieces.items(), key=lambda item: -len(item[1]))]


def results_table(clean: dict | None, augmented: dict | None, int8: dict | None = None) -> str:
    def cell(metrics, key, fmt=pct):
        return "n/a" if not metrics or metrics.get(key) is None else fmt(metrics[key])

    lines = ["| test split | SER | TEDn | well-formed | measures filled | s / system | systems |",
             "|---|---|---|---|---|---|---|"]
    for name, m in (("clean", clean), ("camera-like augmentation", augmented), ("clean, int8 decoder", int8)):
        if m:
            lines.append(f"| {name} | {cell(m, 'ser')} | {cell(m, 'tedn')} | {cell(m, 'delinearize_clean')} | "
                         f"{cell(m, 'measure_fill')} | {1 / m['systems_per_s']:.2f} | {m['systems']} |")
    return "\n".join(lines)


def target_lines(clean: dict | None, augmented: dict | None) -> list[str]:
    checks = [("clean SER", clean and clean.get("ser"), TARGETS["ser"]),
              ("clean TEDn", clean and clean.get("tedn"), TARGETS["tedn"]),
              ("augmented SER", augmented and augmented.get("ser"), TARGETS["ser_augmented"])]
    lines = []
    for name, value, target in checks:
        if value is None:
            lines.append(f"- {name}: not measured (target {pct(target)})")
        elif value <= target:
            lines.append(f"- {name}: {pct(value)}, meets the target of {pct(target)}")
        else:
            gap = 100 * (value - target)
            lines.append(f"- {name}: {pct(value)}, **misses** the target of {pct(target)} by {gap:.1f} points")
    return lines


def model_index(name: str, clean: dict | None, augmented: dict | None) -> str:
    metrics = []
    if clean:
        metrics += [f"      - {{type: ser, name: SER, value: {clean['ser']:.4f}}}",
                    f"      - {{type: tedn, name: TEDn, value: {clean['tedn']:.4f}}}"]
    if augmented:
        metrics.append(f"      - {{type: ser, name: SER (camera-like augmentation), value: {augmented['ser']:.4f}}}")
    if not metrics:
        return ""
    return "\n".join([
        "model-index:",
        f"- name: {name}",
        "  results:",
        "  - task: {type: image-to-text, name: Optical music recognition (grand-staff systems to LMX)}",
        "    dataset: {type: acai-omr-engine, name: Acai OMR engine test split (reserved music21 pieces), split: test}",
        "    metrics:",
        *metrics,
    ]) + "\n"


def machine_words(machine: dict | None) -> str:
    """A run's machine.json -> words. Runs from before the trainer wrote one ran on this CPU."""
    if not machine:
        return f"{cpu_name()}, 2 cores, fp32"
    if machine.get("device_type") == "cuda":
        count = machine.get("processes") or 1
        return f"{count}x {machine['device']}, {machine.get('precision')}"
    return f"{machine['device']}, {machine.get('cpu_cores')} cores, {machine.get('precision')}"


def hardware_line(chain: list[dict]) -> str:
    """'A (run1, run2; 2.1 h), B (run3; 0.1 h)': the machines of the chain's runs, in order of first use."""
    groups: dict[str, list[dict]] = {}
    for link in chain:
        if not link.get("external"):
            groups.setdefault(machine_words(link.get("machine")), []).append(link)
    parts = []
    for words, links in groups.items():
        runs = ", ".join("`" + link["run"] + "`" for link in links)
        parts.append(f"{words} ({runs}; {sum(link['hours'] for link in links):.2f} h)")
    return ", ".join(parts)


def data_line(dataset, build: dict | None, mix: dict | None = None) -> str:
    """The last run's data: one build of our engine (its build.json), a mix of builds (`training.data mix`'s
    mix.json), or a folder joining several some other way."""
    reserved = ("Reserved pieces (`training/data/reserved_pieces.txt`) are never trained on; they form the test "
                "split.")
    if mix:
        builds = ", ".join(f"`{Path(build).name}`" for build in mix["train"])
        return (f"- Data: `{dataset}`, the train splits of {builds} (`python -m training.data mix`), dev and test "
                f"`{Path(mix['eval_from']).name}`'s; how each build was made is in `training/README.md`. {reserved}")
    if not build:
        return (f"- Data: `{dataset}`, not a single build of our engine (no build.json): how it was made is in "
                f"`training/README.md`. {reserved}")
    mix = ", ".join(f"{k} {v:.0%}" for k, v in (build.get("mix") or {}).items())
    return (f"- Data: `{dataset}`, rendered by our engine (`python -m training.data build --systems "
            f"{build.get('systems')} --seed {build.get('seed')}`), mix: {mix or 'n/a'}. {reserved}")


def other_data_lines(chain: list[dict], last_dataset) -> list[str]:
    """Data sets of the chain other than the one the last run ends on (an earlier run's, one made on a GPU
    machine, the one a run read before a resume switched it), each with the runs that read it."""
    others: dict[str, list[str]] = {}
    for link in chain:
        for dataset in [] if link.get("external") else link.get("datasets") or [link.get("dataset")]:
            if dataset and dataset != last_dataset and link["run"] not in others.get(dataset, []):
                others.setdefault(dataset, []).append(link["run"])
    return [f"- Also trained on `{dataset}` (" + ", ".join("`" + run + "`" for run in runs) + "); how it was built "
            "is in `training/README.md`." for dataset, runs in others.items()]


def batch_phrase(args: dict, chain: list[dict]) -> str:
    """The last run's batch: `--batch-size` is per process, so name the processes when there were several."""
    processes = ((chain[-1].get("machine") or {}).get("processes") or 1) if chain else 1
    batch = f"batch {args.get('batch_size')}"
    return batch if processes == 1 else f"{batch} per process on {processes} processes"


def training_facts(run: Path | None, step: int | None = None, recorded: list[dict] | None = None) -> dict:
    """What the card says about training; `recorded`: the chain the shipped folder's metrics.json holds
    (training.release.ship wrote it while every run it names could still be read)."""
    if run is None:
        return {}
    args = read_json(run / "args.json") or {}
    dev = read_csv(run / "dev.csv")
    chain = recorded or lineage(run, step)
    runs = [link for link in chain if not link.get("external")]
    facts = {"args": args, "chain": chain, "steps": sum(link["steps"] for link in runs),
             "hours": sum(link["hours"] for link in runs), "images": sum(link["images"] for link in runs), "dev": dev}
    dataset = Path(str(args.get("dataset", ""))).expanduser()
    facts["build"] = read_json(dataset / "build.json") if dataset.is_dir() else None
    facts["mix"] = read_json(dataset / "mix.json") if dataset.is_dir() else None
    return facts


def dev_line(shipped: dict) -> str:
    """The dev figures training.release.ship compared on, and which dev systems those were."""
    dev = shipped["dev"]
    chosen = (f"{shipped['dev_per_source']} systems drawn from each source" if shipped.get("dev_per_source")
              else f"the first {shipped.get('dev_limit')} systems")
    sources = ", ".join(f"{source} {pct(kind['ser'])}" for source, kind in dev.get("by_source", {}).items())
    return (f"Dev split ({chosen}, when shipped by `training.release.ship`): SER {pct(dev.get('ser'))}, "
            f"TEDn {pct(dev.get('tedn'))}" + (f"; by source {sources}" if sources else "") + ".")


def source_line(clean: dict) -> str:
    """Each kind of music's clean test SER and, where the evaluation counted them, the points of the whole
    SER it costs and the token kinds they fall on (training.release.evaluate.by_source)."""
    kinds = []
    for source, kind in clean["by_source"].items():
        text = f"{source} {pct(kind['ser'])} ({kind['systems']} systems, pitches {pct(kind['ser_pitch'])}"
        if kind.get("points_by_kind"):
            text += (f"; {100 * kind['points']:.1f} of the {100 * clean['ser']:.1f} points, most on "
                     f"{largest_parts(kind['points_by_kind'])}")
        kinds.append(text + ")")
    return "- By kind of music, clean test SER: " + ", ".join(kinds) + "."


def signature_line(clean: dict) -> str:
    """How often the opening key and time signatures are read right (training.release.evaluate's figures)."""
    line = f"- Signatures: the key a system opens with is right on {pct(clean['key_right'])} of {clean['keys_judged']} test systems"
    if clean.get("time_right") is not None:
        line += f", the time signature on {pct(clean['time_right'])} of the {clean['times_judged']} that print one"
        if clean.get("times_not_4_4_judged"):
            judged = clean["times_not_4_4_judged"]
            right = round(clean["time_right_not_4_4"] * judged)
            line += (f", all {judged} not in 4/4 among them" if right == judged
                     else f", but on only {right} of the {judged} not in 4/4")
        line += " (a wrong one on a piece's first system makes every measure of the score look wrong)"
    return line + "."


def render(model_dir: Path, run: Path | None) -> str:
    config = read_json(model_dir / "config.json") or {}
    clean = read_json(model_dir / "eval-test.json")
    augmented = read_json(model_dir / "eval-test-augmented.json")
    int8 = read_json(model_dir / "eval-test-int8.json")
    shipped = read_json(model_dir / "metrics.json") or {}
    source = shipped.get("source")
    facts = training_facts(run, source_step(Path(source)) if source else None, shipped.get("lineage"))
    name = model_dir.name
    encoder, decoder = config.get("encoder", {}), config.get("decoder", {})
    args = facts.get("args", {})
    build = facts.get("build") or {}
    dev = shipped.get("dev") or {}
    lengths = ser_by_length(model_dir / "eval-test-predictions.jsonl")

    out = ["---", "license: mit", "library_name: transformers", "pipeline_tag: image-to-text", "tags:",
           "- optical-music-recognition", "- music", "- lmx", "- musicxml", "- acai-omr",
           model_index(name, clean, augmented).rstrip("\n"), "---", "",
           f"# {name}", "",
           "Reads an image of one grand-staff (piano) system and writes its music as LMX tokens (Linearized",
           "MusicXML, the OLiMPiC format); `acai_hf` turns those into MusicXML and MIDI. It is the default model of",
           "the Acai OMR app (`python app.py`).", "",
           "## Model", "",
           f"- ViT encoder: {encoder.get('num_hidden_layers')} layers x {encoder.get('hidden_size')}, "
           f"{encoder.get('patch_size')}x{encoder.get('patch_size')} {encoder.get('stem')} patches, "
           "2-D sin-cos positions, "
           f"images scaled to at most {encoder.get('max_patches')} patches.",
           f"- Transition head: MLP {encoder.get('hidden_size')} -> {config.get('transition_intermediate_size')} -> "
           f"{decoder.get('hidden_size')}, centred per image and layer-normed.",
           f"- Decoder: {decoder.get('num_hidden_layers')} layers x {decoder.get('hidden_size')}, "
           f"{decoder.get('num_attention_heads')} heads, up to {decoder.get('max_position_embeddings')} tokens; "
           f"vocabulary of {decoder.get('vocab_size')} LMX tokens and specials.",
           "- Weights stored in float16, computed in float32 (fast on CPUs without bf16 units).", "",
           "## Intended use", "",
           "- Printed (engraved) pianoform music, one system (two staves joined by a brace) at a time. The app and",
           "  `python -m acai_hf transcribe` find the systems on a page for you.",
           "- Not for handwritten music, lyrics, or text; dynamics, directions and ornaments outside LMX are not read.",
           "- Always compare the engraved preview with the original before relying on the output.", "",
           "```python",
           "import acai_hf  # registers the model with the Auto classes",
           "result = acai_hf.transcribe([system_image], model=\"checkpoints/acai-omr-small\")",
           "print(result.systems[0]); open(\"score.musicxml\", \"w\").write(result.musicxml)",
           "```", "",
           "## Training", ""]
    if facts:
        out += [data_line(args.get("dataset"), build, facts.get("mix")),
                *other_data_lines(facts["chain"], args.get("dataset")),
                f"- {facts['steps']} optimizer steps in all ({facts['images']:,} system images; "
                f"{batch_phrase(args, facts['chain'])} in the last run, each run's in its `args.json`), "
                f"teacher forcing until {args.get('ss_start', 0):.0%} of a {args.get('total_steps')}-step schedule, "
                f"AdamW lr {args.get('lr')} (encoder {args.get('encoder_lr')}, layer decay {args.get('layer_decay')}; "
                f"{lr_schedule_phrase(args)}), "
                f"camera-like augmentation on {args.get('augment_p', 0):.0%} of the images, "
                f"auxiliary bag-of-tokens loss weight {config.get('bag_loss_weight', 0)}.",
                f"- Hardware: {hardware_line(facts['chain'])}; {facts['hours']:.1f} hours of training in all.",
                "- The runs, each starting from the previous one's weights (settings of the last run above): "
                + " -> ".join(f"`{link['run']}`" if link.get("external") else f"`{link['run']}` ({link['steps']} steps)"
                              for link in facts["chain"]) + ".",
                f"- Command: `python -m training.supervised.train --dataset {args.get('dataset')} --preset {args.get('preset')} "
                + " ".join(f"--set {o}" for o in args.get("overrides") or []) + " ...` (full arguments in the run's "
                "`args.json`; the plan and the runs are in `training/README.md`).",
                "", "![training curves](training_curves.png)", ""]
    else:
        out += ["(no training run given)", ""]
    out += ["## Results", "",
            "Greedy decoding on the test split (reserved music21 pieces rendered by our engine), micro-averaged:", "",
            results_table(clean, augmented, int8), "",
            "Reproduce: `python -m training.release.evaluate checkpoints/acai-omr-small --dataset DATA --split test` "
            "(add `--augment` for the camera-like row, `--int8` for the int8 one: the decoder's linear layers with "
            "int8 weights, faster on a CPU, `python app.py --int8`).", "",
            *target_lines(clean, augmented), ""]
    if dev:
        out += [dev_line(shipped), ""]
    out += ["## Known limitations (measured)", ""]
    if lengths:
        out += ["SER on the clean test split by the length of the gold system:", "",
                "| gold tokens | systems | SER |", "|---|---|---|",
                *[f"| {label} | {n} | {pct(value)} |" for label, n, value in lengths], ""]
    if clean:
        out.append(f"- {pct(1 - clean['delinearize_clean'])} of test outputs have at least one delinearization error "
                   "(e.g. a token out of place); the app still builds MusicXML from them and highlights bad measures.")
    if clean and clean.get("ser_pitch") is not None:
        out.append(f"- What is wrong: on the clean test split the pitch tokens alone score SER {pct(clean['ser_pitch'])}, "
                   f"all the other tokens (rhythm, voices, beams, structure) {pct(clean['ser_not_pitch'])}.")
    if clean and clean.get("ser_by_kind"):
        parts = sorted(clean["ser_by_kind"].items(), key=lambda item: -item[1]["part"])
        out.append("- Where the clean test SER comes from (each edit charged to the kind of token it falls on; the "
                   "parts add up to the SER): " + ", ".join(f"{kind} {100 * part['part']:.1f}" for kind, part in parts
                                                            if part["part"] >= 0.001) + " points.")
    if clean and clean.get("pitch_off_one_step") is not None:
        out.append(f"- Of the {clean['pitch_substitutions']} test pitches written in place of another, "
                   f"{pct(clean['pitch_off_one_step'])} are one staff position off, {pct(clean['pitch_off_two_steps'])} two, "
                   f"{pct(clean['pitch_off_octave'])} an octave: the model mostly finds the note and misplaces it by a step.")
    places = (clean or {}).get("pitch_missed_by_place") or {}
    where = {"staff": "in the staff", "ledger": "on ledger lines", "chord": "added to a chord"}
    missed = [f"{pct(part['missed'])} of the {part['gold']} {where[place]}" for place, part in places.items()
              if part["missed"] is not None]
    if missed:
        out.append("- Gold pitches the model misses (substituted or left out): " + ", ".join(missed) + ".")
    if clean and clean.get("key_right") is not None:
        out.append(signature_line(clean))
    if clean and clean.get("clef_changes_gold"):
        read = round(clean["clef_changes_read"] * clean["clef_changes_gold"])
        out.append(f"- Clef changes inside a system: {read} of the {clean['clef_changes_gold']} on the test split read "
                   f"(same clef, same staff), {clean['clef_changes_written']} written; a missed one puts every later "
                   "note of its staff a third or a sixth off.")
    if clean and clean.get("by_source"):
        out.append(source_line(clean))
    piano = ser_by_piece(model_dir / "eval-test-predictions.jsonl", "corpus-piano")
    if piano:
        out.append("- The piano test pieces, clean test SER: "
                   + ", ".join(f"`{piece}` {pct(value)} ({n} systems)" for piece, n, value in piano) + ".")
    source_metrics = shipped.get("source_metrics") or {}
    if source_metrics.get("dev_pitch_ce") is not None:
        out.append(f"- Pitches: on dev, the cross-entropy on pitch tokens is {source_metrics['dev_pitch_ce']:.3f} with each "
                   f"system's own image and {source_metrics['dev_pitch_ce_swapped_images']:.3f} with another system's "
                   "(`training.supervised.train`'s dev evaluation). The smaller that gap, the more the model guesses pitches from "
                   "the music so far instead of reading them.")
    out += ["- Trained on engraved, synthetic renderings only: real scans and phone photos are out of distribution "
            "(the augmented row above is our proxy for them).", "",
            "## Fine-tune it on your data", "",
            "```bash",
            "python -m training.supervised.train --init-from checkpoints/acai-omr-small --dataset DATA --out runs/my-run",
            "```",
            "`DATA` is our engine's output, an OLiMPiC-layout folder, or a Hugging Face dataset with `image` and "
            "`lmx` columns (`--image-column`, `--lmx-column`).", "",
            "## Push it to the Hub", "",
            "```bash",
            "python -m training.supervised.train ... --push-to-hub USER/acai-omr-small   # at the end of a run",
            "huggingface-cli upload USER/acai-omr-small checkpoints/acai-omr-small   # the shipped folder as it is",
            "```", "",
            f"Card written by `python -m training.release.model_card {model_dir} --run RUN`.", ""]
    return "\n".join(out)


def main(argv=None) -> str:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", help="the shipped model folder")
    parser.add_argument("--run", default=None, help="the training run folder the weights came from")
    parser.add_argument("--out", default=str(REPO / "model_card.md"))
    args = parser.parse_args(argv)
    model_dir = Path(args.model)
    run = Path(args.run).expanduser() if args.run else None
    if run is not None and (run / "curves.png").is_file():
        shutil.copyfile(run / "curves.png", model_dir / "training_curves.png")
    card = render(model_dir, run)
    Path(args.out).write_text(card)
    (model_dir / "README.md").write_text(card)
    print(f"wrote {args.out} and {model_dir / 'README.md'}")
    return card


def lr_schedule_phrase(args: dict) -> str:
    """The last run's learning-rate schedule, as training/run/lr_sched.py applies it."""
    warmup, floor = args.get("warmup_steps"), args.get("min_lr_ratio") or 0
    start = f"{warmup} warm-up steps, then " if warmup else ""
    if args.get("decay_steps"):
        return (f"{start}held at that peak, then 1 - sqrt down to {floor:g} of it over the last "
                f"{args['decay_steps']} steps")
    return f"{start}a cosine down to {floor:g} of the peak"


if __name__ == "__main__":
    main()
