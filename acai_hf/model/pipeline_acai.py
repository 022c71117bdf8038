"""`pipeline("image-to-text", model=folder)(image)` for Acai OMR: a transcription needs no prompt.

transformers 5 reroutes the "image-to-text" task to "image-text-to-text", whose pipeline refuses an
image without text before any model code runs. This subclass supplies the empty prompt when the
processor says it transcribes without one (`AcaiOMRProcessor.transcribes_without_prompt`); with any
other processor it behaves exactly as transformers' pipeline. The package's `__init__` installs it as
the task's implementation.
"""
from transformers.image_utils import valid_images
from transformers.pipelines.image_text_to_text import ImageTextToTextPipeline


class AcaiImageTextToTextPipeline(ImageTextToTextPipeline):
    """transformers' image-text-to-text pipeline; images alone are transcribed when the processor allows it."""

    def __call__(self, images=None, text=None, **kwargs):
        if (text is None and images is not None and getattr(self.processor, "transcribes_without_prompt", False)
                and valid_images(images)):
            text = [""] * len(images) if isinstance(images, (list, tuple)) else ""
        return super().__call__(images, text=text, **kwargs)


__all__ = ["AcaiImageTextToTextPipeline"]
