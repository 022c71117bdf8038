"""Registration of the Acai OMR classes with transformers' Auto factories.

`import acai_hf` does not import transformers, yet `AutoModel.from_pretrained(folder)`, `AutoProcessor`,
`pipeline("image-to-text", model=folder)` must find our classes whatever is imported next (the pipeline
task also gets our subclass of its pipeline, see pipeline_acai.py). So
`install` asks `_after_import` to call `on_import` when transformers or one of its factory modules
has been imported, and our own modules call `finish_registration(__name__)` on their last line.

Registering imports our modules, which import transformers modules: done half way through another
import it is circular. So the registrations run at the first of those moments when no transformers
or acai_hf module is half imported (the one just finishing aside), and only once.
"""
import logging
import sys


def _register_configs():
    from transformers import AutoConfig

    from .configuration_acai import AcaiDecoderConfig, AcaiEncoderConfig, AcaiOMRConfig

    for config in (AcaiOMRConfig, AcaiEncoderConfig, AcaiDecoderConfig):
        AutoConfig.register(config.model_type, config, exist_ok=True)


def _register_models():
    from transformers import AutoModel, AutoModelForCausalLM, AutoModelForImageTextToText

    from .configuration_acai import AcaiDecoderConfig, AcaiEncoderConfig, AcaiOMRConfig
    from .modeling_acai import AcaiDecoderForCausalLM, AcaiEncoderModel, AcaiOMRForConditionalGeneration

    AutoModel.register(AcaiOMRConfig, AcaiOMRForConditionalGeneration, exist_ok=True)
    AutoModelForImageTextToText.register(AcaiOMRConfig, AcaiOMRForConditionalGeneration, exist_ok=True)
    AutoModel.register(AcaiEncoderConfig, AcaiEncoderModel, exist_ok=True)
    AutoModelForCausalLM.register(AcaiDecoderConfig, AcaiDecoderForCausalLM, exist_ok=True)


def _register_image_processor():
    from transformers import AutoImageProcessor

    from .configuration_acai import AcaiOMRConfig
    from .image_processing_acai import AcaiImageProcessor

    AutoImageProcessor.register(AcaiOMRConfig, image_processor_classes={"pil": AcaiImageProcessor}, exist_ok=True)


def _register_processor():
    from transformers import AutoProcessor

    from .configuration_acai import AcaiOMRConfig
    from .processing_acai import AcaiOMRProcessor

    AutoProcessor.register(AcaiOMRConfig, AcaiOMRProcessor, exist_ok=True)


def _register_tokenizer_key():
    # The tokenizer registers itself by name (tokenization_acai); this adds our config class as a key.
    from transformers import AutoTokenizer

    from .configuration_acai import AcaiOMRConfig
    from .tokenization_acai import AcaiLMXTokenizer

    AutoTokenizer.register(AcaiOMRConfig, tokenizer_class=AcaiLMXTokenizer, exist_ok=True)


def _register_pipeline():
    # The "image-to-text" task is rerouted to "image-text-to-text"; our subclass of its pipeline lets an
    # image alone be transcribed (see pipeline_acai.py). Named by path: imported only when a pipeline is built.
    from transformers.pipelines import PIPELINE_REGISTRY

    task = PIPELINE_REGISTRY.supported_tasks["image-text-to-text"]
    task["impl"] = f"{__package__}.pipeline_acai.AcaiImageTextToTextPipeline"


# (module that must be imported first, or None; step). The pipeline step waits for transformers.pipelines,
# which is slow to import, so that `import transformers` alone never pays for it.
_STEPS = [
    (None, _register_configs),
    (None, _register_models),
    (None, _register_image_processor),
    (None, _register_processor),
    (None, _register_tokenizer_key),
    ("transformers.pipelines", _register_pipeline),
]
_pending = []
_running = []
TRIGGERS = (
    "transformers",
    "transformers.models.auto.configuration_auto",
    "transformers.models.auto.modeling_auto",
    "transformers.models.auto.image_processing_auto",
    "transformers.models.auto.processing_auto",
    "transformers.pipelines",
)


def install(run_after_import) -> None:
    """Called by `acai_hf/__init__.py` with its `_after_import.run_after_import`."""
    _pending[:] = _STEPS
    for module in TRIGGERS:
        run_after_import(module, "acai_hf.registration:on_import")


def _half_imported(finishing: str | None) -> bool:
    for name, module in list(sys.modules.items()):
        ours = name.startswith(f"{__package__}.") or name == "transformers" or name.startswith("transformers.")
        if ours and name != finishing and getattr(getattr(module, "__spec__", None), "_initializing", False):
            return True
    return False


def _run_pending(finishing: str | None) -> None:
    # A step imports our modules, whose last line calls back here: only the outermost call runs steps.
    if _running or not _pending or _half_imported(finishing):
        return
    _running.append(True)
    try:
        for needed, step in list(_pending):
            if needed is not None and needed not in sys.modules:
                continue
            _pending.remove((needed, step))
            try:
                step()
            except Exception as exc:  # never break the user's `import transformers` over it
                logging.getLogger(__name__).warning("acai_hf: %s failed: %r", step.__name__, exc)
    finally:
        _running.clear()


def on_import(module) -> None:
    _run_pending(finishing=module.__name__)


def finish_registration(module_name: str) -> None:
    """Called on the last line of our modules that import transformers."""
    _run_pending(finishing=module_name)
