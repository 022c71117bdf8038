"""`pipeline("image-to-text", model=folder)(image)` for Acai OMR: a transcription needs no prompt.

transformers 5 reroutes the "image-to-text" task to "image-text-to-text", whose pipeline refuses an
image without text before any model code runs. This subclass supplies the empty prompt when the
processor says it transcribes without one (`AcaiOMRProcessor.transcribes_without_prompt`); with any
other processor it behaves exactly as transformers' pipeline. `registration.py` installs it as the
task's implementation once `transformers.pipelines` is imported.
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

# Auto registrations that waited for this module to finish importing (see registration.py).
from .registration import finish_registration  # noqa: E402

finish_registration(__name__)
