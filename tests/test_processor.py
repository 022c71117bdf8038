"""AcaiImageProcessor and AcaiOMRProcessor: resizing, orientation, padding, labels, round trips."""
import io

import numpy as np
import pytest
from PIL import Image

from acai_hf.model.image_processing_acai import AcaiImageProcessor, fit_size
from acai_hf.model.processing_acai import AcaiOMRProcessor
from tiny_omr_model import tiny_processor


@pytest.mark.parametrize("height,width", [(40, 150), (300, 2400), (10, 10), (1000, 120), (57, 913)])
def test_fit_size_keeps_aspect_and_budget(height, width):
    h, w = fit_size(height, width, target_height=192, max_patches=768, patch_size=16)
    assert h <= 192
    assert -(-h // 16) * -(-w // 16) <= 768
    # the aspect ratio survives up to rounding to whole pixels
    assert abs(h / w - height / width) <= (1 / w + h / w**2) * 1.01


@pytest.mark.parametrize("width_scale", [0.5, 2 / 3, 1.5])
def test_width_scale_narrows_within_the_budget(width_scale):
    h, w = fit_size(236, 490, target_height=240, max_patches=960, patch_size=16, width_scale=width_scale)
    assert h == 240 and abs(w - 490 * 240 / 236 * width_scale) <= 1
    h, w = fit_size(200, 4000, target_height=240, max_patches=960, patch_size=16, width_scale=width_scale)
    assert -(-h // 16) * -(-w // 16) <= 960 and abs(w / h - 20 * width_scale) < 0.2
    with pytest.raises(ValueError, match="width_scale"):
        AcaiImageProcessor(width_scale=0.0)


def test_image_is_upright_grayscale_ink_with_mask():
    processor = AcaiImageProcessor(target_height=32, max_patches=64)
    image = Image.new("RGB", (120, 30), "white")
    image.paste((0, 0, 0), (10, 5, 20, 25))
    out = processor(image)
    assert out["pixel_values"].shape[1] == 1
    assert out["pixel_values"].shape[2] % 16 == 0 and out["pixel_values"].shape[3] % 16 == 0
    assert float(out["pixel_values"].max()) == pytest.approx(1.0, abs=0.05)  # ink is 1
    assert float(out["pixel_values"][0, 0, 0, 0]) == 0.0  # paper is 0
    assert bool(out["pixel_mask"].all())


def test_exif_orientation_is_applied():
    image = Image.new("L", (40, 120), 255)  # stored portrait...
    exif = Image.Exif()
    exif[0x0112] = 6  # ...shown rotated by 90 degrees: landscape
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", exif=exif)
    out = AcaiImageProcessor(target_height=32, max_patches=64)(Image.open(io.BytesIO(buffer.getvalue())))
    assert out["pixel_values"].shape[3] > out["pixel_values"].shape[2]


def test_transparent_background_is_paper():
    image = Image.new("RGBA", (64, 32), (0, 0, 0, 0))  # transparent black, as SVG renderers leave it
    out = AcaiImageProcessor(target_height=32, max_patches=64)(image)
    assert float(out["pixel_values"].abs().max()) == 0.0


def test_batch_is_padded_and_masked():
    processor = AcaiImageProcessor(target_height=32, max_patches=64)
    narrow, wide = np.zeros((32, 40), np.uint8), np.zeros((32, 200), np.uint8)
    out = processor([narrow, wide])
    assert out["pixel_values"].shape == (2, 1, 32, 208)
    assert out["pixel_mask"][0].sum() == 32 * 48  # 40 px padded to the patch multiple 48
    assert bool(out["pixel_mask"][1].all())
    assert float(out["pixel_values"][0, 0, :, 48:].abs().max()) == 0.0


@pytest.fixture(scope="module")
def processor():
    return tiny_processor()


def test_labels_and_prompts(processor):
    lmx = ["measure key:fifths:0 clef:G2", "measure"]
    out = processor(images=[np.zeros((32, 64), np.uint8)] * 2, text_target=lmx)
    tokenizer = processor.tokenizer
    assert out["labels"][0].tolist() == tokenizer(lmx[0], add_special_tokens=False)["input_ids"] + [2]
    assert out["labels"][1].tolist() == [tokenizer.convert_tokens_to_ids("measure"), 2, -100, -100]
    prompt = processor(images=np.zeros((32, 64), np.uint8), text="")
    assert prompt["decoder_input_ids"].tolist() == [[tokenizer.bos_token_id]]


def test_processor_round_trip(processor, tmp_path):
    from transformers import AutoProcessor

    import acai_hf  # noqa: F401  (registration)
    from acai_hf.model.configuration_acai import AcaiOMRConfig

    processor.save_pretrained(tmp_path)
    AcaiOMRConfig.from_preset("tiny").save_pretrained(tmp_path)
    loaded = AutoProcessor.from_pretrained(tmp_path)
    assert type(loaded) is AcaiOMRProcessor
    assert loaded.image_processor.target_height == 32 and loaded.image_processor.max_patches == 64
    assert loaded.image_processor.width_scale == processor.image_processor.width_scale
    image = np.random.default_rng(0).integers(0, 255, (50, 90), dtype=np.uint8)
    assert np.array_equal(loaded(images=image)["pixel_values"], processor(images=image)["pixel_values"])
