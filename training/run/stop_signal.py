"""SIGTERM or Ctrl-C ends a training run at the end of the step it is in, with a checkpoint of that step.

A run is stopped by a signal when its session ends, its job is killed or its user presses Ctrl-C. Python's
default for SIGTERM ends the process at once and loses every step since the last periodic checkpoint; a
KeyboardInterrupt raised mid-step leaves no consistent state to save. So the first SIGTERM or SIGINT only
sets a flag, the loop saves the step it finishes and returns, and `--resume RUN` goes on from there. A
second signal takes its usual action: a run that will not stop can still be stopped at once. With several
processes (torchrun sends the signal to each), `agree` makes all of them stop at the same step.
"""
import signal

import torch

SIGNALS = (signal.SIGTERM, signal.SIGINT)


class StopSignal:
    """Within `with StopSignal() as stop:`, `stop.received` is the name of the first signal ("SIGTERM"), or None."""

    def __init__(self):
        self.received = None
        self._previous = {}

    def __enter__(self):
        try:
            self._previous = {signum: signal.signal(signum, self._note) for signum in SIGNALS}
        except ValueError:  # not the main thread (a notebook's worker): signals keep their usual action there
            self._previous = {}
        return self

    def __exit__(self, *_):
        self._restore()

    def _note(self, signum, _frame):
        self.received = signal.Signals(signum).name
        self._restore()  # the next signal acts as it did before the run

    def _restore(self):
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous = {}


def agree(accelerator, *flags: bool) -> list[bool]:
    """Each flag, true on every process when it is true on any (one collective for all of them)."""
    if accelerator.num_processes == 1:
        return [bool(flag) for flag in flags]
    votes = torch.tensor([float(flag) for flag in flags], device=accelerator.device)
    return [bool(vote) for vote in accelerator.reduce(votes, "max").tolist()]


__all__ = ["StopSignal", "agree"]
