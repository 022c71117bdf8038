"""Evaluation metrics for LMX predictions: SER and TEDn (see ser.py and tedn.py).

`evaluate` is imported only by `load_metric` (and by the evaluate modules in lmx_ser/ and lmx_tedn/).
"""
from pathlib import Path

METRIC_NAMES = ("lmx_ser", "lmx_tedn")


def load_metric(name: str):
    """The local `evaluate` module `name` ("lmx_ser" or "lmx_tedn"), loaded by path (no network)."""
    if name not in METRIC_NAMES:
        raise ValueError(f"unknown metric {name!r}; expected one of {METRIC_NAMES}")
    import evaluate  # heavy, so only on demand

    return evaluate.load(str(Path(__file__).parent / name))
