"""The measure-band attention prior (training/guided_attention.py) and the decoder's recorded attention."""
import numpy as np
import pytest
import torch
from PIL import Image

import acai_hf  # noqa: F401  (registers the Auto classes)
from acai_hf.modeling_acai import AcaiOMRForConditionalGeneration, patch_mask
from tiny_omr_model import tiny_processor
from training.guided_attention import guided_attention_loss, key_positions, measure_bands
from training.scheduled_sampling import ScheduledSampling

pytestmark = pytest.mark.usefixtures("one_torch_thread")
MEASURE = 4


def test_measure_bands_follow_the_measure_tokens():
    labels = torch.tensor([[MEASURE, 10, 11, MEASURE, 12, 2], [MEASURE, 10, 11, 12, 2, -100]])
    low, high, valid = measure_bands(labels, MEASURE, margin=0.5)
    # first row: two measures, tokens 0-2 in the first half (+- a quarter), 3-5 in the second
    assert torch.allclose(low[0], torch.tensor([-0.25, -0.25, -0.25, 0.25, 0.25, 0.25]))
    assert torch.allclose(high[0], torch.tensor([0.75, 0.75, 0.75, 1.25, 1.25, 1.25]))
    assert valid[0].all() and not valid[1].any()  # a one-measure system is not judged


def test_key_positions_are_relative_to_each_images_own_width():
    mask = torch.zeros(2, 2, 4, dtype=torch.long)
    mask[0] = 1
    mask[1, :, :2] = 1  # the second image is half as wide, padded on the right
    x = key_positions(mask.flatten(1), (2, 4))
    assert torch.allclose(x[0, :4], torch.tensor([0.125, 0.375, 0.625, 0.875]))
    assert torch.allclose(x[1, :2], torch.tensor([0.25, 0.75])) and torch.equal(x[0, :4], x[0, 4:])


def batch(processor, widths=(128, 64)):
    rng = np.random.default_rng(0)
    images = [Image.fromarray(rng.integers(0, 255, (32, w), dtype=np.uint8)) for w in widths]
    lmx = ["measure C4 quarter measure D4 quarter measure E4 half", "measure F4 whole measure G4 whole"]
    return processor(images=images, text_target=lmx)


def test_recorded_attention_gives_the_same_logits_as_the_fused_kernel():
    processor = tiny_processor()
    torch.manual_seed(0)
    model = AcaiOMRForConditionalGeneration.from_preset("tiny").eval()
    inputs = batch(processor)
    with torch.no_grad():
        fused = model(**inputs).logits
        for layer in model.decoder.layers:
            layer.record_cross_attention = True
        recorded = model(**inputs).logits
    assert torch.allclose(fused, recorded, atol=1e-5)
    probs = model.decoder.layers[0].cross_attention_probs
    assert probs.shape[-1] == inputs["pixel_values"].shape[-1] // 16 * 2
    assert torch.allclose(probs.sum(-1), torch.ones(()))
    keys = patch_mask(inputs["pixel_mask"], 16).flatten(1)
    assert not keys[1].all() and probs[1][..., keys[1] == 0].abs().max() == 0  # the narrow image's padding


def test_the_prior_can_be_learned():
    """A few steps on the guided loss alone move the steered heads' attention into the bands."""
    processor = tiny_processor()
    torch.manual_seed(0)
    model = AcaiOMRForConditionalGeneration.from_preset("tiny").train()
    trainer = ScheduledSampling(model, guided_weight=1.0, guided_heads=1, measure_id=MEASURE)
    inputs = batch(processor)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    shares = []
    for _ in range(30):  # the guided term alone, so that its effect is not mixed with the CE's
        loss = _guided_loss(trainer, inputs)
        shares.append(float(loss))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    trainer(inputs["pixel_values"], inputs["pixel_mask"], inputs["labels"])  # the trainer's own figure agrees
    assert trainer.parts["guided"] == pytest.approx(float(_guided_loss(trainer, inputs)), rel=1e-4)
    assert shares[-1] < 0.5 * shares[0], shares
    assert all(not layer.record_cross_attention for layer in model.decoder.layers)  # switched off after a step


def _guided_loss(trainer, inputs):
    model = trainer.model
    states, mask = model.encode(inputs["pixel_values"], inputs["pixel_mask"])
    trainer.record_cross_attention(True)
    trainer.two_pass(states, mask, inputs["labels"], None, None, 1.0, False)
    probs = [layer.cross_attention_probs for layer in model.decoder.layers]
    trainer.record_cross_attention(False)
    key_x = key_positions(mask, trainer.grid(inputs["pixel_values"]))
    loss, judged = guided_attention_loss(probs, inputs["labels"], key_x, MEASURE, heads=1)
    assert judged > 0
    return loss
