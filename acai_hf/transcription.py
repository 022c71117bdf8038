"""One call from system images to music: `acai_hf.transcribe(images, model=...)`.

Images (PIL, arrays, paths; one per grand-staff system, in reading order) are batched by width so
that little padding is computed, decoded with `generate()` (greedy or beam, optionally constrained
by the LMX grammar), then joined into one MusicXML score with MIDI and a measure-validity report.
"""
from dataclasses import dataclass, field
from pathlib import Path

import torch

from .generation_acai import TOKENS_PER_COLUMN

DEFAULT_CHECKPOINT = Path(__file__).resolve().parent.parent / "checkpoints" / "acai-omr-small"


@dataclass
class Transcription:
    systems: list[str]  # LMX per system, in input order
    confidences: list[float]  # mean token log-probability per system (0 is certain)
    musicxml: str  # the joined score
    midi: bytes
    validity: list = field(default_factory=list)  # acai_hf.music.MeasureReport per measure
    errors: list = field(default_factory=list)  # delinearization errors per system
    left_out: dict = field(default_factory=dict)  # system index -> why it is not in the score (score_assembly)


def load(model=None, processor=None, int8=False):
    """(model, processor) from a folder, a model id or instances; the processor defaults to the
    model's folder, else to one matching the model's patch budget. Instances are used as they are
    (nothing is reloaded), so an app loads once and transcribes many times. `int8`: the decoder's
    linear layers in int8 for faster CPU decoding (acai_hf.quantization_acai; the model is changed
    in place)."""
    from transformers import AutoModelForImageTextToText, AutoProcessor

    if model is None:
        if not DEFAULT_CHECKPOINT.exists():
            raise FileNotFoundError(f"no model given and no default checkpoint at {DEFAULT_CHECKPOINT}")
        model = str(DEFAULT_CHECKPOINT)
    if isinstance(model, (str, Path)):
        processor = processor or AutoProcessor.from_pretrained(str(model))
        model = AutoModelForImageTextToText.from_pretrained(str(model))
    if processor is None:
        processor = default_processor(model.config)
    if int8:
        from .quantization_acai import quantize_decoder

        quantize_decoder(model)
    return model.eval(), processor


def default_processor(config):
    from .image_processing_acai import AcaiImageProcessor
    from .processing_acai import AcaiOMRProcessor
    from .tokenization_acai import AcaiLMXTokenizer

    image_processor = AcaiImageProcessor(max_patches=config.encoder.max_patches, patch_size=config.encoder.patch_size)
    return AcaiOMRProcessor(image_processor, AcaiLMXTokenizer())


@torch.inference_mode()
def generate_lmx(model, processor, images, num_beams=1, constrained=False, batch_size=4, progress=None,
                 tokens_per_column=TOKENS_PER_COLUMN, **generate_kwargs):
    """-> (LMX strings, confidences), in the order of `images`. `progress(done_systems, total_systems)`,
    if given, is called after each batch. Each system's output is capped by its width
    (`tokens_per_column`, see acai_hf.generation_acai.length_caps; None: only the model's max length)."""
    from .generation_acai import LengthCapLogitsProcessor, LMXGrammarLogitsProcessor, length_caps, mean_token_logprob

    tokenizer = processor.tokenizer
    inks = [processor.image_processor.resize_one(image) for image in images]
    order = sorted(range(len(inks)), key=lambda i: inks[i].shape[1])  # similar widths share a batch
    processors = [LMXGrammarLogitsProcessor(tokenizer)] if constrained else []
    texts, confidences = [None] * len(inks), [None] * len(inks)
    for start in range(0, len(order), batch_size):
        batch = order[start: start + batch_size]
        pixel_values, pixel_mask = (t.to(model.device) for t in _pad([inks[i] for i in batch]))
        caps = []
        if tokens_per_column is not None:
            patch = processor.image_processor.patch_size
            caps = [LengthCapLogitsProcessor(length_caps(pixel_mask, patch, tokens_per_column), tokenizer.eos_token_id)]
        # confidence needs the raw logits (greedy, sampling) or the beam scores (beam search), not both
        out = model.generate(
            pixel_values=pixel_values, pixel_mask=pixel_mask, num_beams=num_beams, logits_processor=processors + caps,
            output_scores=num_beams > 1, output_logits=num_beams == 1, return_dict_in_generate=True,
            **generate_kwargs,
        )
        scores = mean_token_logprob(model, out, tokenizer.eos_token_id, tokenizer.pad_token_id)
        for row, index in enumerate(batch):
            texts[index] = tokenizer.decode_lmx(out.sequences[row])
            confidences[index] = float(scores[row])
        if progress is not None:
            progress(start + len(batch), len(order))
    return texts, confidences


def _pad(inks):
    height, width = max(i.shape[0] for i in inks), max(i.shape[1] for i in inks)
    pixel_values = torch.zeros(len(inks), 1, height, width)
    pixel_mask = torch.zeros(len(inks), height, width, dtype=torch.long)
    for row, ink in enumerate(inks):
        pixel_values[row, 0, : ink.shape[0], : ink.shape[1]] = torch.from_numpy(ink)
        pixel_mask[row, : ink.shape[0], : ink.shape[1]] = 1
    return pixel_values, pixel_mask


def transcribe(images, model=None, processor=None, num_beams=1, constrained=True, batch_size=4, progress=None,
               int8=False, **generate_kwargs) -> Transcription:
    """System images -> per-system LMX and confidence, the joined MusicXML, MIDI, validity report.
    `model`/`processor`: a folder, a model id or loaded instances (see `load`; `int8` as there).
    `progress(done_systems, total_systems)`, if given, is called after each batch of systems is transcribed.
    A system whose music cannot be joined or played is left out of the score (`left_out` says why)."""
    from .score_assembly import assemble_score

    if not isinstance(images, (list, tuple)):
        images = [images]
    model, processor = load(model, processor, int8=int8)
    systems, confidences = generate_lmx(
        model, processor, images, num_beams=num_beams, constrained=constrained, batch_size=batch_size,
        progress=progress, **generate_kwargs,
    )
    score = assemble_score(systems)
    return Transcription(
        systems=systems,
        confidences=confidences,
        musicxml=score.musicxml,
        midi=score.midi,
        validity=score.validity,
        errors=score.errors,
        left_out=score.left_out,
    )


__all__ = ["transcribe", "Transcription", "generate_lmx", "load"]
