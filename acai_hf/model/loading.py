"""Which model folder to transcribe with, and loading it: the one resolver of the app, the command line
and `acai_hf.transcribe`.

The model is the one given (a folder saved by save_pretrained, or a Hub id), else $ACAI_OMR_MODEL,
else the shipped checkpoints/acai-omr-small.
"""
import os
from pathlib import Path

MODEL_ENV = "ACAI_OMR_MODEL"
DEFAULT_CHECKPOINT = Path(__file__).resolve().parents[2] / "checkpoints" / "acai-omr-small"


class ModelNotFound(ValueError):
    """No usable model where one was asked for; the message says what to give instead."""


def model_source(model=None) -> str:
    """The model to use: `model`, else $ACAI_OMR_MODEL, else the shipped checkpoint (as a path or an id)."""
    return str(model or os.environ.get(MODEL_ENV) or DEFAULT_CHECKPOINT)


def resolve_model(model=None) -> str:
    """`model_source(model)`, checked: a folder must hold config.json; anything else must look like a
    Hub id ("owner/name"). Raises ModelNotFound."""
    source = model_source(model)
    path = Path(source).expanduser()
    if path.is_dir():
        if not (path / "config.json").exists():
            raise ModelNotFound(f"{source}: the folder has no config.json")
        return str(path)
    if path == DEFAULT_CHECKPOINT:
        raise ModelNotFound(f"the default model {DEFAULT_CHECKPOINT} does not exist yet")
    looks_like_hub_id = source.count("/") == 1 and not source.startswith((".", "/", "~"))
    if not looks_like_hub_id:
        raise ModelNotFound(f"{source}: no such folder")
    return source


def load(model=None, processor=None, int8=False):
    """(model, processor) from a folder, a model id or instances (None: see `resolve_model`); the processor
    defaults to the model's folder, else to one matching the model's patch budget. Instances are used as
    they are (nothing is reloaded), so an app loads once and transcribes many times. `int8`: the
    decoder's linear layers in int8 for faster CPU decoding (quantization_acai; the model is changed
    in place)."""
    from transformers import AutoModelForImageTextToText, AutoProcessor

    if model is None or isinstance(model, (str, Path)):
        model = resolve_model(model)
        processor = processor or AutoProcessor.from_pretrained(model)
        model = AutoModelForImageTextToText.from_pretrained(model)
    if processor is None:
        processor = default_processor(model.config)
    if int8:
        from acai_hf.model.quantization_acai import quantize_decoder

        quantize_decoder(model)
    return model.eval(), processor


def default_processor(config):
    """A processor matching the model's patch budget, with the LMX tokenizer."""
    from acai_hf.model.image_processing_acai import AcaiImageProcessor
    from acai_hf.model.processing_acai import AcaiOMRProcessor
    from acai_hf.model.tokenization_acai import AcaiLMXTokenizer

    image_processor = AcaiImageProcessor(max_patches=config.encoder.max_patches, patch_size=config.encoder.patch_size)
    return AcaiOMRProcessor(image_processor, AcaiLMXTokenizer())


__all__ = ["MODEL_ENV", "DEFAULT_CHECKPOINT", "ModelNotFound", "model_source", "resolve_model", "load",
           "default_processor"]
