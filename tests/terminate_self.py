"""SIGTERM once a run's log has so many lines: how a session's end stops a trainer, running in the test's own
process (its handler turns the signal into a stop after the step) or launched apart (torchrun)."""
import os
import signal
import threading
import time
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def sigterm_when_logged(log: Path, lines: int, pid: int | None = None):
    """While the block runs, a thread sends process `pid` (this one by default) SIGTERM once `log` has `lines`
    lines; never after the block."""
    done = threading.Event()

    def watch():
        while not done.is_set():
            if log.is_file() and len(log.read_text().splitlines()) >= lines:
                os.kill(os.getpid() if pid is None else pid, signal.SIGTERM)
                return
            time.sleep(0.01)

    sender = threading.Thread(target=watch)
    sender.start()
    try:
        yield
    finally:
        done.set()
        sender.join()
