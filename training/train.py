"""Supervised training of Acai OMR with scheduled sampling, on accelerate.

    python -m training.train --dataset ~/.cache/acai-omr/data-v1 --preset small --out RUN [options]
    accelerate launch --multi_gpu --num_processes N -m training.train ...   (several GPUs or nodes, unchanged)
    ACCELERATE_USE_CPU=1 torchrun --nproc_per_node N -m training.train ... (several CPU processes, gloo)
    python -m training.train --resume RUN [--total-steps N] [--lr X]   (same trajectory; new length/LR)
    python -m training.train --init-from MODEL_DIR ...  (weights only, e.g. an MAE-initialised model)

One optimizer step: schedules from progress = step / total_steps (tf_prob, tau, straight-through;
training/scheduled_sampling.py) and the LR (warm-up + cosine, per-group base LRs from layer-wise
decay) -> `grad_accum` micro-batches of two-pass scheduled sampling -> clip -> AdamW step. Every
`save_every` steps an atomic checkpoint (training/checkpointing.py) holds everything a resume needs:
weights, optimizer, data position (epoch, batch), RNG states. Every `eval_every` steps: teacher-forced
dev CE and greedy-decoding SER / TEDn on a fixed dev subset; the best model goes to RUN/best/.
Logs: a progress bar, RUN/train.csv, RUN/dev.csv, RUN/curves.png (TensorBoard when installed).
"""
import argparse
import json
import math
import time
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from accelerate.utils import set_seed
from lmx.linearization.vocabulary import PITCH_TOKENS
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

import acai_hf  # noqa: F401  (registers the Auto classes)
from acai_hf.model.configuration_acai import AcaiOMRConfig
from acai_hf.model.modeling_acai import AcaiOMRForConditionalGeneration, count_parameters
from training.checkpointing import (
    best_metrics,
    latest_checkpoint,
    load_checkpoint,
    save_best,
    save_checkpoint,
)
from training.collate import SystemCollator
from training.data.schema import GEOMETRY_COLUMNS
from training.datasets_io import SystemRows, load_splits
from training.fast_path import align_optimizer_state, channels_last_stem
from training.geometry_metrics import geometry_metrics, geometry_sums
from training.launch import make_accelerator
from training.layer_decay import param_groups, scale_base_lrs
from training.lr_sched import set_lr
from training.precision import CHOICES, resolve_precision
from training.run_log import CSVLog, machine_facts, plot_curves, tensorboard_writer
from training.scheduled_sampling import (
    ScheduledSampling,
    gumbel_tau,
    straight_through,
    teacher_forcing_prob,
)
from training.width_buckets import WidthBucketSampler, aspect_ratios

DEFAULT_RUNS = Path("~/.cache/acai-omr/runs").expanduser()


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    a = p.add_argument
    a("--dataset", help="engine output folder, OLiMPiC-layout folder or HF dataset (required unless --resume)")
    a("--image-column", default="image")
    a("--lmx-column", default="lmx")
    a("--train-split", default="train")
    a("--dev-split", default="dev")
    a("--dev-fraction", type=float, default=0.05, help="pieces held out when there is no dev split")
    a("--out", default=None, help="run folder (default: ~/.cache/acai-omr/runs/<time>)")
    a("--preset", default="small", choices=["tiny", "small", "base"])
    a("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
      help="config override, e.g. encoder.num_hidden_layers=4 or transition_dropout=0.1 (repeatable)")
    a("--init-from", default=None, help="model folder: start from its weights (not its optimizer or step)")
    a("--resume", default=None, help="run folder or checkpoint: continue it exactly; flags given win")
    # optimisation
    a("--batch-size", type=int, default=16, help="per process and micro-batch")
    a("--grad-accum", type=int, default=1)
    a("--epochs", type=float, default=40)
    a("--total-steps", type=int, default=None, help="optimizer steps (default: from --epochs)")
    a("--warmup-epochs", type=float, default=2)
    a("--warmup-steps", type=int, default=None)
    a("--lr", type=float, default=1e-4, help="decoder and transition head")
    a("--encoder-lr", type=float, default=1e-5, help="top encoder layer; x --layer-decay per layer down")
    a("--layer-decay", type=float, default=0.9)
    a("--min-lr-ratio", type=float, default=0.0, help="cosine floor as a fraction of each base LR")
    a("--weight-decay", type=float, default=0.01)
    a("--clip", type=float, default=1.0, help="gradient norm clip (0: off)")
    # scheduled sampling
    a("--ss-start", type=float, default=0.0, help="progress until which tf_prob stays 1 (teacher forcing)")
    a("--tf-floor", type=float, default=0.0, help="tf_prob at the end of training")
    a("--tau-start", type=float, default=5.0)
    a("--tau-end", type=float, default=0.1)
    a("--hard-after", type=float, default=0.5, help="straight-through hard samples after this progress")
    a("--detach-first-pass", action="store_true", help="no gradient through pass 1 (faster)")
    a("--guided-attention", type=float, default=0.0,
      help="weight of the measure-band attention prior (training/guided_attention.py; 0: off)")
    a("--guided-heads", type=int, default=None, help="cross-attention heads per layer it steers (default: half)")
    a("--note-bands", action="store_true",
      help="guided attention from each system's barlines and each token's place in its voice, not equal measures")
    a("--box-attention", type=float, default=0.0,
      help="weight of pulling the steered heads onto each token's engraved box (training/box_attention.py; "
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
           "probability falling linearly from 1 to 0 (training/short_crops.py; needs token_boxes; 0: off)")
    a("--decoder-group-size", type=int, default=4,
      help="sequences per decoder pass, grouped by label length (0: the whole padded batch; same loss)")
    # data
    a("--augment-p", type=float, default=0.5, help="share of images given camera-like augmentation")
    a("--bucket-pool", type=int, default=32, help="batches per width-sorting pool (1: no bucketing)")
    a("--workers", type=int, default=0, help="DataLoader worker processes")
    # machine
    a("--precision", default="auto", choices=CHOICES)
    a("--threads", type=int, default=None, help="torch.set_num_threads")
    a("--seed", type=int, default=0)
    # checkpoints, evaluation, logging
    a("--save-every", type=int, default=500)
    a("--keep", type=int, default=2, help="checkpoints kept")
    a("--eval-every", type=int, default=500, help="0: only at the end")
    a("--dev-limit", type=int, default=64, help="dev systems for teacher-forced CE (0: no dev eval)")
    a("--decode-limit", type=int, default=8, help="of those, systems decoded greedily for SER/TEDn")
    a("--eval-batch-size", type=int, default=8)
    a("--best-metric", default="dev_ser", choices=["dev_ser", "dev_tedn", "dev_ce"])
    a("--max-minutes", type=float, default=None, help="stop (checkpoint, eval) after this much wall time")
    a("--stop-at", type=int, default=None, help="stop after this step without changing the schedules")
    a("--push-to-hub", default=None, metavar="REPO", help="push best (else final) model to this Hub repo")
    a("--hub-private", action="store_true")
    return p


def parse_args(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.resume:  # the saved run's settings, except where this command line says otherwise
        checkpoint = latest_checkpoint(args.resume)
        if checkpoint is None:
            raise SystemExit(f"--resume {args.resume}: no checkpoint found")
        saved = json.loads((checkpoint / "trainer_state.json").read_text())["args"]
        known = {action.dest for action in parser._actions}
        parser.set_defaults(**{k: v for k, v in saved.items() if k in known and k not in ("resume", "stop_at")})
        args = parser.parse_args(argv)
        args.checkpoint = str(checkpoint)
        args.init_from_source = saved.get("init_from_source")  # not re-read from a model folder shipped since
    if not args.dataset:
        parser.error("--dataset is required")
    return args


def config_overrides(pairs: list[str]) -> dict:
    """["encoder.num_hidden_layers=4", "transition_dropout=0.1"] -> nested kwargs for from_preset."""
    overrides = {}
    for pair in pairs:
        key, _, text = pair.partition("=")
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            value = text
        if "." in key:
            part, name = key.split(".", 1)
            overrides.setdefault(part, {})[name] = value
        else:
            overrides[key] = value
    return overrides


def build_model(args):
    """(model, processor): from a checkpoint when resuming, else --init-from, else a fresh preset."""
    from transformers import AutoProcessor

    from acai_hf.model.loading import default_processor

    source = getattr(args, "checkpoint", None) or args.init_from
    if source:
        model = AcaiOMRForConditionalGeneration.from_pretrained(source)
        try:
            processor = AutoProcessor.from_pretrained(source)
        except (OSError, ValueError):  # an exported encoder without a processor
            processor = default_processor(model.config)
    else:
        model = AcaiOMRForConditionalGeneration(AcaiOMRConfig.from_preset(args.preset, **config_overrides(args.overrides)))
        processor = default_processor(model.config)
    if args.dense_loss is not None and args.dense_loss != model.config.dense_loss_weight:
        set_dense_head(model, args.dense_loss)
    return model, processor


def set_dense_head(model, weight: float):
    """Give the model the dense head at this weight (a new, randomly initialised head where it had none),
    or take it away at weight 0."""
    model.config.dense_loss_weight = weight
    if not weight:
        model.dense_head = None
    elif model.dense_head is None:
        model.dense_head = torch.nn.Linear(model.config.decoder.hidden_size, model.config.decoder.vocab_size)
        model._init_weights(model.dense_head)  # with the prior bias


def dev_subset(dev, limit: int) -> list[dict]:
    """A fixed spread of dev rows (shards are grouped by source, so not just the first ones)."""
    if limit <= 0 or len(dev) == 0:
        return []
    indices = np.unique(np.linspace(0, len(dev) - 1, min(limit, len(dev))).round().astype(int))
    return [dev[int(i)] for i in indices]


@torch.no_grad()
def evaluate_dev(model, processor, rows, collator, args, accelerator, decode_limit=None) -> dict:
    """Teacher-forced CE on `rows`, greedy SER / TEDn on the first `decode_limit` of them."""
    from training.evaluate import decode, score

    model.eval()
    pitch_ids = torch.tensor(processor.tokenizer.convert_tokens_to_ids(list(PITCH_TOKENS)), device=accelerator.device)
    # [own image, neighbour's image] x [all tokens, pitch tokens]: (CE sum, token count)
    sums = torch.zeros(2, 2, 2, dtype=torch.float64)
    geometry = {}  # training.geometry_metrics sums, on rows with the engraver's geometry
    steered = args.guided_heads or max(1, model.config.decoder.num_attention_heads // 2)
    for start in range(0, len(rows), args.eval_batch_size):
        batch = {k: v.to(accelerator.device) for k, v in collator(rows[start: start + args.eval_batch_size]).items()}
        labels = batch["labels"]
        if "token_patch_boxes" in batch:
            with accelerator.autocast():
                for name, value in geometry_sums(model, batch, steered, pitch_ids).items():
                    geometry[name] = geometry.get(name, 0.0) + value
        is_pitch = torch.isin(labels, pitch_ids)
        images = [(batch["pixel_values"], batch["pixel_mask"])]
        if labels.shape[0] > 1:  # each system's labels against its neighbour's image
            images.append((batch["pixel_values"].roll(1, 0), batch["pixel_mask"].roll(1, 0)))
        for swapped, (pixel_values, pixel_mask) in enumerate(images):
            with accelerator.autocast():
                logits = model(pixel_values=pixel_values, pixel_mask=pixel_mask, labels=labels).logits
            ce = F.cross_entropy(logits.float().flatten(0, 1), labels.flatten(), ignore_index=-100,
                                 reduction="none").view(labels.shape)
            for kind, mask in enumerate((labels != -100, is_pitch)):
                sums[swapped, kind] += torch.tensor([float(ce[mask].sum()), float(mask.sum())], dtype=torch.float64)
    mean = sums[..., 0] / sums[..., 1].clamp(min=1)
    metrics = {"dev_ce": float(mean[0, 0])}
    if sums[1, 0, 1] > 0:
        # how much the image helps: ~0 while the model reads nothing but the token history; pitches
        # are the test of reading (measure boundaries alone already lower the CE a little)
        metrics["dev_ce_swapped_images"] = float(mean[1, 0])
        metrics["dev_pitch_ce"] = float(mean[0, 1])
        metrics["dev_pitch_ce_swapped_images"] = float(mean[1, 1])
    if geometry:
        metrics.update(geometry_metrics(geometry))
    decoded = rows[: args.decode_limit if decode_limit is None else decode_limit]
    if decoded:
        golds = [row["lmx"] for row in decoded]
        # an untrained model rarely stops: cap the length a little above the longest gold
        longest = max(len(gold.split()) for gold in golds) + 1
        cap = min(model.config.decoder.max_position_embeddings - 1, int(1.25 * longest) + 8)
        start = time.perf_counter()
        with accelerator.autocast():
            predictions = decode(model, processor, [row["image"] for row in decoded],
                                 batch_size=args.eval_batch_size, max_new_tokens=cap)
        seconds = time.perf_counter() - start
        scores = score(predictions, golds, [row.get("musicxml") for row in decoded])
        metrics.update({f"dev_{k}": v for k, v in scores.items() if k in ("ser", "tedn", "delinearize_clean", "measure_fill")})
        metrics["dev_systems_per_s"] = len(decoded) / seconds
        metrics["dev_example"] = predictions[0][:200]
    model.train()
    return metrics


def main(argv=None):
    args = parse_args(argv)
    precision = resolve_precision(args.precision)
    accelerator = make_accelerator(precision)
    if args.threads:
        torch.set_num_threads(args.threads)
    rank, world, is_main = accelerator.process_index, accelerator.num_processes, accelerator.is_main_process
    out = Path(args.out or DEFAULT_RUNS / time.strftime("%Y%m%d-%H%M%S")).expanduser()
    args.out = str(out)
    if args.init_from and not getattr(args, "checkpoint", None):  # a resumed run keeps what it recorded at its start
        # a shipped model folder is replaced later on: keep the run its weights came from (for the model card)
        shipped = Path(args.init_from).expanduser() / "metrics.json"
        args.init_from_source = json.loads(shipped.read_text()).get("source") if shipped.is_file() else None
    if is_main:
        out.mkdir(parents=True, exist_ok=True)

    # -- model, data, optimizer ------------------------------------------------------------------
    set_seed(args.seed)  # the same initial weights on every process
    model, processor = build_model(args)
    train, dev = load_splits(args.dataset, args.train_split, args.dev_split, args.image_column, args.lmx_column,
                             args.dev_fraction)
    widths = aspect_ratios(train) if args.bucket_pool > 1 else None
    sampler = WidthBucketSampler(len(train), args.batch_size, widths, args.bucket_pool, args.seed, rank, world)
    augment = None
    if args.augment_p > 0:
        from training.data.augment import CameraAugment

        augment = CameraAugment(p=args.augment_p)
    max_labels = model.config.decoder.max_position_embeddings
    wants_geometry = args.box_attention or model.dense_head is not None or args.short_first
    with_geometry = bool(wants_geometry) and "token_boxes" in train.column_names
    if wants_geometry and not with_geometry and is_main:
        print(f"{args.dataset} has no token_boxes: --box-attention, --dense-loss and --short-first have nothing to learn from")
    if args.short_first and args.workers:
        raise SystemExit("--short-first changes the collator as training goes on: use --workers 0")
    collator = SystemCollator(processor, augment=augment, max_label_length=max_labels,
                              with_measure_spans=bool(args.guided_attention and args.note_bands),
                              with_geometry=with_geometry, box_glyphs=args.box_glyphs)
    columns = ("image", "lmx", *GEOMETRY_COLUMNS) if with_geometry else ("image", "lmx")
    loader = DataLoader(SystemRows(train, args.seed, columns), batch_sampler=sampler, collate_fn=collator,
                        num_workers=args.workers, persistent_workers=args.workers > 0,
                        generator=torch.Generator().manual_seed(args.seed))  # leaves the global RNG alone
    dev_rows = dev_subset(dev, args.dev_limit) if is_main else []
    dev_collator = SystemCollator(processor, max_label_length=max_labels, with_geometry=with_geometry,
                                  box_glyphs=args.box_glyphs)

    batches_per_step = args.grad_accum * world
    steps_per_epoch = max(1, len(sampler) // batches_per_step)
    total_steps = args.total_steps or math.ceil(args.epochs * steps_per_epoch)
    warmup_steps = args.warmup_steps if args.warmup_steps is not None else round(args.warmup_epochs * steps_per_epoch)
    warmup_steps = min(warmup_steps, total_steps // 2)

    channels_last_stem(model)  # a layout only: faster convolutions (training/fast_path.py)
    groups = param_groups(model, args.lr, args.encoder_lr, args.layer_decay, args.weight_decay)
    optimizer = torch.optim.AdamW(groups, betas=(0.9, 0.95), foreach=True)
    trainer = ScheduledSampling(model, detach_first_pass=args.detach_first_pass, group_size=args.decoder_group_size,
                                guided_weight=args.guided_attention, guided_heads=args.guided_heads,
                                measure_id=processor.tokenizer.convert_tokens_to_ids("measure"),
                                backup_id=processor.tokenizer.convert_tokens_to_ids("backup"),
                                box_weight=args.box_attention, corrupt_prob=args.corrupt_inputs,
                                corrupt_ids=(processor.tokenizer.convert_tokens_to_ids(list(PITCH_TOKENS))
                                             if args.corrupt_only == "pitches" else None))
    trainer, optimizer = accelerator.prepare(trainer, optimizer)
    model = accelerator.unwrap_model(trainer).model

    # -- resume: weights, optimizer, RNG, data position --------------------------------------------
    step, epoch, position, elapsed_before = 0, 0, 0, 0.0
    set_seed(args.seed + rank)  # dropout, Gumbel noise and sampling draws differ between processes
    if getattr(args, "checkpoint", None):
        state = load_checkpoint(args.checkpoint, model, optimizer, accelerator)
        align_optimizer_state(optimizer)  # saved before the stem went channels-last, or on another layout
        step, epoch, position = state["step"], state["epoch"], state["position"]
        elapsed_before = state.get("elapsed_s", 0.0)
        scale_base_lrs(optimizer, args.lr, args.encoder_lr, args.layer_decay, model.config.encoder.num_hidden_layers)
    best = best_metrics(out)
    best_value = best[args.best_metric] if best and best.get(args.best_metric) is not None else math.inf

    train_log = CSVLog(out / "train.csv", resume_step=step if step else None) if is_main else None
    dev_log = CSVLog(out / "dev.csv", resume_step=step if step else None) if is_main else None
    board = tensorboard_writer(out / "tb") if is_main else None
    if is_main:
        (out / "args.json").write_text(json.dumps(vars(args), indent=1))
        (out / "machine.json").write_text(json.dumps(machine_facts(accelerator.device, world, precision), indent=1))
        print(f"{count_parameters(model):,} parameters, precision {precision}, {len(train)} train / {len(dev)} dev "
              f"systems, {steps_per_epoch} steps per epoch, {total_steps} steps, warm-up {warmup_steps}, "
              f"{world} process(es), from step {step}")

    def micro_batches(epoch, position):
        """Endless (epoch, global position after this batch, batch), starting at the saved position."""
        while True:
            sampler.set_epoch(epoch, position)
            for batch in loader:
                position += world
                yield epoch, position, batch
            epoch, position = epoch + 1, 0

    def checkpoint():
        state = {"step": step, "epoch": epoch, "position": position, "total_steps": total_steps,
                 "elapsed_s": elapsed_before + time.perf_counter() - started, "args": vars(args)}
        state["args"] = {k: v for k, v in state["args"].items() if k != "checkpoint"}
        save_checkpoint(out / "checkpoints", step, model, optimizer, state, processor, accelerator, keep=args.keep)

    def run_eval(decode=True):
        nonlocal best_value, last_eval
        if decode:
            last_eval = step
        if is_main and dev_rows:
            metrics = evaluate_dev(model, processor, dev_rows, dev_collator, args, accelerator,
                                   decode_limit=None if decode else 0)
            row = {"step": step, **metrics}
            dev_log.write(row)
            if board:
                for k, v in metrics.items():
                    if isinstance(v, float):
                        board.add_scalar(k, v, step)
            value = metrics.get(args.best_metric, metrics["dev_ce"])
            if step > 0 and value < best_value:
                best_value = value
                save_best(out, model, processor, {"step": step, **metrics})
            plot_curves(out)
            tqdm.write(" ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v!r}" for k, v in row.items()))
        accelerator.wait_for_everyone()

    # -- the loop ----------------------------------------------------------------------------------
    data = micro_batches(epoch, position)
    started = time.perf_counter()
    last_saved, last_eval = step, None
    if step == 0 and args.eval_every:
        run_eval(decode=False)  # the starting dev CE (decoding an untrained model only costs time)
    bar = tqdm(total=total_steps, initial=step, disable=not is_main, dynamic_ncols=True)
    trainer.train()
    while step < total_steps:
        t0 = time.perf_counter()
        progress = step / total_steps
        tf_prob = teacher_forcing_prob(progress, args.ss_start, args.tf_floor)
        tau = gumbel_tau(progress, args.tau_start, args.tau_end)
        hard = straight_through(progress, args.hard_after)
        lr_factor = set_lr(optimizer, step, warmup_steps, total_steps, args.min_lr_ratio)
        if args.short_first:
            collator.short_prob = max(0.0, 1.0 - progress / args.short_first)

        ce_sum, bag_sum, guided_sum, images, tokens, extra = 0.0, 0.0, 0.0, 0, 0, {}
        for micro in range(args.grad_accum):
            epoch, position, batch = next(data)
            batch = {k: v.to(accelerator.device) for k, v in batch.items()}
            sync = nullcontext() if micro == args.grad_accum - 1 else accelerator.no_sync(trainer)
            with sync:
                loss, _ = trainer(batch["pixel_values"], batch["pixel_mask"], batch["labels"], tf_prob, tau, hard,
                                  measure_spans=batch.get("measure_spans"),
                                  token_patch_boxes=batch.get("token_patch_boxes"),
                                  dense_targets=batch.get("dense_targets"))
                accelerator.backward(loss / args.grad_accum)
            parts = accelerator.unwrap_model(trainer).parts
            ce_sum += parts["ce"]
            bag_sum += parts.get("bag", 0.0)
            guided_sum += parts.get("guided", 0.0)
            for name in ("box", "box_mass", "dense"):
                extra[name] = extra.get(name, 0.0) + parts.get(name, 0.0)
            images += batch["labels"].shape[0]
            tokens += int((batch["labels"] != -100).sum())
        grad_norm = float(accelerator.clip_grad_norm_(trainer.parameters(), args.clip)) if args.clip > 0 else None
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        step += 1

        seconds = time.perf_counter() - t0
        row = {
            "step": step, "epoch": epoch, "ce": ce_sum / args.grad_accum, "tf_prob": tf_prob, "tau": tau,
            "hard": int(hard), "lr_decoder": args.lr * lr_factor,
            "lr_encoder_top": args.encoder_lr * lr_factor, "grad_norm": grad_norm,
            "images_per_s": images * world / seconds, "tokens_per_s": tokens * world / seconds,
            "elapsed_s": elapsed_before + time.perf_counter() - started,
        }
        if model.bag_head is not None:  # the auxiliary loss, unweighted
            row["bag"] = bag_sum / args.grad_accum
        if args.guided_attention:  # the share of steered attention outside its band (measure or note)
            row["guided"] = guided_sum / args.grad_accum
        if with_geometry:  # box attention loss and the steered mass inside the box; the dense head's loss
            row.update({name: value / args.grad_accum for name, value in extra.items()})
            row["short_prob"] = collator.short_prob
        if is_main:
            train_log.write(row)
            if board:
                for k in ("ce", "tf_prob", "tau", "lr_decoder", "lr_encoder_top", "images_per_s"):
                    board.add_scalar(k, row[k], step)
            bar.update(1)
            bar.set_postfix(ce=f"{row['ce']:.3f}", tf=f"{tf_prob:.2f}", tau=f"{tau:.2f}",
                            lr=f"{row['lr_decoder']:.1e}", img_s=f"{row['images_per_s']:.1f}")

        out_of_time = args.max_minutes is not None and (time.perf_counter() - started) > 60 * args.max_minutes
        if world > 1:  # every process must agree to stop
            flag = accelerator.reduce(torch.tensor(float(out_of_time), device=accelerator.device), "max")
            out_of_time = bool(flag.item())
        stopping = out_of_time or (args.stop_at is not None and step >= args.stop_at) or step >= total_steps
        if (args.save_every and step % args.save_every == 0) or stopping:
            checkpoint()
            last_saved = step
        # a stop right after a periodic evaluation (time budget) does not evaluate again
        recent = last_eval is not None and step - last_eval < max(1, args.eval_every // 4)
        if (args.eval_every and step % args.eval_every == 0) or (stopping and not recent):
            run_eval()
        if stopping:
            break
    bar.close()
    if step != last_saved:
        checkpoint()

    # -- export ------------------------------------------------------------------------------------
    if is_main:
        final = out / "final"
        model.save_pretrained(final)
        processor.save_pretrained(final)
        plot_curves(out)
        if board:
            board.close()
    accelerator.wait_for_everyone()
    stopped_early = args.stop_at is not None and step < total_steps  # a simulated kill: nothing to publish
    if args.push_to_hub and is_main and not stopped_early:
        from training.hub import push_folder

        folder = out / "best" if (out / "best").is_dir() else out / "final"
        info = {"preset": args.preset, "parameters": count_parameters(model), "dataset": str(args.dataset),
                "steps": step, "batch": args.batch_size * args.grad_accum * world, "precision": precision}
        print(push_folder(folder, args.push_to_hub, info, private=args.hub_private))
    return out


if __name__ == "__main__":
    main()
