"""The Transcribe button tells what the app is doing, where the visitor looks: while pages are read
or systems transcribed it is disabled and reads "Transcribing 4/12 systems...", and it comes back
when the work is done or has failed.

The work runs in a worker thread (in the handler's context, so gr.Progress and gr.Warning still
reach the page); the handler, a generator, yields a new label each time the work reports progress.
"""
import contextvars
import queue
import threading

import gradio as gr

TRANSCRIBE_LABEL = "Transcribe"


def busy(label: str):
    """The button disabled, naming the work under way."""
    return gr.update(value=label, interactive=False)


def idle():
    return gr.update(value=TRANSCRIBE_LABEL, interactive=True)


def run_reporting(work):
    """Runs work(report) in a worker thread, where report(done, total) tells how far it is; yields each
    (done, total) as it comes and returns (with `yield from`) what work returned, or raises what it raised."""
    events: queue.Queue = queue.Queue()
    outcome = {}

    def report(done, total):
        events.put((done, total))

    def target():
        try:
            outcome["value"] = work(report)
        except BaseException as error:  # handed to the generator, which raises it in the handler
            outcome["error"] = error
        finally:
            events.put(None)

    worker = threading.Thread(target=contextvars.copy_context().run, args=(target,), daemon=True,
                              name="acai-busy-work")
    worker.start()
    while (event := events.get()) is not None:
        yield event
    worker.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def busy_while(work, label, other_outputs: int):
    """In a generator handler whose last output is the button: `result = yield from busy_while(...)`.
    Yields, per report of work(report), the other outputs untouched and the button reading
    label(done, total); returns what work returned."""
    reports = run_reporting(work)
    while True:
        try:
            done, total = next(reports)
        except StopIteration as finished:
            return finished.value
        yield (*[gr.skip()] * other_outputs, busy(label(done, total)))


def progress_relay(report, progress=None):
    """A stand-in for gr.Progress that our handlers call as progress((done, total), desc=..., unit=...):
    passes the counts to `report` and on to Gradio's own progress, if any."""
    def relay(value, desc=None, unit=None, **kwargs):
        if isinstance(value, tuple):
            report(*value)
        if progress is not None:
            progress(value, desc=desc, unit=unit, **kwargs)
    return relay


__all__ = ["busy", "idle", "busy_while", "run_reporting", "progress_relay", "TRANSCRIBE_LABEL"]
