"""Masked-autoencoder pretraining of the Acai encoder on system images.

    python -m training.pretrain_mae --dataset ~/.cache/acai-omr/data-v1 --preset small \\
        --output-dir runs/mae-small --epochs 100 --warmup-epochs 10 --export runs/mae-small/init
    python -m training.pretrain_mae --resume runs/mae-small [--epochs 200] [--export DIR]

Defaults follow the original (DESIGN.md): mask ratio .75, AdamW with lr = blr * effective batch / 256
(blr 1.5e-4), betas (0.9, 0.95), weight decay .05 (not on biases, norms, the mask token), linear
warm-up then cosine, augmentation p .2 with the clean image as the reconstruction target. Checkpoints
(training.checkpointing) hold model, optimizer, RNG and data position, so `--resume` continues the
same run; `--export DIR` writes an AcaiOMRForConditionalGeneration (our encoder, a fresh decoder)
that `training.train --init-from DIR` starts from. Resuming a finished run with `--export` just exports.
"""
import argparse
import csv
import json
import math
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader

import acai_hf  # noqa: F401  (registers the Auto classes)
from acai_hf.model.configuration_acai import AcaiOMRConfig
from acai_hf.model.processing_acai import AcaiOMRProcessor
from acai_hf.model.loading import default_processor
from training.checkpointing import latest_checkpoint, load_checkpoint, save_checkpoint
from training.collate import SystemCollator
from training.data.augment import CameraAugment
from training.datasets_io import SystemRows, load_splits
from training.fast_path import align_optimizer_state, channels_last_stem
from training.launch import make_accelerator
from training.lr_sched import set_lr
from training.mae_model import AcaiMAE, MAEConfig
from training.precision import CHOICES, resolve_precision
from training.width_buckets import WidthBucketSampler, aspect_ratios

DEFAULT_DATASET = "~/.cache/acai-omr/data-v1"


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default=DEFAULT_DATASET)
    parser.add_argument("--preset", default="small", help="encoder shape: small | base | tiny")
    parser.add_argument("--mae-preset", default=None, help="MAE decoder shape (default: --preset)")
    parser.add_argument("--output-dir", default="runs/mae")
    parser.add_argument("--resume", default=None, help="run folder or checkpoint to continue")
    parser.add_argument("--export", default=None, help="write the encoder as a model init folder at the end")
    parser.add_argument("--epochs", type=float, default=500)
    parser.add_argument("--warmup-epochs", type=float, default=50)
    parser.add_argument("--max-steps", type=int, default=None, help="overrides --epochs")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--accum", type=int, default=1, help="gradient accumulation steps")
    parser.add_argument("--blr", type=float, default=1.5e-4, help="lr per 256 images")
    parser.add_argument("--lr", type=float, default=None, help="absolute lr (overrides --blr)")
    parser.add_argument("--min-lr-ratio", type=float, default=0.0)
    parser.add_argument("--weight-decay", type=float, default=0.05)
    parser.add_argument("--mask-ratio", type=float, default=0.75)
    parser.add_argument("--augment-p", type=float, default=0.2)
    parser.add_argument("--max-patches", type=int, default=None, help="image patch budget (default: the preset's)")
    parser.add_argument("--precision", choices=CHOICES, default="auto")
    parser.add_argument("--num-workers", type=int, default=1)
    parser.add_argument("--limit", type=int, default=None, help="use the first N training rows")
    parser.add_argument("--checkpoint-every", type=int, default=500)
    parser.add_argument("--log-every", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads (1 is far faster when other jobs share the cores)")
    args = parser.parse_args(argv)
    checkpoint = latest_checkpoint(args.resume) if args.resume else None
    if checkpoint is not None:  # the saved run's settings, except where this command line says otherwise
        saved = json.loads((checkpoint / "trainer_state.json").read_text()).get("args", {})
        known = {action.dest for action in parser._actions}
        parser.set_defaults(**{k: v for k, v in saved.items() if k in known and k not in ("resume", "export")})
        args = parser.parse_args(argv)
    return args


def build_processor(config: AcaiOMRConfig, max_patches: int | None = None) -> AcaiOMRProcessor:
    """The inference processor of the preset (what the exported model ships), or another patch budget."""
    processor = default_processor(config)
    if max_patches:
        processor.image_processor.max_patches = max_patches
    return processor


def decay_groups(model, weight_decay: float):
    """MAE's rule: no weight decay on biases, norms and the mask token (every parameter below 2-D)."""
    decay = [p for p in model.parameters() if p.ndim >= 2]
    no_decay = [p for p in model.parameters() if p.ndim < 2]
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def main(argv=None):
    args = parse_args(argv)
    resume_from = latest_checkpoint(args.resume) if args.resume else None
    if args.resume and resume_from is None:
        raise FileNotFoundError(f"no checkpoint under {args.resume}")
    run_dir = Path(args.output_dir)
    if resume_from is not None and resume_from.parent.name == "checkpoints":
        run_dir = resume_from.parent.parent  # a resumed run keeps writing where it was

    if args.threads:
        torch.set_num_threads(args.threads)
    precision = resolve_precision(args.precision)
    accelerator = make_accelerator(precision, gradient_accumulation_steps=args.accum)
    torch.manual_seed(args.seed + accelerator.process_index)
    if resume_from is not None:
        model = AcaiMAE.from_pretrained(resume_from)
    else:
        config = AcaiOMRConfig.from_preset(args.preset)
        model = AcaiMAE(config, MAEConfig.from_preset(args.mae_preset or args.preset, mask_ratio=args.mask_ratio))
    channels_last_stem(model)  # a layout only: faster convolutions (training/fast_path.py)
    processor = build_processor(model.config, args.max_patches)

    train, _ = load_splits(args.dataset)
    if args.limit:
        train = train.select(range(min(args.limit, len(train))))
    rows = SystemRows(train, seed=args.seed)
    world = accelerator.num_processes
    sampler = WidthBucketSampler(len(rows), args.batch_size, aspect_ratios(train), seed=args.seed,
                                 rank=accelerator.process_index, world_size=world)
    collator = SystemCollator(processor, augment=CameraAugment(p=args.augment_p), with_labels=False)
    # its own generator: creating an iterator must not draw from the global RNG a resume restores
    loader = DataLoader(rows, batch_sampler=sampler, collate_fn=collator, num_workers=args.num_workers,
                        generator=torch.Generator().manual_seed(args.seed))

    effective_batch = args.batch_size * args.accum * world
    lr = args.lr or args.blr * effective_batch / 256
    optimizer = torch.optim.AdamW(decay_groups(model, args.weight_decay), lr=lr, betas=(0.9, 0.95))
    steps_per_epoch = max(1, len(sampler) // (world * args.accum))
    total_steps = args.max_steps if args.max_steps is not None else math.ceil(args.epochs * steps_per_epoch)
    warmup_steps = min(total_steps, math.ceil(args.warmup_epochs * steps_per_epoch))

    state = {"step": 0, "epoch": 0, "batch_in_epoch": 0}
    if resume_from is not None:
        state = load_checkpoint(resume_from, model, optimizer, accelerator)
        align_optimizer_state(optimizer)
        for group in optimizer.param_groups:  # a resumed run may be given a new learning rate
            group["base_lr"] = lr
        accelerator.print(f"resumed from {resume_from} at step {state['step']}")
    model, optimizer = accelerator.prepare(model, optimizer)

    log_path = run_dir / "mae_log.csv"
    if accelerator.is_main_process:
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "mae_args.json").write_text(json.dumps(vars(args), indent=1))
    accelerator.print(f"MAE {args.preset}: {sum(p.numel() for p in model.parameters()):,} parameters, "
                      f"{len(rows)} images, {total_steps} steps, lr {lr:.2e}, precision {precision}")

    model.train()
    step, started, images_seen = state["step"], time.perf_counter(), 0
    while step < total_steps:
        sampler.set_epoch(state["epoch"], state["batch_in_epoch"])
        for batch in loader:
            # masks are a pure function of (seed, rank, step, micro-batch): a resumed run draws the same ones
            masks = torch.Generator(accelerator.device).manual_seed(
                hash((args.seed, accelerator.process_index, step, state["batch_in_epoch"])) % 2**63)
            with accelerator.accumulate(model):
                out = model(batch["pixel_values"].to(accelerator.device), batch["pixel_mask"].to(accelerator.device),
                            batch.get("clean_pixel_values", batch["pixel_values"]).to(accelerator.device),
                            generator=masks)
                accelerator.backward(out["loss"])
                if accelerator.sync_gradients:
                    factor = set_lr(optimizer, step, warmup_steps, total_steps, args.min_lr_ratio)
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)
            state["batch_in_epoch"] += world
            images_seen += len(batch["pixel_values"]) * world
            if not accelerator.sync_gradients:
                continue
            step += 1
            state["step"] = step
            if step % args.log_every == 0 or step == total_steps:
                loss = accelerator.gather(out["loss"].detach()[None]).mean().item()
                rate = images_seen / (time.perf_counter() - started)
                accelerator.print(f"step {step}/{total_steps} loss {loss:.4f} lr {lr * factor:.2e} {rate:.1f} img/s")
                if accelerator.is_main_process:
                    _append_csv(log_path, {"step": step, "loss": loss, "lr": lr * factor, "images_per_s": rate})
            if step % args.checkpoint_every == 0 or step == total_steps:
                save_checkpoint(run_dir / "checkpoints", step, accelerator.unwrap_model(model), optimizer,
                                {**state, "args": vars(args)}, accelerator=accelerator)
            if step >= total_steps:
                break
        else:  # the epoch ran out
            state["epoch"] += 1
            state["batch_in_epoch"] = 0

    if args.export and accelerator.is_main_process:
        # with the preset's own processor: fine-tuning uses its patch budget, not --max-patches
        mae = accelerator.unwrap_model(model)
        mae.export(args.export, default_processor(mae.config))
        accelerator.print(f"encoder exported to {args.export}")
    accelerator.wait_for_everyone()
    return accelerator.unwrap_model(model)


def _append_csv(path: Path, row: dict) -> None:
    new = not path.exists()
    with open(path, "a", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(row))
        if new:
            writer.writeheader()
        writer.writerow(row)


if __name__ == "__main__":
    main()
