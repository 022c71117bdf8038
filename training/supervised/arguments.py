"""The flags of supervised training (training.supervised.train), beside the ones every trainer shares
(training.run.arguments: run folder, resume, precision, threads, seed, checkpoints kept)."""
import argparse
import json
from pathlib import Path

from training.run.arguments import add_old_spellings, add_run_arguments, parse_run_args, recorded_arguments

DEFAULT_RUNS = "~/.cache/acai-omr/runs"


def build_parser(description: str | None = None) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    a = p.add_argument
    a("--dataset", help="engine output folder, OLiMPiC-layout folder or HF dataset (required unless --resume)")
    a("--image-column", default="image")
    a("--lmx-column", default="lmx")
    a("--train-split", default="train")
    a("--dev-split", default="dev")
    a("--dev-fraction", type=float, default=0.05, help="pieces held out when there is no dev split")
    add_run_arguments(p, default_out=f"{DEFAULT_RUNS}/<time>")
    a("--preset", default="small", choices=["tiny", "small", "base"])
    a("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
      help="config override, e.g. encoder.num_hidden_layers=4 or transition_dropout=0.1 (repeatable)")
    a("--init-from", default=None, help="model folder: start from its weights (not its optimizer or step)")
    a("--image-height", type=int, default=None,
      help="height systems are scaled to (the image processor's target_height; default: the model folder's, else 160)")
    a("--image-width-scale", type=float, default=None,
      help="horizontal scale relative to the vertical one (below 1: more patch rows per patch; default as above, else 1)")
    a("--max-patches", type=int, default=None, help="the image processor's patch budget (default as above, else 640)")
    # optimisation
    a("--batch-size", type=int, default=16, help="per process and micro-batch")
    a("--grad-accum", type=int, default=1, help="micro-batches per optimizer step")
    a("--epochs", type=float, default=40)
    a("--total-steps", type=int, default=None, help="optimizer steps (default: from --epochs)")
    a("--warmup-epochs", type=float, default=2)
    a("--warmup-steps", type=int, default=None)
    a("--lr", type=float, default=1e-4, help="decoder and transition head")
    a("--encoder-lr", type=float, default=1e-5, help="top encoder layer; x --layer-decay per layer down")
    a("--layer-decay", type=float, default=0.9)
    a("--min-lr-ratio", type=float, default=0.0, help="cosine floor as a fraction of each base LR")
    a("--decay-steps", type=int, default=None,
      help="warm-up, stable, decay (WSD) instead of cosine: the LR holds its peak until the last this many steps "
           "and falls as 1 - sqrt; the checkpoint at the fall's start is kept in RUN/stable, and a later session "
           "lengthens the run from it (--resume RUN/stable --total-steps N) without climbing back from an "
           "annealed end (training/run/lr_sched.py)")
    a("--weight-decay", type=float, default=0.01)
    a("--grad-clip", type=float, default=1.0, help="gradient norm clip (0: off)")
    # scheduled sampling
    a("--ss-start", type=float, default=0.0, help="progress until which tf_prob stays 1 (teacher forcing)")
    a("--tf-floor", type=float, default=0.0, help="tf_prob at the end of training")
    a("--tau-start", type=float, default=5.0)
    a("--tau-end", type=float, default=0.1)
    a("--hard-after", type=float, default=0.5, help="straight-through hard samples after this progress")
    a("--detach-first-pass", action="store_true", help="no gradient through pass 1 (faster)")
    a("--guided-attention", type=float, default=0.0,
      help="weight of the measure-band attention prior (training/geometry/guided_attention.py; 0: off)")
    a("--guided-heads", type=int, default=None, help="cross-attention heads per layer it steers (default: half)")
    a("--note-bands", action="store_true",
      help="guided attention from each system's barlines and each token's place in its voice, not equal measures")
    a("--box-attention", type=float, default=0.0,
      help="weight of pulling the steered heads onto each token's engraved box (training/geometry/box_attention.py; "
           "needs a dataset with token_boxes; 0: off)")
    a("--box-glyphs", action="store_true",
      help="box attention on a token's symbol joined with its own glyph (a duration's stem, flag or beam, "
           "an accidental), not the notehead alone")
    a("--dense-loss", type=float, default=None,
      help="weight of the encoder's dense head on the engraver's geometry (config dense_loss_weight; 0: no head)")
    a("--corrupt-inputs", type=float, default=0.0,
      help="share of teacher-forced decoder inputs replaced by random tokens (0: off; peers use ~0.2)")
    a("--corrupt-only", choices=("all", "pitches"), default="all",
      help="which inputs --corrupt-inputs replaces: any LMX token by any, or pitch tokens by other pitches "
           "(durations stay intact, so a backup's duration can still be counted from the history)")
    a("--short-first", type=float, default=0.0,
      help="short-to-long curriculum: until this share of training, rows are cut after 1-2 measures, with a "
           "probability falling linearly from 1 to 0 (training/geometry/short_crops.py; needs token_boxes; 0: off)")
    a("--signature-weight", type=float, default=1.0,
      help="weight of key and time signature tokens (key:*, beats:*, beat-type:*) in the CE and the dense loss "
           "(1: like any token); one token each, yet a wrong one spoils every measure after it")
    a("--clef-weight", type=float, default=1.0,
      help="weight of clef tokens (clef:*) in the CE and the dense loss (1: like any token); the clef changes "
           "inside a system are about 0.1%% of tokens, and a missed one puts every later note of its staff off")
    a("--decoder-group-size", type=int, default=4,
      help="sequences per decoder pass, grouped by label length (0: the whole padded batch; same loss)")
    # data
    a("--augment-p", type=float, default=0.5, help="share of images given camera-like augmentation")
    a("--repeat-time-signatures", type=int, default=1, metavar="K",
      help="rows whose LMX prints a time signature (mostly pieces' first systems, ~14%% of a build) come K times "
           "an epoch: a wrong one on a first system makes every measure of the joined score wrong")
    a("--bucket-pool", type=int, default=32, help="batches per width-sorting pool (1: no bucketing)")
    a("--workers", type=int, default=0, help="DataLoader worker processes")
    # checkpoints, evaluation, logging
    a("--save-every", type=int, default=500, help="checkpoint every this many steps")
    a("--eval-every", type=int, default=500, help="0: only at the end")
    a("--dev-limit", type=int, default=64, help="dev systems for teacher-forced CE (0: no dev eval)")
    a("--decode-limit", type=int, default=8, help="of those, systems decoded greedily for SER/TEDn")
    a("--eval-batch-size", type=int, default=8)
    a("--best-metric", default="dev_ser", choices=["dev_ser", "dev_tedn", "dev_ce"])
    a("--max-minutes", type=float, default=None, help="stop (checkpoint, eval) after this much wall time")
    a("--stop-at", type=int, default=None, help="stop after this step without changing the schedules")
    a("--push-to-hub", default=None, metavar="REPO", help="push best (else final) model to this Hub repo")
    a("--hub-private", action="store_true")
    add_old_spellings(p)
    return p


def parse_args(argv=None, description: str | None = None) -> argparse.Namespace:
    """The command line over the resumed run's arguments; `init_from_source` names the run an --init-from
    model folder came from (for the model card)."""
    parser = build_parser(description)
    args = parse_run_args(parser, argv)
    if not args.dataset:
        parser.error("--dataset is required")
    if args.checkpoint:  # recorded at the start, not re-read from a model folder shipped since
        args.init_from_source = recorded_arguments(args.checkpoint).get("init_from_source")
    elif args.init_from:
        # a shipped model folder is replaced later on: keep the run its weights came from
        shipped = Path(args.init_from).expanduser() / "metrics.json"
        args.init_from_source = json.loads(shipped.read_text()).get("source") if shipped.is_file() else None
    return args


__all__ = ["DEFAULT_RUNS", "build_parser", "parse_args"]
