"""Int8 decoding (acai_hf.model.quantization_acai): the layers it swaps, how close it stays to fp32, and the
entry points that offer it."""
import json
from pathlib import Path

import pytest
import torch
from PIL import Image
from torch import nn

from acai_hf.model.loading import DEFAULT_CHECKPOINT, load
from acai_hf.model.modeling_acai import AcaiOMRForConditionalGeneration
from acai_hf.model.quantization_acai import Int8Linear, is_quantized, quantize_decoder
from acai_hf.transcription import transcribe
from tests.tiny_omr_model import tiny_model_dir  # noqa: F401  (a fixture)

CHORALE = Path(__file__).resolve().parent.parent / "examples" / "chorale.png"
SHIPPED = (DEFAULT_CHECKPOINT / "config.json").is_file()


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("shape", [(4, 256), (4, 1, 256), (2, 37, 256)])
def test_int8_linear_stays_within_its_quantization_step(shape, bias):
    torch.manual_seed(0)
    linear = nn.Linear(256, 96, bias=bias)
    x = torch.randn(*shape)
    exact, approx = linear(x), Int8Linear(linear)(x)
    assert approx.shape == exact.shape
    # per-channel int8 weights and 7-bit activations: errors of a few percent of the output's scale
    assert (approx - exact).abs().max() < 0.03 * exact.abs().max()
    assert not torch.equal(approx, exact)  # it really is another kernel


def test_quantize_decoder_swaps_every_decoder_linear_and_no_encoder_one():
    model = AcaiOMRForConditionalGeneration.from_preset("tiny").eval()
    linears = sum(isinstance(m, nn.Linear) for m in model.decoder.modules())
    encoder_before = [type(m) for m in model.encoder.modules()]
    assert not is_quantized(model)
    assert quantize_decoder(model) is model and is_quantized(model)
    assert sum(isinstance(m, Int8Linear) for m in model.decoder.modules()) == linears
    assert not any(isinstance(m, nn.Linear) for m in model.decoder.modules())
    assert [type(m) for m in model.encoder.modules()] == encoder_before
    quantize_decoder(model)  # a second call changes nothing
    assert sum(isinstance(m, Int8Linear) for m in model.decoder.modules()) == linears


def test_int8_model_generates_greedy_and_beam(tiny_model_dir):
    model, processor = load(str(tiny_model_dir), int8=True)
    assert is_quantized(model)
    image = Image.new("L", (120, 30), 255)
    inputs = processor(images=[image, image], return_tensors="pt")
    with torch.inference_mode():
        greedy = model.generate(**inputs, max_new_tokens=12)
        beam_one = model.generate(**inputs, max_new_tokens=12, num_beams=1, do_sample=False)
        beams = model.generate(**inputs, max_new_tokens=12, num_beams=3)
    assert torch.equal(greedy, beam_one) and beams.shape[0] == 2
    assert torch.equal(greedy[0], greedy[1])  # the same image in one batch reads the same


@pytest.mark.skipif(not SHIPPED, reason="the trained model is not in checkpoints/acai-omr-small yet")
def test_int8_shipped_model_reads_the_chorale_like_fp32():
    """Teacher-forced on the gold tokens of the chorale's first system, int8 and fp32 pick the same next
    token almost everywhere and their cross-entropies differ by a few hundredths."""
    truth = json.loads(CHORALE.with_suffix(".json").read_text())["systems"][0]
    box = truth["box"]
    crop = Image.open(CHORALE).convert("L").crop((box["left"], box["top"], box["right"], box["bottom"]))
    fp32, processor = load()
    int8, _ = load(int8=True)
    inputs = processor(images=[crop], text_target=[truth["lmx"]], return_tensors="pt")
    labels = inputs.pop("labels")
    with torch.inference_mode():
        exact = fp32(**inputs, labels=labels)
        approx = int8(**inputs, labels=labels)
    keep = labels[0] != -100
    agree = (exact.logits[0, keep].argmax(-1) == approx.logits[0, keep].argmax(-1)).float().mean()
    assert agree > 0.95, float(agree)
    assert abs(float(exact.loss) - float(approx.loss)) < 0.05, (float(exact.loss), float(approx.loss))


def test_transcribe_and_app_pass_int8_on(tiny_model_dir):
    from acai_hf.app.model import ModelHolder

    image = Image.new("L", (120, 30), 255)
    result = transcribe([image], model=str(tiny_model_dir), int8=True, max_new_tokens=8)
    assert len(result.systems) == 1
    holder = ModelHolder(tiny_model_dir, int8=True)
    assert is_quantized(holder.get()[0])
    assert not is_quantized(ModelHolder(tiny_model_dir).get()[0])
