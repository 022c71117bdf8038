"""Acai OMR: optical music recognition of pianoform systems into LMX and MusicXML.

    model/            the transformers model, processor and tokenizer, registered with the Auto classes
    page/             pages in, systems found and cropped
    music/            LMX <-> MusicXML, the joined score (Score), MIDI, checks, engraving and audio
    metrics/          SER and TEDn (also `evaluate` modules)
    transcription.py  the one route from pages (or system images) to a Score
    cli.py, app/      the command line and the Gradio app, thin adapters of transcription.py
    atomic_write.py   files that a reader never sees half written

Importing the package imports the model package, which registers the Auto classes (and so imports
transformers and torch). The music layer's heavy dependencies (music21, Verovio, evaluate) and gradio
are imported by the modules that need them; the public names below are resolved lazily.
"""
from importlib import import_module

import acai_hf.model  # noqa: F401  (registers the Auto classes)

__version__ = "0.1.0"

# public name -> submodule that defines it
_LAZY = {
    "linearize": "acai_hf.music.lmx",
    "delinearize": "acai_hf.music.lmx",
    "DelinearizationError": "acai_hf.music.lmx",
    "join_systems": "acai_hf.music.joining",
    "to_midi": "acai_hf.music.midi",
    "measure_validity": "acai_hf.music.measure_lengths",
    "join_systems_with_errors": "acai_hf.music.joining",
    "MeasureReport": "acai_hf.music.measure_lengths",
    "validate_musicxml": "acai_hf.music.musicxml_schema",
    "AcaiLMXTokenizer": "acai_hf.model.tokenization_acai",
    "AcaiOMRConfig": "acai_hf.model.configuration_acai",
    "AcaiOMRForConditionalGeneration": "acai_hf.model.modeling_acai",
    "AcaiImageProcessor": "acai_hf.model.image_processing_acai",
    "AcaiOMRProcessor": "acai_hf.model.processing_acai",
    "LMXGrammarLogitsProcessor": "acai_hf.model.generation_acai",
    "transcribe": "acai_hf.transcription",
    "Score": "acai_hf.music.score",
    "ser": "acai_hf.metrics.ser",
    "corpus_ser": "acai_hf.metrics.ser",
    "tedn": "acai_hf.metrics.tedn",
    "corpus_tedn": "acai_hf.metrics.tedn",
    "tedn_batch": "acai_hf.metrics.tedn",
}

__all__ = sorted(_LAZY)


def __getattr__(name):
    if name in _LAZY:
        value = getattr(import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'acai_hf' has no attribute {name!r}")
