"""The Accelerator every trainer uses, checked against the processes that were actually launched.

`accelerate launch --multi_gpu --num_processes N` and `torchrun --nproc_per_node N` start N processes
with WORLD_SIZE=N. On GPUs accelerate joins them into one run. On CPUs it does so only when
ACCELERATE_USE_CPU=1 is set; without it each process would train alone, and all N would write the same
run folder (logs, checkpoints) over each other. So that case stops at once with the fix in the message.
"""
import os

from accelerate import Accelerator
from accelerate.state import AcceleratorState

from training.run.precision import accelerate_mixed_precision

CPU_HINT = ("on CPUs, launch with `ACCELERATE_USE_CPU=1 torchrun --nproc_per_node N -m training.supervised.train ...` "
            "(gloo); on GPUs, with `accelerate launch --multi_gpu --num_processes N -m training.supervised.train ...`")


def make_accelerator(precision: str, **kwargs) -> Accelerator:
    """Accelerator for "fp32" / "bf16"; SystemExit when it did not join every launched process."""
    mixed_precision = accelerate_mixed_precision(precision)
    state = AcceleratorState._shared_state
    if state and state.get("_mixed_precision") != mixed_precision and state.get("num_processes", 1) == 1:
        # accelerate keeps one precision a process; one process may run a bf16 trainer (--precision auto on a
        # CPU with AMX) and then an fp32 evaluation (a notebook, the tests): start that one afresh
        AcceleratorState._reset_state()
    accelerator = Accelerator(mixed_precision=mixed_precision, **kwargs)
    launched = int(os.environ.get("WORLD_SIZE", "0"))  # unset under mpirun and TPU launchers: nothing to check
    if launched > accelerator.num_processes:
        raise SystemExit(f"{launched} processes were launched (WORLD_SIZE), but accelerate joined "
                         f"{accelerator.num_processes} of them into the run: {CPU_HINT}")
    return accelerator
