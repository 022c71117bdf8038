"""Training on the engraver's geometry: boxes on the patch grid, the dense head's targets, the box
attention loss, input corruption, and a trainer run with all of them on real engine rows."""
import io

import numpy as np
import pytest
import torch
from datasets import Dataset
from lmx.linearization.vocabulary import PITCH_TOKENS
from PIL import Image
from transformers import AutoProcessor

import acai_hf  # noqa: F401  (registers the Auto classes)
from acai_hf.model.configuration_acai import AcaiOMRConfig
from acai_hf.model.modeling_acai import AcaiOMRForConditionalGeneration
from acai_hf.model.loading import default_processor
from training.batches.collate import SystemCollator
from training.data import pipeline, render
from training.data.schema import FEATURES
from training.data.sources.procedural import generate_piece
from training.geometry.box_attention import box_attention_loss
from training.geometry.targets import dense_targets, keys_in_boxes, patch_boxes
from training.run.logs import read_csv
from training.supervised import train as train_cli
from training.supervised.prepare import set_dense_head, loss_token_weights
from training.supervised.scheduled_sampling import ScheduledSampling

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def engine_rows():
    rows = []
    for seed in (2, 6):
        made, _ = pipeline.piece_systems(generate_piece(seed, 0.5), source="procedural", piece_id=str(seed),
                                         seed=seed, engraving=render.Engraving(page_width=1000))
        rows += made
    return rows


def decoded(row: dict) -> dict:
    return {**row, "image": Image.open(io.BytesIO(row["image"]["bytes"]))}


def test_boxes_land_on_the_patches_they_cover():
    boxes = patch_boxes([[16.0, 0.0, 40.0, 10.0], None], scale=(0.5, 0.5), patch=4, length=3)
    assert boxes[0].tolist() == [2.0, 0.0, 5.0, 1.25] and np.isnan(boxes[1:]).all()
    inside, known = keys_in_boxes(torch.from_numpy(boxes)[None], grid=(3, 6))
    assert known.tolist() == [[True, False, False]]
    patches = inside[0, 0].view(3, 6)
    assert patches[0, 2:5].all() and patches[1, 2:5].all() and not patches[2].any() and not patches[:, :2].any()
    targets = dense_targets([7, 9], [[16.0, 0.0, 40.0, 10.0], [0, 0, 1, 1]], [None, None], (0.5, 0.5), 4, (3, 6), 12)
    assert targets.shape == (18, 12)
    assert targets[:, 7].reshape(3, 6)[0, 2:5].all() and not targets[:, 7].reshape(3, 6)[2].any()
    assert targets[0, 9] == 1 and targets[:, 9].sum() == 1  # a corner box marks its one patch


def test_box_glyphs_join_a_duration_to_its_stem():
    notehead, stem = [16.0, 8.0, 24.0, 16.0], [22.0, -20.0, 24.0, 12.0]
    alone = patch_boxes([notehead, notehead], (1.0, 1.0), 4, 2)
    joined = patch_boxes([notehead, notehead], (1.0, 1.0), 4, 2, glyph_boxes=[None, stem])
    assert joined[0].tolist() == alone[0].tolist() == [4.0, 2.0, 6.0, 4.0]
    assert joined[1].tolist() == [4.0, -5.0, 6.0, 4.0]


def test_box_attention_loss_rewards_mass_inside():
    inside = torch.zeros(1, 1, 8, dtype=torch.bool)
    inside[0, 0, :2] = True
    known = torch.ones(1, 1, dtype=torch.bool)
    uniform = torch.full((1, 2, 1, 8), 1 / 8)
    focused = torch.zeros(1, 2, 1, 8)
    focused[..., 0] = 1.0
    loss, mass, judged = box_attention_loss([uniform], inside, known, heads=2)
    assert judged == 1 and mass == pytest.approx(0.25) and float(loss) == pytest.approx(np.log(4), rel=1e-4)
    loss, mass, _ = box_attention_loss([focused], inside, known, heads=2)
    assert mass == pytest.approx(1.0) and float(loss) < 1e-4


@pytest.mark.parametrize("width_scale", [1.0, 2 / 3])
def test_collator_gives_each_label_its_box_and_each_patch_its_symbols(engine_rows, width_scale):
    processor = default_processor(AcaiOMRConfig.from_preset("small"))
    processor.image_processor.width_scale = width_scale  # a taller grid for the same patches: boxes follow
    batch = SystemCollator(processor, with_geometry=True)([decoded(row) for row in engine_rows[:2]])
    labels, boxes, dense = batch["labels"], batch["token_patch_boxes"], batch["dense_targets"]
    assert boxes.shape == (*labels.shape, 4) and dense.shape[:2] == (2, batch["pixel_mask"].shape[1] * batch["pixel_mask"].shape[2] // 256)
    pitch_ids = set(processor.tokenizer.convert_tokens_to_ids(list(PITCH_TOKENS)))
    grid_columns = batch["pixel_values"].shape[-1] // 16
    for row, label_row, box_row, dense_row in zip(engine_rows, labels, boxes, dense):
        tokens = row["lmx"].split()
        assert torch.isfinite(box_row[len(tokens)]).sum() == 0  # <eos> has no box
        for position, token_id in enumerate(label_row[: len(tokens)].tolist()):
            if token_id in pitch_ids and torch.isfinite(box_row[position, 0]):
                x0, y0, x1, y1 = box_row[position].tolist()
                patch = int((y0 + y1) / 2) * grid_columns + int((x0 + x1) / 2)
                assert dense_row[patch, token_id] == 1  # the notehead's patch says its pitch


def test_corrupted_inputs_keep_the_start_token_and_the_labels(gold_systems):
    processor = default_processor(AcaiOMRConfig.from_preset("tiny"))
    model = AcaiOMRForConditionalGeneration.from_preset("tiny")
    wrapper = ScheduledSampling(model, corrupt_prob=0.5).train()
    input_ids = torch.randint(4, 228, (4, 200))
    input_ids[:, 0] = 1
    corrupted = wrapper.corrupt(input_ids)
    assert (corrupted[:, 0] == 1).all() and (corrupted >= 4)[:, 1:].all()
    assert 0.3 < (corrupted != input_ids).float().mean() < 0.6


def test_pitch_only_corruption_leaves_the_rhythm_alone():
    processor = default_processor(AcaiOMRConfig.from_preset("tiny"))
    pitch_ids = processor.tokenizer.convert_tokens_to_ids(list(PITCH_TOKENS))
    wrapper = ScheduledSampling(AcaiOMRForConditionalGeneration.from_preset("tiny"), corrupt_prob=0.5,
                                corrupt_ids=pitch_ids).train()
    input_ids = torch.randint(4, 228, (4, 400))
    input_ids[:, 0] = 1
    corrupted = wrapper.corrupt(input_ids)
    is_pitch = torch.isin(input_ids, torch.tensor(pitch_ids))
    changed = corrupted != input_ids
    assert not changed[~is_pitch].any() and torch.isin(corrupted[is_pitch], torch.tensor(pitch_ids)).all()
    assert 0.3 < changed[is_pitch].float().mean() < 0.6


def test_signature_weight_adds_the_signature_tokens_ce_again_and_logs_the_plain_ce(engine_rows):
    processor = default_processor(AcaiOMRConfig.from_preset("tiny"))
    model = AcaiOMRForConditionalGeneration.from_preset("tiny").eval()
    batch = SystemCollator(processor, max_label_length=model.config.decoder.max_position_embeddings)(
        [decoded(row) for row in engine_rows[:2]])
    labels = batch["labels"]
    weights = loss_token_weights(processor.tokenizer, 4.0)
    signature = weights[labels.clamp(min=0)] > 1
    assert (labels[:, :8] != -100).all() and signature[0].sum() >= 3  # key, beats, beat-type on a first system
    plain, weighted = ScheduledSampling(model).eval(), ScheduledSampling(model, token_weights=weights).eval()
    with torch.no_grad():
        loss, _ = plain(batch["pixel_values"], batch["pixel_mask"], labels)
        loss_weighted, _ = weighted(batch["pixel_values"], batch["pixel_mask"], labels)
        logits = model(pixel_values=batch["pixel_values"], pixel_mask=batch["pixel_mask"], labels=labels).logits
    token_ce = torch.nn.functional.cross_entropy(logits.flatten(0, 1), labels.flatten(), ignore_index=-100,
                                                 reduction="none").view(labels.shape)
    expected = loss + 3.0 * token_ce[signature].sum() / (labels != -100).sum()
    assert torch.isclose(loss_weighted, expected, rtol=1e-4)
    assert weighted.parts["ce"] == pytest.approx(plain.parts["ce"], rel=1e-5)
    assert loss_token_weights(processor.tokenizer, 1.0) is None


def test_clef_weight_weighs_the_clef_tokens_only():
    processor = default_processor(AcaiOMRConfig.from_preset("tiny"))
    vocab = processor.tokenizer.get_vocab()
    weights = loss_token_weights(processor.tokenizer, 1.0, clef_weight=5.0)
    assert weights[vocab["clef:G2"]] == 5.0 and weights[vocab["clef:F4"]] == 5.0
    assert weights[vocab["key:fifths:0"]] == 1.0 and weights[vocab["C4"]] == 1.0
    both = loss_token_weights(processor.tokenizer, 3.0, clef_weight=5.0)
    assert both[vocab["beats:3"]] == 3.0 and both[vocab["clef:G2"]] == 5.0
    with pytest.raises(SystemExit, match="--clef-weight"):
        loss_token_weights(processor.tokenizer, 1.0, clef_weight=0.0)


def test_dev_reading_judges_the_clef_changes_at_their_own_positions(engine_rows):
    from acai_hf.metrics.clef_changes import opening_length
    from training.release.dev_evaluation import clef_change_rows, evaluate_reading
    from training.run.launch import make_accelerator

    processor = default_processor(AcaiOMRConfig.from_preset("tiny"))
    model = AcaiOMRForConditionalGeneration.from_preset("tiny").eval()
    row = decoded(engine_rows[0])
    tokens = row["lmx"].split()
    at = opening_length(tokens) + 3
    changing = dict(row, lmx=" ".join(tokens[:at] + ["clef:G2", "staff:2"] + tokens[at:]))
    lmx_only = Dataset.from_list([{"lmx": row["lmx"]}, {"lmx": changing["lmx"]}])
    assert [r["lmx"] for r in clef_change_rows(lmx_only, 8)] == [changing["lmx"]]
    # a model that says clef:G2 everywhere reads every clef change and no key (one position off would read none)
    bump = torch.zeros(model.config.decoder.vocab_size)
    bump[processor.tokenizer.convert_tokens_to_ids("clef:G2")] = 1e4
    model.get_output_embeddings().register_forward_hook(lambda module, inputs, output: output + bump)
    read = evaluate_reading(model, processor, [changing, row], make_accelerator("fp32"), 2,
                            kinds=("clef_change", "key"))
    assert read == {"dev_clef_change_top1": 1.0, "dev_key_top1": 0.0}


def test_dense_loss_weighs_each_tokens_column():
    model = AcaiOMRForConditionalGeneration.from_preset("tiny")
    set_dense_head(model, 0.2)
    states = torch.randn(2, 6, model.config.decoder.hidden_size)
    targets = (torch.rand(2, 6, model.config.decoder.vocab_size) < 0.05).long()
    weights = torch.ones(model.config.decoder.vocab_size)
    weights[10] = 5.0
    with torch.no_grad():
        plain, logits = model.dense_loss(states, None, targets)
        weighted, _ = model.dense_loss(states, None, targets, weights)
    column = torch.nn.functional.binary_cross_entropy_with_logits(logits[..., 10], targets[..., 10].float(),
                                                                  reduction="none")
    assert torch.isclose(weighted, plain + 4.0 * column.mean(), rtol=1e-5)


def test_trainer_learns_from_geometry_and_saves_a_plain_model(engine_rows, tmp_path):
    folder = tmp_path / "data"
    for split, rows in (("train", engine_rows), ("dev", engine_rows[:2])):
        (folder / split).mkdir(parents=True)
        Dataset.from_list(rows, features=FEATURES).to_parquet(str(folder / split / "shard-00000.parquet"))
    run = tmp_path / "run"
    train_cli.main(["--dataset", str(folder), "--out", str(run), "--preset", "tiny", "--batch-size", "2",
                    "--total-steps", "3", "--warmup-steps", "1", "--eval-every", "3", "--dev-limit", "2",
                    "--decode-limit", "0", "--precision", "fp32", "--augment-p", "0.5", "--threads", "1",
                    "--box-attention", "1.0", "--dense-loss", "0.2", "--corrupt-inputs", "0.2", "--signature-weight", "4",
                    "--image-height", "96", "--image-width-scale", "0.75", "--max-patches", "200"])
    log = read_csv(run / "train.csv")
    assert all(float(row["box"]) > 0 and float(row["dense"]) > 0 and 0 < float(row["box_mass"]) < 1 for row in log)
    dev = read_csv(run / "dev.csv")[-1]
    assert 0 < float(dev["dev_box_mass_steered"]) < 1 and 0 <= float(dev["dev_dense_pitch_f1"]) <= 1
    assert 0 <= float(dev["dev_dense_pitch_top1"]) <= 1
    assert 0 <= float(dev["dev_time_top1"]) <= 1 and 0 <= float(dev["dev_key_top1"]) <= 1
    model = AcaiOMRForConditionalGeneration.from_pretrained(str(run / "final"))
    assert model.dense_head is not None and model.config.dense_loss_weight == 0.2
    processor = AutoProcessor.from_pretrained(str(run / "final"))  # the image flags travel with the model
    assert (processor.image_processor.target_height, processor.image_processor.width_scale,
            processor.image_processor.max_patches) == (96, 0.75, 200)
    pixels = processor.image_processor([decoded(engine_rows[0])["image"]], return_tensors="pt")
    out = model.generate(**pixels, max_new_tokens=5)
    assert out.shape[0] == 1  # generate() is unchanged by the training-only head


def test_short_crops_cut_image_and_tokens_at_a_barline(engine_rows):
    from training.geometry.short_crops import crop_to_measures

    row = max(engine_rows, key=lambda r: r["n_measures"])
    assert row["n_measures"] >= 3
    image = decoded(row)["image"]
    cropped, lmx, boxes, glyphs = crop_to_measures(image, row["lmx"], row["token_boxes"], row["token_glyph_boxes"], 2)
    assert lmx.split().count("measure") == 2 and row["lmx"].startswith(lmx)
    assert len(boxes) == len(glyphs) == len(lmx.split())
    assert cropped.height == image.height and cropped.width < image.width
    assert all(box is None or box[2] <= cropped.width for box in boxes)
    # the image holds the kept noteheads and not the next measure's first one
    tokens = row["lmx"].split()
    next_note = next(row["token_boxes"][i] for i in range(len(lmx.split()), len(tokens)) if tokens[i] in PITCH_TOKENS)
    assert next_note[0] >= cropped.width - 1
    assert crop_to_measures(image, row["lmx"], None, None, 1) is None
    assert crop_to_measures(image, row["lmx"], row["token_boxes"], None, row["n_measures"]) is None
