"""GRPO fine-tuning of the decoder of a trained Acai model (the optional last phase, DESIGN.md).

    python -m training.grpo --model runs/small/best --dataset ~/.cache/acai-omr/data-v1 \\
        --output-dir runs/grpo --steps 2000 --batch-size 2 --group-size 8
    python -m training.grpo --resume runs/grpo [--steps 4000]

Per step: G rollouts per image sampled from the temperature softmax (full vocabulary unless
--top-k), rewards R = l_t exp(-a_t TEDn) + l_w WF + l_f F1 - l_r repeat - l_l len (training.rewards;
TEDn for all rollouts at once over processes), group-normalised advantages, `--inner-steps` clipped
ratio updates with the entropy bonus and a fading teacher-forced CE term (training.grpo_step).
Curriculum ramps are `--NAME START END` (training.grpo_schedule). Checkpoints as in the trainer;
`--eval-every` scores greedy transcriptions of dev rows with the same reward and keeps the best.
"""
import argparse
import csv
import json
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader

import acai_hf  # noqa: F401  (registers the Auto classes)
from acai_hf.model.generation_acai import lmx_transition_table
from acai_hf.model.modeling_acai import AcaiOMRForConditionalGeneration
from acai_hf.model.processing_acai import AcaiOMRProcessor
from training.checkpointing import (
    latest_checkpoint,
    load_checkpoint,
    save_best,
    save_checkpoint,
)
from training.collate import SystemCollator
from training.data.augment import CameraAugment
from training.datasets_io import SystemRows, load_splits
from training.grpo_schedule import Curriculum
from training.grpo_step import GRPOSettings, freeze_for_grpo, grpo_step, reward_setup
from training.launch import make_accelerator
from training.layer_decay import no_weight_decay
from training.lr_sched import set_lr
from training.precision import CHOICES, resolve_precision
from training.rewards import weighted_rewards
from training.width_buckets import WidthBucketSampler

RAMPS = ("temperature", "top_k", "max_new_tokens", "length_weight", "entropy_beta", "ce_weight")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="a trained model folder (required unless --resume)")
    parser.add_argument("--dataset", default="~/.cache/acai-omr/data-v1")
    parser.add_argument("--output-dir", default="runs/grpo")
    parser.add_argument("--resume", default=None)
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--warmup-steps", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=2, help="images per step (groups)")
    parser.add_argument("--group-size", type=int, default=8)
    parser.add_argument("--inner-steps", type=int, default=2)
    parser.add_argument("--epsilon", type=float, default=0.2)
    parser.add_argument("--lr", type=float, default=1e-5)
    parser.add_argument("--weight-decay", type=float, default=0.01)
    parser.add_argument("--grad-clip", type=float, default=1.0)
    parser.add_argument("--weights", type=float, nargs=4, metavar=("L_T", "L_W", "L_F", "L_R"),
                        default=(0.35, 0.10, 0.25, 0.15), help="TEDn, well-formedness, note F1, repeat weights")
    parser.add_argument("--tedn-alpha", type=float, default=0.01)
    parser.add_argument("--tedn-scale", choices=("edit_cost", "percent"), default="edit_cost")
    parser.add_argument("--wf-alpha", type=float, default=0.2)
    parser.add_argument("--wf-gamma", type=float, default=3.0)
    parser.add_argument("--length-delta", type=int, default=10)
    parser.add_argument("--length-tau", type=float, default=100.0)
    defaults = Curriculum()
    for name in RAMPS:
        ramp = getattr(defaults, name)
        parser.add_argument(f"--{name.replace('_', '-')}", type=float, nargs=2, metavar=("START", "END"),
                            default=None, help=f"curriculum ramp (default {ramp.start} -> {ramp.end})")
    parser.add_argument("--grammar", action="store_true", help="sample within the LMX grammar")
    parser.add_argument("--augment-p", type=float, default=0.0)
    parser.add_argument("--reward-workers", type=int, default=None, help="TEDn processes (default: all cores)")
    parser.add_argument("--precision", choices=CHOICES, default="auto")
    parser.add_argument("--limit", type=int, default=None, help="use the first N training rows")
    parser.add_argument("--eval-every", type=int, default=0)
    parser.add_argument("--eval-limit", type=int, default=32)
    parser.add_argument("--checkpoint-every", type=int, default=100)
    parser.add_argument("--log-every", type=int, default=1)
    parser.add_argument("--num-workers", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads (1 is far faster when other jobs share the cores)")
    return parser.parse_args(argv)


class GoldCollator:
    """SystemCollator's tensors plus the gold strings the rewards read."""

    def __init__(self, collator: SystemCollator):
        self.collator = collator

    def __call__(self, rows):
        batch = self.collator(rows)
        batch.pop("clean_pixel_values", None)
        batch["lmx"] = [row["lmx"] for row in rows]
        batch["musicxml"] = [row["musicxml"] for row in rows]
        return batch


def settings_from(args) -> GRPOSettings:
    return GRPOSettings(
        group_size=args.group_size, inner_steps=args.inner_steps, epsilon=args.epsilon, grad_clip=args.grad_clip,
        weights=dict(zip(("tedn", "wellformedness", "note_f1", "repeat"), args.weights)),
        tedn_alpha=args.tedn_alpha, tedn_scale=args.tedn_scale, wf_alpha=args.wf_alpha, wf_gamma=args.wf_gamma,
        length_delta=args.length_delta, length_tau=args.length_tau, reward_workers=args.reward_workers,
    )


def main(argv=None):
    args = parse_args(argv)
    resume_from = latest_checkpoint(args.resume) if args.resume else None
    if args.resume and resume_from is None:
        raise FileNotFoundError(f"no checkpoint under {args.resume}")
    if resume_from is None and not args.model:
        raise SystemExit("--model is required (or --resume)")
    run_dir = resume_from.parent.parent if resume_from is not None else Path(args.output_dir)
    if args.threads:
        torch.set_num_threads(args.threads)
    precision = resolve_precision(args.precision)
    accelerator = make_accelerator(precision)
    device = accelerator.device

    source = resume_from or args.model
    model = AcaiOMRForConditionalGeneration.from_pretrained(source).to(device)
    processor = AcaiOMRProcessor.from_pretrained(source)
    params = freeze_for_grpo(model)
    named = [(name, p) for name, p in model.decoder.named_parameters() if p.requires_grad]
    groups = [{"params": [p for n, p in named if not no_weight_decay(n, p)], "weight_decay": args.weight_decay},
              {"params": [p for n, p in named if no_weight_decay(n, p)], "weight_decay": 0.0}]
    optimizer = torch.optim.AdamW(groups, lr=args.lr, betas=(0.9, 0.95))
    state = {"step": 0, "epoch": 0, "batch_in_epoch": 0, "best_reward": None}
    if resume_from is not None:
        state = load_checkpoint(resume_from, model, optimizer, accelerator)
        for group in optimizer.param_groups:
            group["base_lr"] = args.lr
        accelerator.print(f"resumed from {resume_from} at step {state['step']}")

    train, dev = load_splits(args.dataset)
    train = train.filter(bool, input_columns="musicxml")  # TEDn needs the gold tree
    if args.limit:
        train = train.select(range(min(args.limit, len(train))))
    world, rank = accelerator.num_processes, accelerator.process_index
    sampler = WidthBucketSampler(len(train), args.batch_size, seed=args.seed, rank=rank, world_size=world)
    augment = CameraAugment(p=args.augment_p) if args.augment_p > 0 else None
    collator = GoldCollator(SystemCollator(processor, augment=augment,
                                           max_label_length=model.config.decoder.max_position_embeddings))
    rows = SystemRows(train, args.seed, columns=("image", "lmx", "musicxml"))
    loader = DataLoader(rows, batch_sampler=sampler, collate_fn=collator,
                        num_workers=args.num_workers, generator=torch.Generator().manual_seed(args.seed))

    curriculum = Curriculum.from_pairs(**{name: getattr(args, name) for name in RAMPS})
    settings = settings_from(args)
    tokenizer = processor.tokenizer
    grammar = None
    if args.grammar:
        grammar = lmx_transition_table(tokenizer.get_vocab(), tokenizer.bos_token_id, tokenizer.eos_token_id,
                                       tokenizer.pad_token_id)
    average = _gradient_averager(accelerator) if world > 1 else None
    if accelerator.is_main_process:
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "grpo_args.json").write_text(json.dumps(vars(args), indent=1))
    accelerator.print(f"GRPO: {sum(p.numel() for p in params):,} decoder parameters trained, {len(train)} images, "
                      f"{args.steps} steps, groups of {args.group_size}, precision {precision}")

    step = state["step"]
    while step < args.steps:
        sampler.set_epoch(state["epoch"], state["batch_in_epoch"])
        for batch in loader:
            values = curriculum.at(step / max(1, args.steps))
            factor = set_lr(optimizer, step, args.warmup_steps, args.steps)
            rollout_rng = torch.Generator(device).manual_seed(hash((args.seed, rank, step)) % 2**63)
            started = time.perf_counter()
            metrics = grpo_step(model, optimizer, batch, tokenizer, settings, values, accelerator.autocast,
                                rollout_rng, grammar, average)
            metrics.pop("completions")
            step += 1
            state.update(step=step, batch_in_epoch=state["batch_in_epoch"] + world)
            row = {"step": step, "lr": args.lr * factor, **values, **metrics,
                   "seconds": time.perf_counter() - started}
            if step % args.log_every == 0 and accelerator.is_main_process:
                accelerator.print(" ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}"
                                           for k, v in row.items()))
                _append_csv(run_dir / "grpo_log.csv", row)
            if args.eval_every and step % args.eval_every == 0:
                _evaluate_and_keep_best(model, processor, dev, settings, values, args, state, run_dir, accelerator)
            if step % args.checkpoint_every == 0 or step == args.steps:
                save_checkpoint(run_dir / "checkpoints", step, model, optimizer, {**state, "args": vars(args)},
                                processor=processor, accelerator=accelerator)
            if step >= args.steps:
                break
        else:
            state.update(epoch=state["epoch"] + 1, batch_in_epoch=0)
    return model


def _gradient_averager(accelerator):
    """The model is not wrapped in DDP (GRPO calls the decoder directly), so gradients are averaged here."""
    def average(params):
        for p in params:
            if p.grad is not None:
                p.grad = accelerator.reduce(p.grad, reduction="mean")
    return average


@torch.no_grad()
def _evaluate_and_keep_best(model, processor, dev, settings, values, args, state, run_dir, accelerator):
    """Mean reward (and its components) of greedy transcriptions of the first dev rows; best kept."""
    from training.evaluate import decode

    if not accelerator.is_main_process:
        accelerator.wait_for_everyone()
        return
    rows = dev.filter(bool, input_columns="musicxml")
    rows = rows.select(range(min(args.eval_limit, len(rows))))
    if not len(rows):
        accelerator.wait_for_everyone()
        return
    model.eval()
    predictions = decode(model, processor, rows["image"], batch_size=8, max_new_tokens=values["max_new_tokens"])
    funcs, weights = reward_setup(settings, values["length_weight"])
    totals, _ = weighted_rewards(predictions, funcs, weights, lmx=rows["lmx"], musicxml=rows["musicxml"])
    reward = sum(totals) / len(totals)
    accelerator.print(f"dev greedy reward {reward:.4f} over {len(totals)} systems")
    if state.get("best_reward") is None or reward > state["best_reward"]:
        state["best_reward"] = reward
        save_best(run_dir, model, processor, {"step": state["step"], "dev_reward": reward})  # main process only
    accelerator.wait_for_everyone()


def _append_csv(path: Path, row: dict) -> None:
    new = not path.exists()
    with open(path, "a", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(row), extrasaction="ignore")
        if new:
            writer.writeheader()
        writer.writerow(row)


if __name__ == "__main__":
    main()
