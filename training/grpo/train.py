"""GRPO fine-tuning of the decoder of a trained Acai model (the optional last phase, DESIGN.md).

    python -m training.grpo.train --init-from runs/small/best --dataset ~/.cache/acai-omr/data-v1 \\
        --out runs/grpo --total-steps 2000 --batch-size 2 --group-size 8
    python -m training.grpo.train --resume runs/grpo [--total-steps 4000]

Per step: G rollouts per image sampled from the temperature softmax (full vocabulary unless
--top-k), rewards R = l_t exp(-a_t TEDn) + l_w WF + l_f F1 - l_r repeat - l_l len (rewards.py;
TEDn for all rollouts at once over processes), group-normalised advantages, `--inner-steps` clipped
ratio updates with the entropy bonus and a fading teacher-forced CE term (step.py).
Curriculum ramps are `--NAME START END` (schedule.py). Run folder, resume and checkpoints as in every
trainer (training.run); logs: RUN/grpo_log.csv. `--eval-every` scores greedy transcriptions of dev rows
with the same reward and keeps the best in RUN/best/.
"""
import argparse
import time

import torch

import acai_hf  # noqa: F401  (registers the Auto classes)
from acai_hf.model.generation_acai import lmx_transition_table
from acai_hf.model.modeling_acai import AcaiOMRForConditionalGeneration
from acai_hf.model.processing_acai import AcaiOMRProcessor
from training.batches.collate import SystemCollator
from training.batches.loader import batch_loader, micro_batches
from training.batches.splits import SystemRows, load_splits
from training.batches.width_buckets import WidthBucketSampler
from training.data.augment import CameraAugment
from training.grpo.rewards import weighted_rewards
from training.grpo.schedule import Curriculum
from training.grpo.step import GRPOSettings, freeze_for_grpo, grpo_step, reward_setup
from training.release.evaluate import decode
from training.run.arguments import add_old_spellings, add_run_arguments, parse_run_args
from training.run.checkpointing import load_checkpoint, save_best
from training.run.folder import record_start, run_folder, save_run_checkpoint
from training.run.launch import make_accelerator
from training.run.layer_decay import no_weight_decay
from training.run.logs import CSVLog
from training.run.lr_sched import set_lr
from training.run.precision import resolve_precision
from training.run.stop_signal import StopSignal, agree

DEFAULT_OUT = "runs/grpo"
RAMPS = ("temperature", "top_k", "max_new_tokens", "length_weight", "entropy_beta", "ce_weight")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    a = parser.add_argument
    a("--init-from", default=None, help="a trained model folder (required unless --resume)")
    a("--dataset", default="~/.cache/acai-omr/data-v1")
    add_run_arguments(parser, default_out=DEFAULT_OUT)
    a("--total-steps", type=int, default=1000, help="optimizer steps")
    a("--warmup-steps", type=int, default=20)
    a("--batch-size", type=int, default=2, help="images per step (groups)")
    a("--group-size", type=int, default=8)
    a("--inner-steps", type=int, default=2)
    a("--epsilon", type=float, default=0.2)
    a("--lr", type=float, default=1e-5)
    a("--weight-decay", type=float, default=0.01)
    a("--grad-clip", type=float, default=1.0, help="gradient norm clip (0: off)")
    a("--weights", type=float, nargs=4, metavar=("L_T", "L_W", "L_F", "L_R"),
      default=(0.35, 0.10, 0.25, 0.15), help="TEDn, well-formedness, note F1, repeat weights")
    a("--tedn-alpha", type=float, default=0.01)
    a("--tedn-scale", choices=("edit_cost", "percent"), default="edit_cost")
    a("--wf-alpha", type=float, default=0.2)
    a("--wf-gamma", type=float, default=3.0)
    a("--length-delta", type=int, default=10)
    a("--length-tau", type=float, default=100.0)
    defaults = Curriculum()
    for name in RAMPS:
        ramp = getattr(defaults, name)
        a(f"--{name.replace('_', '-')}", type=float, nargs=2, metavar=("START", "END"), default=None,
          help=f"curriculum ramp (default {ramp.start} -> {ramp.end})")
    a("--grammar", action="store_true", help="sample within the LMX grammar")
    a("--augment-p", type=float, default=0.0)
    a("--reward-workers", type=int, default=None, help="TEDn processes (default: all cores)")
    a("--limit", type=int, default=None, help="use the first N training rows")
    a("--eval-every", type=int, default=0, help="0: no dev evaluation")
    a("--dev-limit", type=int, default=32, help="dev systems decoded greedily for the dev reward")
    a("--save-every", type=int, default=100, help="checkpoint every this many steps")
    a("--log-every", type=int, default=1)
    a("--workers", type=int, default=1, help="DataLoader worker processes")
    add_old_spellings(parser)
    return parser


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
    args = parse_run_args(build_parser(), argv)
    if not args.checkpoint and not args.init_from:
        raise SystemExit("--init-from is required (or --resume)")
    out = run_folder(args, DEFAULT_OUT)
    if args.threads:
        torch.set_num_threads(args.threads)
    precision = resolve_precision(args.precision)
    accelerator = make_accelerator(precision)
    device, world, rank, is_main = (accelerator.device, accelerator.num_processes, accelerator.process_index,
                                    accelerator.is_main_process)

    source = args.checkpoint or args.init_from
    model = AcaiOMRForConditionalGeneration.from_pretrained(source).to(device)
    processor = AcaiOMRProcessor.from_pretrained(source)
    params = freeze_for_grpo(model)
    named = [(name, p) for name, p in model.decoder.named_parameters() if p.requires_grad]
    groups = [{"params": [p for n, p in named if not no_weight_decay(n, p)], "weight_decay": args.weight_decay},
              {"params": [p for n, p in named if no_weight_decay(n, p)], "weight_decay": 0.0}]
    optimizer = torch.optim.AdamW(groups, lr=args.lr, betas=(0.9, 0.95))
    state = {"step": 0, "epoch": 0, "position": 0, "best_reward": None}
    if args.checkpoint:
        state = load_checkpoint(args.checkpoint, model, optimizer, accelerator)
        for group in optimizer.param_groups:
            group["base_lr"] = args.lr
        accelerator.print(f"resumed from {args.checkpoint} at step {state['step']}")

    train, dev = load_splits(args.dataset)
    train = train.filter(bool, input_columns="musicxml")  # TEDn needs the gold tree
    if args.limit:
        train = train.select(range(min(args.limit, len(train))))
    sampler = WidthBucketSampler(len(train), args.batch_size, seed=args.seed, rank=rank, world_size=world)
    augment = CameraAugment(p=args.augment_p) if args.augment_p > 0 else None
    collator = GoldCollator(SystemCollator(processor, augment=augment,
                                           max_label_length=model.config.decoder.max_position_embeddings))
    rows = SystemRows(train, args.seed, columns=("image", "lmx", "musicxml"))
    loader = batch_loader(rows, sampler, collator, args.workers, args.seed)

    curriculum = Curriculum.from_pairs(**{name: getattr(args, name) for name in RAMPS})
    settings = settings_from(args)
    tokenizer = processor.tokenizer
    grammar = None
    if args.grammar:
        grammar = lmx_transition_table(tokenizer.get_vocab(), tokenizer.bos_token_id, tokenizer.eos_token_id,
                                       tokenizer.pad_token_id)
    average = _gradient_averager(accelerator) if world > 1 else None
    step = state["step"]
    log = CSVLog(out / "grpo_log.csv", resume_step=step if step else None) if is_main else None
    record_start(out, args, accelerator, precision, args_file="grpo_args.json", step=step)
    accelerator.print(f"GRPO: {sum(p.numel() for p in params):,} decoder parameters trained, {len(train)} images, "
                      f"{args.total_steps} steps, groups of {args.group_size}, precision {precision}")

    data = micro_batches(loader, sampler, state["epoch"], state["position"], world)
    with StopSignal() as stop:
        while step < args.total_steps:
            epoch, position, batch = next(data)
            values = curriculum.at(step / max(1, args.total_steps))
            factor = set_lr(optimizer, step, args.warmup_steps, args.total_steps)
            rollout_rng = torch.Generator(device).manual_seed(hash((args.seed, rank, step)) % 2**63)
            started = time.perf_counter()
            metrics = grpo_step(model, optimizer, batch, tokenizer, settings, values, accelerator.autocast,
                                rollout_rng, grammar, average)
            metrics.pop("completions")
            step += 1

            row = {"step": step, "lr": args.lr * factor, **values, **metrics, "seconds": time.perf_counter() - started}
            if step % args.log_every == 0 and is_main:
                accelerator.print(" ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}"
                                           for k, v in row.items()))
                log.write(row)
            if args.eval_every and step % args.eval_every == 0:
                reward = dev_reward(model, processor, dev, settings, values, args.dev_limit, accelerator)
                if reward is not None and (state.get("best_reward") is None or reward > state["best_reward"]):
                    state["best_reward"] = reward
                    save_best(out, model, processor, {"step": step, "dev_reward": reward})  # main process only
                accelerator.wait_for_everyone()
            interrupted, = agree(accelerator, stop.received is not None)
            if step % args.save_every == 0 or step == args.total_steps or interrupted:
                save_run_checkpoint(out, args, step, epoch, position, model, optimizer, accelerator, processor,
                                    best_reward=state.get("best_reward"))
            if interrupted:  # the checkpoint has this step; --resume goes on from it
                accelerator.print(f"stopped by {stop.received or 'a signal'} at step {step}; go on with --resume {out}")
                break
    return model


def _gradient_averager(accelerator):
    """The model is not wrapped in DDP (GRPO calls the decoder directly), so gradients are averaged here."""
    def average(params):
        for p in params:
            if p.grad is not None:
                p.grad = accelerator.reduce(p.grad, reduction="mean")
    return average


@torch.no_grad()
def dev_reward(model, processor, dev, settings, values, limit: int, accelerator) -> float | None:
    """Mean reward of greedy transcriptions of the first `limit` dev rows that have gold MusicXML, on the
    main process (None on the others, and when there are none)."""
    if not accelerator.is_main_process:
        return None
    rows = dev.filter(bool, input_columns="musicxml")
    rows = rows.select(range(min(limit, len(rows))))
    if not len(rows):
        return None
    model.eval()
    predictions = decode(model, processor, rows["image"], batch_size=8, max_new_tokens=values["max_new_tokens"])
    funcs, weights = reward_setup(settings, values["length_weight"])
    totals, _ = weighted_rewards(predictions, funcs, weights, lmx=rows["lmx"], musicxml=rows["musicxml"])
    reward = sum(totals) / len(totals)
    accelerator.print(f"dev greedy reward {reward:.4f} over {len(totals)} systems")
    return reward


if __name__ == "__main__":
    main()
