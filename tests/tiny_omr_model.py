"""A saved model folder with random weights, for app tests until (and besides) the shipped model."""
from pathlib import Path

import pytest


def tiny_processor():
    """The processor every tiny-model test uses: 32 px high, at most 64 patches, our LMX tokenizer."""
    from acai_hf.model.image_processing_acai import AcaiImageProcessor
    from acai_hf.model.processing_acai import AcaiOMRProcessor
    from acai_hf.model.tokenization_acai import AcaiLMXTokenizer

    return AcaiOMRProcessor(AcaiImageProcessor(target_height=32, max_patches=64), AcaiLMXTokenizer())


def save_tiny_model(folder: Path, seed: int = 0) -> Path:
    """The `tiny` preset with a small processor, saved like a real checkpoint (config, weights, processor)."""
    import torch

    import acai_hf  # noqa: F401  (registers the Auto classes)
    from acai_hf.model.modeling_acai import AcaiOMRForConditionalGeneration

    torch.manual_seed(seed)
    model = AcaiOMRForConditionalGeneration.from_preset("tiny").eval()
    folder = Path(folder)
    model.save_pretrained(folder)
    tiny_processor().save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory):
    """One tiny model folder for every app test of the session (import this fixture into a test module)."""
    return save_tiny_model(tmp_path_factory.mktemp("tiny-model"))
