"""Acai OMR: optical music recognition of pianoform systems into LMX and MusicXML.

Importing this package stays cheap: heavy dependencies (transformers, music21, evaluate, gradio)
are imported by the submodules that need them, and public names are resolved lazily.
"""
from importlib import import_module

from acai_hf import registration as _registration
from acai_hf._after_import import run_after_import

__version__ = "0.1.0"

# public name -> submodule that defines it
_LAZY = {
    "linearize": "acai_hf.lmx",
    "delinearize": "acai_hf.lmx",
    "DelinearizationError": "acai_hf.lmx",
    "join_systems": "acai_hf.music",
    "to_midi": "acai_hf.music",
    "measure_validity": "acai_hf.music",
    "join_systems_with_errors": "acai_hf.music",
    "MeasureReport": "acai_hf.measure_lengths",
    "validate_musicxml": "acai_hf.musicxml_schema",
    "AcaiLMXTokenizer": "acai_hf.tokenization_acai",
    "AcaiOMRConfig": "acai_hf.configuration_acai",
    "AcaiOMRForConditionalGeneration": "acai_hf.modeling_acai",
    "AcaiImageProcessor": "acai_hf.image_processing_acai",
    "AcaiOMRProcessor": "acai_hf.processing_acai",
    "LMXGrammarLogitsProcessor": "acai_hf.generation_acai",
    "transcribe": "acai_hf.transcription",
    "Transcription": "acai_hf.transcription",
    "ser": "acai_hf.metrics.ser",
    "corpus_ser": "acai_hf.metrics.ser",
    "tedn": "acai_hf.metrics.tedn",
    "corpus_tedn": "acai_hf.metrics.tedn",
    "tedn_batch": "acai_hf.metrics.tedn",
}

__all__ = sorted(_LAZY)

# AutoTokenizer.from_pretrained finds the "tokenizer_class" of a saved folder among registered classes.
# Register ours when transformers loads that factory: importing it here would pull in torch.
run_after_import("transformers.models.auto.tokenization_auto", "acai_hf.tokenization_acai:register_auto_tokenizer")
# The model's config, model, image processor and processor, likewise (see acai_hf/registration.py).
_registration.install(run_after_import)


def __getattr__(name):
    if name in _LAZY:
        value = getattr(import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'acai_hf' has no attribute {name!r}")
