"""Everything the supervised training loop reads, prepared from its arguments: the machine, the model, the
data, the optimizer and the scheduled-sampling wrapper, the run folder and its logs, and a resumed run's
weights, optimizer, RNG and data position. The loop itself is training/supervised/train.py.
"""
import argparse
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from accelerate import Accelerator
from accelerate.utils import set_seed
from lmx.linearization.vocabulary import PITCH_TOKENS

import acai_hf  # noqa: F401  (registers the Auto classes)
from acai_hf.metrics.clef_changes import CLEF_PREFIX
from acai_hf.metrics.signatures import is_signature_token, opening_signatures
from acai_hf.model.configuration_acai import AcaiOMRConfig
from acai_hf.model.image_processing_acai import checked_width_scale
from acai_hf.model.modeling_acai import AcaiOMRForConditionalGeneration, count_parameters
from training.batches.collate import SystemCollator
from training.batches.loader import batch_loader
from training.batches.splits import SystemRows, load_splits
from training.batches.width_buckets import WidthBucketSampler, aspect_ratios
from training.data.schema import GEOMETRY_COLUMNS
from training.release.dev_evaluation import clef_change_rows, dev_subset, time_signature_rows
from training.run.checkpointing import best_metrics, load_checkpoint
from training.run.fast_path import align_optimizer_state, channels_last_stem
from training.run.folder import record_start, run_folder
from training.run.launch import make_accelerator
from training.run.layer_decay import param_groups, scale_base_lrs
from training.run.logs import CSVLog, tensorboard_writer
from training.run.precision import resolve_precision
from training.supervised.arguments import DEFAULT_RUNS
from training.supervised.scheduled_sampling import ScheduledSampling


@dataclass
class Prepared:
    """What the loop needs; `step`, `epoch`, `position` and `elapsed_s` are where a resumed run stopped."""
    args: argparse.Namespace
    accelerator: Accelerator
    precision: str
    out: Path
    model: AcaiOMRForConditionalGeneration
    processor: object
    trainer: ScheduledSampling  # the model inside the two-pass loss, as accelerate prepared it
    optimizer: torch.optim.Optimizer
    collator: SystemCollator
    sampler: WidthBucketSampler
    loader: torch.utils.data.DataLoader
    with_geometry: bool
    dev_rows: list
    signature_rows: list  # dev rows that print a time signature (dev_evaluation.evaluate_reading)
    clef_change_rows: list  # dev rows that change clef after their opening (the same)
    dev_collator: SystemCollator
    total_steps: int
    warmup_steps: int
    step: int
    epoch: int
    position: int
    elapsed_s: float
    best_value: float
    train_log: CSVLog | None
    dev_log: CSVLog | None
    board: object

    @property
    def is_main(self) -> bool:
        return self.accelerator.is_main_process


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

    source = args.checkpoint or args.init_from
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
    image_processor = processor.image_processor
    for flag, name in (("image_height", "target_height"), ("image_width_scale", "width_scale"),
                       ("max_patches", "max_patches")):
        if getattr(args, flag) is not None:  # saved with every checkpoint, so the app reads alike
            setattr(image_processor, name, getattr(args, flag))
    try:
        checked_width_scale(image_processor.width_scale)
    except ValueError as error:
        raise SystemExit(f"--image-width-scale: {error}") from None
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


def loss_token_weights(tokenizer, weight: float, clef_weight: float = 1.0):
    """(V,) token weights: `weight` for the key and time signature tokens, `clef_weight` for the clef tokens,
    1 for the rest; None when both are 1."""
    for name, value in (("--signature-weight", weight), ("--clef-weight", clef_weight)):
        if value <= 0:
            raise SystemExit(f"{name} must be positive, not {value}")
    if weight == 1 and clef_weight == 1:
        return None
    weights = torch.ones(len(tokenizer))
    for token, index in tokenizer.get_vocab().items():
        if is_signature_token(token):
            weights[index] = weight
        elif token.startswith(CLEF_PREFIX):
            weights[index] = clef_weight
    return weights


def time_signature_repeats(lmx_column, times: int) -> list[int]:
    """`times` for each row that prints a time signature (acai_hf.metrics.signatures' reading), 1 for the rest."""
    if times < 1:
        raise SystemExit(f"--repeat-time-signatures must be at least 1, not {times}")
    return [times if opening_signatures(lmx).time else 1 for lmx in lmx_column]


def prepare(args) -> Prepared:
    precision = resolve_precision(args.precision)
    accelerator = make_accelerator(precision)
    if args.threads:
        torch.set_num_threads(args.threads)
    rank, world, is_main = accelerator.process_index, accelerator.num_processes, accelerator.is_main_process
    out = run_folder(args, f"{DEFAULT_RUNS}/{time.strftime('%Y%m%d-%H%M%S')}")

    # -- model and data ----------------------------------------------------------------------------
    set_seed(args.seed)  # the same initial weights on every process
    model, processor = build_model(args)
    train, dev = load_splits(args.dataset, args.train_split, args.dev_split, args.image_column, args.lmx_column,
                             args.dev_fraction)
    widths = aspect_ratios(train) if args.bucket_pool > 1 else None
    repeats = time_signature_repeats(train["lmx"], args.repeat_time_signatures) if args.repeat_time_signatures != 1 else None
    sampler = WidthBucketSampler(len(train), args.batch_size, widths, args.bucket_pool, args.seed, rank, world,
                                 repeats=repeats)
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
    loader = batch_loader(SystemRows(train, args.seed, columns), sampler, collator, args.workers, args.seed)
    dev_rows = dev_subset(dev, args.dev_limit) if is_main else []
    signature_rows = time_signature_rows(dev, args.dev_limit) if is_main else []
    changing_rows = clef_change_rows(dev, args.dev_limit) if is_main else []
    dev_collator = SystemCollator(processor, max_label_length=max_labels, with_geometry=with_geometry,
                                  box_glyphs=args.box_glyphs)

    batches_per_step = args.grad_accum * world
    steps_per_epoch = max(1, len(sampler) // batches_per_step)
    total_steps = args.total_steps or math.ceil(args.epochs * steps_per_epoch)
    warmup_steps = args.warmup_steps if args.warmup_steps is not None else round(args.warmup_epochs * steps_per_epoch)
    warmup_steps = min(warmup_steps, total_steps // 2)

    # -- optimizer and the two-pass loss -------------------------------------------------------------
    channels_last_stem(model)  # a layout only: faster convolutions (training/run/fast_path.py)
    groups = param_groups(model, args.lr, args.encoder_lr, args.layer_decay, args.weight_decay)
    optimizer = torch.optim.AdamW(groups, betas=(0.9, 0.95), foreach=True)
    tokens = processor.tokenizer.convert_tokens_to_ids
    trainer = ScheduledSampling(model, detach_first_pass=args.detach_first_pass, group_size=args.decoder_group_size,
                                guided_weight=args.guided_attention, guided_heads=args.guided_heads,
                                measure_id=tokens("measure"), backup_id=tokens("backup"),
                                box_weight=args.box_attention, corrupt_prob=args.corrupt_inputs,
                                corrupt_ids=tokens(list(PITCH_TOKENS)) if args.corrupt_only == "pitches" else None,
                                token_weights=loss_token_weights(processor.tokenizer, args.signature_weight,
                                                                 args.clef_weight))
    trainer, optimizer = accelerator.prepare(trainer, optimizer)
    model = accelerator.unwrap_model(trainer).model

    # -- resume: weights, optimizer, RNG, data position ------------------------------------------------
    state = {"step": 0, "epoch": 0, "position": 0, "elapsed_s": 0.0}
    set_seed(args.seed + rank)  # dropout, Gumbel noise and sampling draws differ between processes
    if args.checkpoint:
        state = load_checkpoint(args.checkpoint, model, optimizer, accelerator)
        align_optimizer_state(optimizer)  # saved before the stem went channels-last, or on another layout
        scale_base_lrs(optimizer, args.lr, args.encoder_lr, args.layer_decay, model.config.encoder.num_hidden_layers)
    step = state["step"]
    best = best_metrics(out)
    best_value = best[args.best_metric] if best and best.get(args.best_metric) is not None else math.inf

    # -- logs ------------------------------------------------------------------------------------------
    train_log = CSVLog(out / "train.csv", resume_step=step if step else None) if is_main else None
    dev_log = CSVLog(out / "dev.csv", resume_step=step if step else None) if is_main else None
    board = tensorboard_writer(out / "tb") if is_main else None
    record_start(out, args, accelerator, precision, step=step)
    if is_main:
        print(f"{count_parameters(model):,} parameters, precision {precision}, {len(train)} train / {len(dev)} dev "
              f"systems, {steps_per_epoch} steps per epoch, {total_steps} steps, warm-up {warmup_steps}, "
              f"{world} process(es), from step {step}")
        if sampler.repeats is not None:
            print(f"{int((sampler.repeats > 1).sum())} rows print a time signature: {args.repeat_time_signatures} times "
                  f"an epoch each")
    return Prepared(args=args, accelerator=accelerator, precision=precision, out=out, model=model, processor=processor,
                    trainer=trainer, optimizer=optimizer, collator=collator, sampler=sampler, loader=loader,
                    with_geometry=with_geometry, dev_rows=dev_rows, signature_rows=signature_rows,
                    clef_change_rows=changing_rows,
                    dev_collator=dev_collator, total_steps=total_steps,
                    warmup_steps=warmup_steps, step=step, epoch=state["epoch"], position=state["position"],
                    elapsed_s=state.get("elapsed_s", 0.0), best_value=best_value, train_log=train_log,
                    dev_log=dev_log, board=board)


__all__ = ["Prepared", "prepare", "build_model", "config_overrides", "set_dense_head"]
