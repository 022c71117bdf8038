"""Shared test setup: the whole suite runs offline, with Hugging Face caches in a temp dir."""
import json
import os
import tempfile
from pathlib import Path

import pytest

_OFFLINE_ENV = {
    "HF_HUB_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "GRADIO_ANALYTICS_ENABLED": "False",
}
for _key, _value in _OFFLINE_ENV.items():
    os.environ.setdefault(_key, _value)
os.environ.setdefault("HF_HOME", tempfile.mkdtemp(prefix="acai-hf-home-"))

DATA_DIR = Path(__file__).parent / "data"
VECTORS_PATH = DATA_DIR / "tedn_vectors.jsonl"


def load_vectors():
    with open(VECTORS_PATH, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


@pytest.fixture(scope="session")
def vectors():
    """The TEDn/SER reference cases (a copy of shared/reference/tedn_vectors.jsonl)."""
    return load_vectors()


@pytest.fixture(scope="session")
def gold_systems(vectors):
    """One entry per distinct gold system: (gold_musicxml, gold_lmx)."""
    seen = {}
    for case in vectors:
        seen.setdefault(case["gold_musicxml"], case["gold_lmx"])
    return list(seen.items())


@pytest.fixture
def one_torch_thread():
    """Tiny models on shared cores: one thread avoids OpenMP contention; restored afterwards."""
    import torch  # only the tests that ask for this fixture pay for importing torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)

