"""The measure-band attention prior (training/geometry/guided_attention.py) and the decoder's recorded attention."""
import random

import numpy as np
import pytest
import torch
from PIL import Image
from tiny_omr_model import tiny_processor

import acai_hf  # noqa: F401  (registers the Auto classes)
from acai_hf.model.modeling_acai import AcaiOMRForConditionalGeneration, patch_mask
from training.batches.collate import SystemCollator
from training.data import render
from training.data.sources.procedural import generate_piece
from training.geometry.guided_attention import (guided_attention_loss, key_positions, measure_bands, note_bands,
                                                stretch_fractions)
from training.geometry.measure_spans import measure_spans
from training.supervised.scheduled_sampling import ScheduledSampling

pytestmark = pytest.mark.usefixtures("one_torch_thread")
MEASURE = 4
BACKUP = 5


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
        shares.append(float(loss.detach()))
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


def test_barlines_split_engraved_systems_into_their_measures():
    musicxml = generate_piece(5, difficulty=0.4, n_measures=8)
    systems = render.render_piece(musicxml, render.Engraving(page_width=900), random.Random(0))
    found = 0
    for system in systems:
        n = len(system.measures)
        spans = measure_spans(system.image, n)
        assert measure_spans(system.image, n + 1) is None  # a count the barlines do not give is refused
        if spans is None:
            continue
        found += 1
        assert spans.shape == (n, 2) and np.all(spans[:, 1] > spans[:, 0])
        assert np.allclose(spans[1:, 0], spans[:-1, 1]) and 0 <= spans[0, 0] < 0.15 and 0.85 < spans[-1, 1] <= 1
        if n > 1:  # engraved measures differ in width, but none is a sliver
            assert np.all(np.diff(spans, axis=1) > 0.3 / n)
    assert found >= len(systems) - 1, (found, len(systems))
    blank = Image.new("L", (200, 60), 255)
    assert measure_spans(blank, 1) is None


def test_the_collator_marks_systems_whose_barlines_are_not_trusted():
    musicxml = generate_piece(5, difficulty=0.4, n_measures=4)
    system = render.render_piece(musicxml, render.Engraving(page_width=900), random.Random(0))[0]
    rows = [{"image": system.image, "lmx": " ".join(["measure C4 quarter"] * len(system.measures))},
            {"image": Image.new("L", (200, 60), 255), "lmx": "measure C4 quarter measure D4 quarter"}]
    table = SystemCollator.spans(rows)
    assert table.shape == (2, max(2, len(system.measures)), 2)
    assert torch.isfinite(table[0, : len(system.measures)]).all() and torch.isnan(table[1]).all()


def test_note_bands_place_each_voice_across_its_measure():
    labels = torch.tensor([[MEASURE, 10, 11, BACKUP, 12, MEASURE, 13, 2, -100]])
    # stretches: [measure 10 11] [backup 12] [measure 13 eos]
    expected = torch.tensor([[0.5 / 3, 1.5 / 3, 2.5 / 3, 0.25, 0.75, 0.5 / 3, 1.5 / 3, 2.5 / 3]])
    fractions = stretch_fractions(labels, (labels == MEASURE) | (labels == BACKUP))
    assert torch.allclose(fractions[:, :8], expected)  # padding does not count towards a stretch's length
    spans = torch.tensor([[[0.0, 0.6], [0.6, 1.0]]])
    low, high, known = note_bands(labels, MEASURE, BACKUP, spans, columns=torch.tensor([10]))
    centre = (low + high) / 2
    assert torch.allclose(centre[0, :3], 0.6 * expected[0, :3]) and torch.allclose(centre[0, 6], torch.tensor(0.8))
    assert torch.allclose(high - low, torch.tensor([[0.44] * 5 + [0.36] * 4]))  # 2 x (a fifth + a patch)
    assert known[0, :8].all() and not known[0, 8]


def test_found_spans_sharpen_the_prior_and_reach_one_measure_systems():
    labels = torch.tensor([[MEASURE, 10, 11, 2], [MEASURE, 10, 11, 2]])
    key_x = torch.tensor([[0.05, 0.25, 0.45, 0.65, 0.85, 0.95]]).expand(2, 6)
    probs = torch.zeros(1, 2, 1, 4, 6)
    probs[..., 0] = 1.0  # every token looks at the far left
    probs = [probs[0]]
    spans = torch.tensor([[[0.0, 1.0]], [[float("nan")] * 2]])
    columns = torch.tensor([6, 6])
    loss, judged = guided_attention_loss(probs, labels, key_x, MEASURE, heads=1, spans=spans, backup_id=BACKUP,
                                         columns=columns)
    assert judged == 4  # the one-measure system with found barlines; the other falls back and is skipped
    # centres 1/8, 3/8, 5/8, 7/8, each +- (0.2 + 1/6): only the first two bands hold x = 0.05
    assert loss == pytest.approx(0.5)
    _, judged_plain = guided_attention_loss(probs, labels, key_x, MEASURE, heads=1)
    assert judged_plain == 0
