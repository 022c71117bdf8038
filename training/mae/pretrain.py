"""Masked-autoencoder pretraining of the Acai encoder on system images.

    python -m training.mae.pretrain --dataset ~/.cache/acai-omr/data-v1 --preset small \\
        --out runs/mae-small --epochs 100 --warmup-epochs 10 --export runs/mae-small/init
    python -m training.mae.pretrain --resume runs/mae-small [--epochs 200] [--export DIR]

Defaults follow the original (DESIGN.md): mask ratio .75, AdamW with lr = blr * effective batch / 256
(blr 1.5e-4), betas (0.9, 0.95), weight decay .05 (not on biases, norms, the mask token), linear
warm-up then cosine, augmentation p .2 with the clean image as the reconstruction target. Checkpoints
(training.run: the skeleton every trainer shares) hold model, optimizer, RNG and data position, so
`--resume` continues the same run; `--export DIR` writes an AcaiOMRForConditionalGeneration (our encoder, a
fresh decoder) that `training.supervised.train --init-from DIR` starts from. Resuming a finished run with
`--export` just exports. Logs: RUN/mae_log.csv every --log-every steps.
"""
import argparse
import math
import time
from contextlib import nullcontext

import torch

import acai_hf  # noqa: F401  (registers the Auto classes)
from acai_hf.model.configuration_acai import AcaiOMRConfig
from acai_hf.model.processing_acai import AcaiOMRProcessor
from acai_hf.model.loading import default_processor
from training.batches.collate import SystemCollator
from training.batches.loader import batch_loader, micro_batches
from training.batches.splits import SystemRows, load_splits
from training.batches.width_buckets import WidthBucketSampler, aspect_ratios
from training.data.augment import CameraAugment
from training.mae.model import AcaiMAE, MAEConfig
from training.run.arguments import add_old_spellings, add_run_arguments, parse_run_args
from training.run.checkpointing import load_checkpoint
from training.run.fast_path import align_optimizer_state, channels_last_stem
from training.run.folder import record_start, run_folder, save_run_checkpoint
from training.run.launch import make_accelerator
from training.run.logs import CSVLog
from training.run.lr_sched import set_lr
from training.run.precision import resolve_precision
from training.run.stop_signal import StopSignal, agree

DEFAULT_DATASET = "~/.cache/acai-omr/data-v1"
DEFAULT_OUT = "runs/mae"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    a = parser.add_argument
    a("--dataset", default=DEFAULT_DATASET)
    add_run_arguments(parser, default_out=DEFAULT_OUT)
    a("--preset", default="small", help="encoder shape: small | base | tiny")
    a("--mae-preset", default=None, help="MAE decoder shape (default: --preset)")
    a("--export", default=None, help="write the encoder as a model init folder at the end")
    a("--epochs", type=float, default=500)
    a("--warmup-epochs", type=float, default=50)
    a("--total-steps", type=int, default=None, help="optimizer steps (default: from --epochs)")
    a("--batch-size", type=int, default=64)
    a("--grad-accum", type=int, default=1, help="micro-batches per optimizer step")
    a("--blr", type=float, default=1.5e-4, help="lr per 256 images")
    a("--lr", type=float, default=None, help="absolute lr (overrides --blr)")
    a("--min-lr-ratio", type=float, default=0.0)
    a("--weight-decay", type=float, default=0.05)
    a("--mask-ratio", type=float, default=0.75)
    a("--augment-p", type=float, default=0.2)
    a("--max-patches", type=int, default=None, help="image patch budget (default: the preset's)")
    a("--workers", type=int, default=1, help="DataLoader worker processes")
    a("--limit", type=int, default=None, help="use the first N training rows")
    a("--save-every", type=int, default=500, help="checkpoint every this many steps")
    a("--log-every", type=int, default=10)
    add_old_spellings(parser)
    return parser


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
    args = parse_run_args(build_parser(), argv)
    out = run_folder(args, DEFAULT_OUT)
    if args.threads:
        torch.set_num_threads(args.threads)
    precision = resolve_precision(args.precision)
    accelerator = make_accelerator(precision)
    world, rank, is_main = accelerator.num_processes, accelerator.process_index, accelerator.is_main_process
    torch.manual_seed(args.seed + rank)
    if args.checkpoint:
        model = AcaiMAE.from_pretrained(args.checkpoint)
    else:
        config = AcaiOMRConfig.from_preset(args.preset)
        model = AcaiMAE(config, MAEConfig.from_preset(args.mae_preset or args.preset, mask_ratio=args.mask_ratio))
    channels_last_stem(model)  # a layout only: faster convolutions (training/run/fast_path.py)
    processor = build_processor(model.config, args.max_patches)

    train, _ = load_splits(args.dataset)
    if args.limit:
        train = train.select(range(min(args.limit, len(train))))
    rows = SystemRows(train, seed=args.seed)
    sampler = WidthBucketSampler(len(rows), args.batch_size, aspect_ratios(train), seed=args.seed, rank=rank,
                                 world_size=world)
    collator = SystemCollator(processor, augment=CameraAugment(p=args.augment_p), with_labels=False)
    loader = batch_loader(rows, sampler, collator, args.workers, args.seed)

    effective_batch = args.batch_size * args.grad_accum * world
    lr = args.lr or args.blr * effective_batch / 256
    optimizer = torch.optim.AdamW(decay_groups(model, args.weight_decay), lr=lr, betas=(0.9, 0.95))
    steps_per_epoch = max(1, len(sampler) // (world * args.grad_accum))
    total_steps = args.total_steps if args.total_steps is not None else math.ceil(args.epochs * steps_per_epoch)
    warmup_steps = min(total_steps, math.ceil(args.warmup_epochs * steps_per_epoch))

    state = {"step": 0, "epoch": 0, "position": 0}
    if args.checkpoint:
        state = load_checkpoint(args.checkpoint, model, optimizer, accelerator)
        align_optimizer_state(optimizer)
        for group in optimizer.param_groups:  # a resumed run may be given a new learning rate
            group["base_lr"] = lr
        accelerator.print(f"resumed from {args.checkpoint} at step {state['step']}")
    model, optimizer = accelerator.prepare(model, optimizer)
    step = state["step"]
    log = CSVLog(out / "mae_log.csv", resume_step=step if step else None) if is_main else None
    record_start(out, args, accelerator, precision, args_file="mae_args.json", step=step)
    accelerator.print(f"MAE {args.preset}: {sum(p.numel() for p in model.parameters()):,} parameters, "
                      f"{len(rows)} images, {total_steps} steps, lr {lr:.2e}, precision {precision}")

    model.train()
    data = micro_batches(loader, sampler, state["epoch"], state["position"], world)
    started, images_seen = time.perf_counter(), 0
    with StopSignal() as stop:
        while step < total_steps:
            factor = set_lr(optimizer, step, warmup_steps, total_steps, args.min_lr_ratio)
            for micro in range(args.grad_accum):
                epoch, position, batch = next(data)
                # masks are a pure function of (seed, rank, step, data position): a resumed run draws the same ones
                masks = torch.Generator(accelerator.device).manual_seed(
                    hash((args.seed, rank, step, position - world)) % 2**63)
                sync = nullcontext() if micro == args.grad_accum - 1 else accelerator.no_sync(model)
                with sync:
                    result = model(batch["pixel_values"].to(accelerator.device),
                                   batch["pixel_mask"].to(accelerator.device),
                                   batch.get("clean_pixel_values", batch["pixel_values"]).to(accelerator.device),
                                   generator=masks)
                    accelerator.backward(result["loss"] / args.grad_accum)
                images_seen += len(batch["pixel_values"]) * world
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1

            if step % args.log_every == 0 or step == total_steps:
                loss = accelerator.gather(result["loss"].detach()[None]).mean().item()  # the last micro-batch's
                rate = images_seen / (time.perf_counter() - started)
                accelerator.print(f"step {step}/{total_steps} loss {loss:.4f} lr {lr * factor:.2e} {rate:.1f} img/s")
                if is_main:
                    log.write({"step": step, "loss": loss, "lr": lr * factor, "images_per_s": rate})
            interrupted, = agree(accelerator, stop.received is not None)
            if step % args.save_every == 0 or step == total_steps or interrupted:
                save_run_checkpoint(out, args, step, epoch, position, accelerator.unwrap_model(model), optimizer,
                                    accelerator)
            if interrupted:  # the checkpoint has this step; --resume (with --export again) goes on from it
                accelerator.print(f"stopped by {stop.received or 'a signal'} at step {step}; go on with --resume {out}")
                return accelerator.unwrap_model(model)

    if args.export and is_main:
        # with the preset's own processor: fine-tuning uses its patch budget, not --max-patches
        mae = accelerator.unwrap_model(model)
        mae.export(args.export, default_processor(mae.config))
        accelerator.print(f"encoder exported to {args.export}")
    accelerator.wait_for_everyone()
    return accelerator.unwrap_model(model)


if __name__ == "__main__":
    main()
