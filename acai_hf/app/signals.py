"""SIGTERM, how services, containers and Spaces stop a process, ends the app as Ctrl-C does.

Python's default action for SIGTERM ends the process at once: no atexit handler runs and Gradio does
not shut down, so the request dirs (users' MusicXML, MIDI and WAV) and Gradio's cache stay on disk.
Raising KeyboardInterrupt in the main thread takes the Ctrl-C path instead: Gradio's launch loop
closes the server (which deletes its cache), launch returns, and atexit removes our temp root.
"""
import signal


def stop_on_sigterm() -> None:
    """From now on SIGTERM interrupts the main thread like SIGINT. Call from the main thread."""
    signal.signal(signal.SIGTERM, _interrupt)


def _interrupt(signum, _frame):
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # one orderly stop; a second TERM must not cut it short
    raise KeyboardInterrupt(f"stopped by signal {signum}")


__all__ = ["stop_on_sigterm"]
