"""AcaiOMRProcessor: the image processor and the LMX tokenizer behind one object.

    processor(images)                       -> pixel_values, pixel_mask
    processor(images, text_target=lmx)      -> ... + labels ([tokens, <eos>], padded with -100): training
    processor(images, text=prefix)          -> ... + decoder_input_ids ([<bos>, tokens]): a prompt that
                                               generation continues; text="" starts a transcription, which
                                               is what the `image-to-text` pipeline passes.

A transcription needs no prompt (`transcribes_without_prompt`): the pipeline then passes text="" itself.
"""
import torch
from transformers.feature_extraction_utils import BatchFeature
from transformers.processing_utils import ProcessorMixin


class AcaiOMRProcessor(ProcessorMixin):
    # read by pipeline_acai.AcaiImageTextToTextPipeline: an image alone starts a transcription
    transcribes_without_prompt = True

    def __init__(self, image_processor=None, tokenizer=None, **kwargs):
        super().__init__(image_processor, tokenizer, **kwargs)

    def _token_ids(self, texts):
        texts = [texts] if isinstance(texts, str) else list(texts)
        return [self.tokenizer(t, add_special_tokens=False)["input_ids"] if t.strip() else [] for t in texts]

    def __call__(self, images=None, text=None, text_target=None, return_tensors="pt", **kwargs) -> BatchFeature:
        if images is None and text is None and text_target is None:
            raise ValueError("pass images, text (a decoder prompt) or text_target (labels)")
        data = {}
        if images is not None:
            data.update(self.image_processor(images, return_tensors="pt"))
        if text is not None:
            prompts = [[self.tokenizer.bos_token_id] + ids for ids in self._token_ids(text)]
            width = max(len(p) for p in prompts)
            # left-padded, so that every prompt ends where generation starts
            ids = torch.full((len(prompts), width), self.tokenizer.pad_token_id, dtype=torch.long)
            mask = torch.zeros((len(prompts), width), dtype=torch.long)
            for i, prompt in enumerate(prompts):
                ids[i, width - len(prompt):] = torch.tensor(prompt)
                mask[i, width - len(prompt):] = 1
            data["decoder_input_ids"] = ids
            if not bool(mask.all()):
                data["decoder_attention_mask"] = mask
        if text_target is not None:
            targets = [ids + [self.tokenizer.eos_token_id] for ids in self._token_ids(text_target)]
            labels = torch.full((len(targets), max(len(t) for t in targets)), -100, dtype=torch.long)
            for i, target in enumerate(targets):
                labels[i, : len(target)] = torch.tensor(target)
            data["labels"] = labels
        return BatchFeature(data=data, tensor_type=return_tensors)

    def batch_decode(self, sequences, skip_special_tokens=True, **kwargs):
        return self.tokenizer.batch_decode(sequences, skip_special_tokens=skip_special_tokens, **kwargs)

    def decode(self, sequence, skip_special_tokens=True, **kwargs):
        return self.tokenizer.decode(sequence, skip_special_tokens=skip_special_tokens, **kwargs)

    def post_process_image_text_to_text(self, generated_outputs, skip_special_tokens=True, **kwargs):
        return self.batch_decode(generated_outputs, skip_special_tokens=skip_special_tokens, **kwargs)

    @property
    def model_input_names(self):
        return ["pixel_values", "pixel_mask", "decoder_input_ids", "labels"]


__all__ = ["AcaiOMRProcessor"]
