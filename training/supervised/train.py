"""Supervised training of Acai OMR with scheduled sampling, on accelerate.

    python -m training.supervised.train --dataset ~/.cache/acai-omr/data-v1 --preset small --out RUN [options]
    accelerate launch --multi_gpu --num_processes N -m training.supervised.train ...  (several GPUs or nodes)
    ACCELERATE_USE_CPU=1 torchrun --nproc_per_node N -m training.supervised.train ...  (several CPU processes)
    python -m training.supervised.train --resume RUN [--total-steps N] [--lr X]  (same trajectory; new length/LR)
    python -m training.supervised.train --resume RUN/stable --total-steps N  (a WSD run lengthened from its plateau)
    python -m training.supervised.train --init-from MODEL_DIR ...  (weights only, e.g. an MAE-initialised model)

One optimizer step: schedules from progress = step / total_steps (tf_prob, tau, straight-through;
scheduled_sampling.py) and the LR (warm-up + cosine, or with --decay-steps warm-up, stable, decay; per-group
base LRs from layer-wise decay) ->
`grad_accum` micro-batches of two-pass scheduled sampling -> clip -> AdamW step. Every `save_every` steps
an atomic checkpoint (training/run/checkpointing.py) holds everything a resume needs: weights, optimizer,
data position (epoch, batch), RNG states. Every `eval_every` steps: teacher-forced dev CE and greedy-decoding
SER / TEDn on a fixed dev subset (training/release/dev_evaluation.py); the best model goes to RUN/best/.
Logs: a progress bar, RUN/train.csv, RUN/dev.csv, RUN/curves.png (TensorBoard when installed).
SIGTERM or Ctrl-C stops the run after the step it is in, with that step's checkpoint and no final/
(training/run/stop_signal.py); a second one stops it at once.

This file is the loop; its flags are in arguments.py, and prepare.py sets up the model, data, optimizer
and a resumed run's state.
"""
import time
from contextlib import nullcontext

from tqdm.auto import tqdm

from acai_hf.model.modeling_acai import count_parameters
from training.batches.loader import micro_batches
from training.release.dev_evaluation import evaluate_dev, evaluate_reading
from training.run.checkpointing import STABLE, save_best
from training.run.folder import save_run_checkpoint
from training.run.logs import plot_curves
from training.run.lr_sched import decay_start, set_lr
from training.run.stop_signal import StopSignal, agree
from training.supervised.arguments import parse_args
from training.supervised.prepare import Prepared, prepare
from training.supervised.scheduled_sampling import gumbel_tau, straight_through, teacher_forcing_prob

LOSS_PARTS = ("ce", "bag", "guided", "box", "box_mass", "dense")  # ScheduledSampling.parts, summed over a step
BOARD_COLUMNS = ("ce", "tf_prob", "tau", "lr_decoder", "lr_encoder_top", "images_per_s")


def main(argv=None):
    args = parse_args(argv, __doc__)
    run = prepare(args)
    accelerator, trainer, optimizer, world = run.accelerator, run.trainer, run.optimizer, run.accelerator.num_processes
    step, total_steps = run.step, run.total_steps
    data = micro_batches(run.loader, run.sampler, run.epoch, run.position, world)
    started = time.perf_counter()
    last_eval = None
    if step == 0 and args.eval_every:
        dev_check(run, step, decode=False)  # the starting dev CE (decoding an untrained model only costs time)
    bar = tqdm(total=total_steps, initial=step, disable=not run.is_main, dynamic_ncols=True)
    trainer.train()
    interrupted = False
    with StopSignal() as stop:
        while step < total_steps:
            t0 = time.perf_counter()
            # schedules: functions of progress, so a resumed or lengthened run stays on them
            progress = step / total_steps
            tf_prob = teacher_forcing_prob(progress, args.ss_start, args.tf_floor)
            tau = gumbel_tau(progress, args.tau_start, args.tau_end)
            hard = straight_through(progress, args.hard_after)
            lr_factor = set_lr(optimizer, step, run.warmup_steps, total_steps, args.min_lr_ratio, args.decay_steps)
            if args.short_first:
                run.collator.short_prob = max(0.0, 1.0 - progress / args.short_first)

            # grad_accum micro-batches of two-pass scheduled sampling, then one optimizer step
            sums, images, tokens = dict.fromkeys(LOSS_PARTS, 0.0), 0, 0
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
                for name in LOSS_PARTS:
                    sums[name] += parts.get(name, 0.0)
                images += batch["labels"].shape[0]
                tokens += int((batch["labels"] != -100).sum())
            grad_norm = None
            if args.grad_clip > 0:
                grad_norm = float(accelerator.clip_grad_norm_(trainer.parameters(), args.grad_clip))
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1

            seconds, elapsed = time.perf_counter() - t0, run.elapsed_s + time.perf_counter() - started
            log_step(run, bar, {
                "step": step, "epoch": epoch, "ce": sums["ce"] / args.grad_accum, "tf_prob": tf_prob, "tau": tau,
                "hard": int(hard), "lr_decoder": args.lr * lr_factor, "lr_encoder_top": args.encoder_lr * lr_factor,
                "grad_norm": grad_norm, "images": images * world, "images_per_s": images * world / seconds,
                "tokens_per_s": tokens * world / seconds,
                "elapsed_s": elapsed, **auxiliary_losses(run, sums)})

            # checkpoint, dev evaluation, stop
            stopped_at = args.stop_at is not None and step >= args.stop_at
            over_time, interrupted = agree(accelerator, past_max_minutes(run, started), stop.received is not None)
            stopping = over_time or interrupted or stopped_at or step >= total_steps
            if (args.save_every and step % args.save_every == 0) or stopping:
                save_run_checkpoint(run.out, args, step, epoch, position, run.model, optimizer, accelerator,
                                    run.processor, total_steps=total_steps, elapsed_s=elapsed)
            if args.decay_steps and step == decay_start(run.warmup_steps, total_steps, args.decay_steps):
                save_run_checkpoint(run.out, args, step, epoch, position, run.model, optimizer, accelerator,
                                    run.processor, folder=STABLE, total_steps=total_steps, elapsed_s=elapsed)
            # a stop right after a periodic evaluation (time budget) does not evaluate again, nor does a signal's
            recent = last_eval is not None and step - last_eval < max(1, args.eval_every // 4)
            if (args.eval_every and step % args.eval_every == 0) or (stopping and not recent and not interrupted):
                dev_check(run, step)
                last_eval = step
            if stopping:
                break
    bar.close()
    if interrupted:  # not the run's end: no final/ (a later --resume writes it); the checkpoint has this step
        run.accelerator.print(f"stopped by {stop.received or 'a signal'} at step {step}; "
                              f"go on with --resume {run.out}")
        return run.out
    finish(run, step)
    return run.out


def auxiliary_losses(run: Prepared, sums: dict) -> dict:
    """The step's other losses, per micro-batch, where the run has them: the bag-of-tokens loss (unweighted),
    the share of steered attention outside its band (measure or note), box attention's loss and the steered
    mass inside the box, the dense head's loss, and the short-crop share."""
    accum, columns = run.args.grad_accum, {}
    if run.model.bag_head is not None:
        columns["bag"] = sums["bag"] / accum
    if run.args.guided_attention:
        columns["guided"] = sums["guided"] / accum
    if run.with_geometry:
        columns.update({name: sums[name] / accum for name in ("box", "box_mass", "dense")})
        columns["short_prob"] = run.collator.short_prob
    return columns


def log_step(run: Prepared, bar, row: dict) -> None:
    """A train.csv row, TensorBoard scalars and the progress bar (main process)."""
    if not run.is_main:
        return
    run.train_log.write(row)
    if run.board:
        for name in BOARD_COLUMNS:
            run.board.add_scalar(name, row[name], row["step"])
    bar.update(1)
    bar.set_postfix(ce=f"{row['ce']:.3f}", tf=f"{row['tf_prob']:.2f}", tau=f"{row['tau']:.2f}",
                    lr=f"{row['lr_decoder']:.1e}", img_s=f"{row['images_per_s']:.1f}")


def past_max_minutes(run: Prepared, started: float) -> bool:
    """--max-minutes spent since this process started its loop (`agree` makes all processes stop together)."""
    return run.args.max_minutes is not None and (time.perf_counter() - started) > 60 * run.args.max_minutes


def dev_check(run: Prepared, step: int, decode: bool = True) -> None:
    """Dev evaluation at `step` on the main process: dev.csv, TensorBoard, the curves, and RUN/best/ when it
    beats the best so far on --best-metric."""
    args = run.args
    if run.is_main and run.dev_rows:
        metrics = evaluate_dev(run.model, run.processor, run.dev_rows, run.dev_collator, run.accelerator,
                               args.eval_batch_size, args.decode_limit if decode else 0, args.guided_heads)
        if run.signature_rows:
            metrics.update(evaluate_reading(run.model, run.processor, run.signature_rows, run.accelerator,
                                            args.eval_batch_size))
        if run.clef_change_rows:
            metrics.update(evaluate_reading(run.model, run.processor, run.clef_change_rows, run.accelerator,
                                            args.eval_batch_size, kinds=("clef_change",)))
        row = {"step": step, **metrics}
        run.dev_log.write(row)
        if run.board:
            for name, value in metrics.items():
                if isinstance(value, float):
                    run.board.add_scalar(name, value, step)
        value = metrics.get(args.best_metric, metrics["dev_ce"])
        if step > 0 and value < run.best_value:
            run.best_value = value
            save_best(run.out, run.model, run.processor, row)
        plot_curves(run.out)
        tqdm.write(" ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v!r}" for k, v in row.items()))
    run.accelerator.wait_for_everyone()


def finish(run: Prepared, step: int) -> None:
    """RUN/final/ and the curves; then, with --push-to-hub, the best (else final) model to the Hub."""
    args = run.args
    if run.is_main:
        run.model.save_pretrained(run.out / "final")
        run.processor.save_pretrained(run.out / "final")
        plot_curves(run.out)
        if run.board:
            run.board.close()
    run.accelerator.wait_for_everyone()
    stopped_early = args.stop_at is not None and step < run.total_steps  # a simulated kill: nothing to publish
    if args.push_to_hub and run.is_main and not stopped_early:
        from training.release.hub import push_folder

        folder = run.out / "best" if (run.out / "best").is_dir() else run.out / "final"
        info = {"preset": args.preset, "parameters": count_parameters(run.model), "dataset": str(args.dataset),
                "steps": step, "batch": args.batch_size * args.grad_accum * run.accelerator.num_processes,
                "precision": run.precision}
        print(push_folder(folder, args.push_to_hub, info, private=args.hub_private))


if __name__ == "__main__":
    main()
