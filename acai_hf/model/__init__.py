"""The Acai OMR model as transformers classes, registered with transformers' Auto factories here, once.

configuration_acai (AcaiOMRConfig and its encoder/decoder halves), modeling_acai (the encoder-decoder;
its encoder, decoder and shared layers in modeling_acai_*), cache_acai (the decoder's growing KV cache),
generation_acai (grammar and length constraints, confidence, batched decoding), quantization_acai (int8
decoder), image_processing_acai, tokenization_acai and processing_acai (system image and LMX to tensors),
pipeline_acai (the image-to-text pipeline without a prompt), loading (the model folder to use, loaded),
calibration (expected accuracy of a transcribed system).

Importing this package (as `import acai_hf` does) registers the classes, so that a saved folder loads
with `AutoModel`, `AutoModelForImageTextToText`, `AutoProcessor`, `AutoTokenizer`, `AutoImageProcessor`
and `pipeline("image-to-text", model=folder)`.
"""
from transformers import (AutoConfig, AutoImageProcessor, AutoModel, AutoModelForCausalLM,
                          AutoModelForImageTextToText, AutoProcessor, AutoTokenizer)
from transformers.pipelines import PIPELINE_REGISTRY

from acai_hf.model.configuration_acai import AcaiDecoderConfig, AcaiEncoderConfig, AcaiOMRConfig
from acai_hf.model.image_processing_acai import AcaiImageProcessor
from acai_hf.model.modeling_acai import AcaiDecoderForCausalLM, AcaiEncoderModel, AcaiOMRForConditionalGeneration
from acai_hf.model.processing_acai import AcaiOMRProcessor
from acai_hf.model.tokenization_acai import AcaiLMXTokenizer

AutoConfig.register(AcaiOMRConfig.model_type, AcaiOMRConfig, exist_ok=True)
AutoConfig.register(AcaiEncoderConfig.model_type, AcaiEncoderConfig, exist_ok=True)
AutoConfig.register(AcaiDecoderConfig.model_type, AcaiDecoderConfig, exist_ok=True)
AutoModel.register(AcaiOMRConfig, AcaiOMRForConditionalGeneration, exist_ok=True)
AutoModelForImageTextToText.register(AcaiOMRConfig, AcaiOMRForConditionalGeneration, exist_ok=True)
AutoModel.register(AcaiEncoderConfig, AcaiEncoderModel, exist_ok=True)
AutoModelForCausalLM.register(AcaiDecoderConfig, AcaiDecoderForCausalLM, exist_ok=True)
AutoImageProcessor.register(AcaiOMRConfig, image_processor_classes={"pil": AcaiImageProcessor}, exist_ok=True)
AutoProcessor.register(AcaiOMRConfig, AcaiOMRProcessor, exist_ok=True)
# also records the class by name: a saved tokenizer_config.json names "AcaiLMXTokenizer"
AutoTokenizer.register(AcaiOMRConfig, tokenizer_class=AcaiLMXTokenizer, exist_ok=True)
# transformers reroutes "image-to-text" to "image-text-to-text", whose pipeline refuses an image without
# a prompt; ours supplies the empty one (pipeline_acai.py). Named by path: imported when a pipeline is built.
PIPELINE_REGISTRY.supported_tasks["image-text-to-text"]["impl"] = \
    "acai_hf.model.pipeline_acai.AcaiImageTextToTextPipeline"
