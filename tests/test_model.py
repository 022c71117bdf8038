"""AcaiOMR config and model: presets, round trips, Auto classes, generation, masking of padding."""
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

import acai_hf  # noqa: F401  (registers the Auto classes)
from acai_hf.model.configuration_acai import AcaiOMRConfig
from acai_hf.model.generation_acai import LMXGrammarLogitsProcessor
from acai_hf.model.modeling_acai import AcaiOMRForConditionalGeneration, count_parameters
from acai_hf.model.tokenization_acai import AcaiLMXTokenizer
from acai_hf.music.lmx import delinearize
from tiny_omr_model import tiny_processor

pytestmark = pytest.mark.usefixtures("one_torch_thread")

REPO = Path(__file__).resolve().parent.parent
CONV_STEM = {"stem": "conv", "stem_channels": [4, 8, 8, 16]}


def tiny(seed=0, **encoder):
    torch.manual_seed(seed)
    return AcaiOMRForConditionalGeneration.from_preset("tiny", encoder=encoder).eval()


def images(widths, height=32, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (height, width), dtype=np.uint8) for width in widths]


@pytest.fixture(scope="module")
def processor():
    return tiny_processor()


def test_special_ids_match_the_tokenizer():
    config, tokenizer = AcaiOMRConfig(), AcaiLMXTokenizer()
    assert (config.pad_token_id, config.bos_token_id, config.eos_token_id) == (
        tokenizer.pad_token_id, tokenizer.bos_token_id, tokenizer.eos_token_id)
    assert config.decoder.vocab_size == len(tokenizer) == 228


def test_presets_sizes():
    assert 5_000_000 <= count_parameters(AcaiOMRForConditionalGeneration.from_preset("small")) <= 25_000_000
    base = AcaiOMRConfig.from_preset("base")
    with torch.device("meta"):  # shapes only: no memory, no init time
        base_model = AcaiOMRForConditionalGeneration(base)
    assert (base.encoder.hidden_size, base.encoder.num_hidden_layers) == (768, 12)
    assert base_model.transition.mlp[0].weight.shape == (4096, 768)
    assert base_model.transition.mlp[3].weight.shape == (1024, 4096)
    assert (base.decoder.num_hidden_layers, base.decoder.hidden_size, base.decoder.num_attention_heads) == (12, 1024, 16)
    assert base.decoder.max_position_embeddings == 1536


def test_config_round_trip(tmp_path):
    config = AcaiOMRConfig.from_preset("small", decoder={"num_hidden_layers": 3}, encoder=CONV_STEM,
                                       bag_loss_weight=0.5)
    config.save_pretrained(tmp_path)
    loaded = AcaiOMRConfig.from_pretrained(tmp_path)
    assert loaded.to_dict() == config.to_dict()
    assert loaded.decoder.num_hidden_layers == 3 and loaded.encoder.stem == "conv" and loaded.bag_loss_weight == 0.5


def test_loss_ignores_padding_labels(processor):
    model = tiny()
    inputs = processor(images=images([64, 64]), text_target=["measure clef:G2", "measure"])
    loss = model(**inputs).loss
    assert torch.isfinite(loss)
    one = model(**processor(images=images([64])[:1], text_target=["measure clef:G2"])).loss
    inputs["labels"][1] = -100  # second row contributes nothing
    assert torch.allclose(model(**inputs).loss, one, atol=1e-5)


@pytest.mark.parametrize("encoder", [{}, CONV_STEM, {"position_embedding": "learned"}])
def test_padding_does_not_change_the_output(encoder):
    model = tiny(**encoder)
    pixel = torch.rand(1, 1, 32, 48)
    padded = torch.zeros(1, 1, 48, 96)
    padded[..., :32, :48] = pixel
    mask = torch.zeros(1, 48, 96, dtype=torch.long)
    mask[:, :32, :48] = 1
    ids = torch.tensor([[1, 30, 40, 50]])
    with torch.no_grad():
        alone = model(pixel_values=pixel, decoder_input_ids=ids).logits
        inside = model(pixel_values=padded, pixel_mask=mask, decoder_input_ids=ids).logits
    assert torch.allclose(alone, inside, atol=1e-5)


def test_save_and_load_give_identical_logits(tmp_path):
    model = tiny(**CONV_STEM)
    model.save_pretrained(tmp_path)
    loaded = AcaiOMRForConditionalGeneration.from_pretrained(tmp_path).eval()
    pixel, ids = torch.rand(2, 1, 32, 64), torch.tensor([[1, 5, 6], [1, 7, 8]])
    with torch.no_grad():
        assert torch.equal(model(pixel_values=pixel, decoder_input_ids=ids).logits,
                           loaded(pixel_values=pixel, decoder_input_ids=ids).logits)


def test_cache_greedy_and_beam_agree(processor):
    model = tiny()
    inputs = processor(images=images([80]))
    with torch.no_grad():
        greedy = model.generate(**inputs, max_length=40)
        uncached = model.generate(**inputs, max_length=40, use_cache=False)
        beam1 = model.generate(**inputs, max_length=40, num_beams=1, do_sample=False)
        beam3 = model.generate(**inputs, max_length=40, num_beams=3)
        beam3_uncached = model.generate(**inputs, max_length=40, num_beams=3, use_cache=False)
        # reference greedy decoding: full recomputation, argmax by hand
        ids = torch.tensor([[model.config.decoder_start_token_id]])
        while ids.shape[1] < 40 and ids[0, -1] != model.config.eos_token_id:
            logits = model(**inputs, decoder_input_ids=ids, use_cache=False).logits
            ids = torch.cat([ids, logits[:, -1:].argmax(-1)], dim=1)
    assert torch.equal(greedy, uncached) and torch.equal(greedy, beam1) and torch.equal(greedy, ids)
    assert torch.equal(beam3, beam3_uncached)


def test_batch_equals_single(processor):
    model = tiny(**CONV_STEM)
    pictures = images([40, 100, 70])
    with torch.no_grad():
        batch = model.generate(**processor(images=pictures), max_length=30)
        for row, picture in enumerate(pictures):
            single = model.generate(**processor(images=[picture]), max_length=30)
            assert batch[row, : single.shape[1]].tolist() == single[0].tolist()


def test_constrained_decoding_never_catastrophic(processor):
    grammar = LMXGrammarLogitsProcessor(processor.tokenizer)
    ended = 0
    for seed in range(3):
        model = tiny(seed)
        with torch.no_grad():  # a bias on <eos> so that some samples end before the length cap
            out = model.generate(**processor(images=images([64, 96], seed=seed)), max_length=60, do_sample=True,
                                 temperature=2.0, num_return_sequences=4, logits_processor=[grammar],
                                 sequence_bias={(2,): 4.0})
        for sequence in out:
            lmx = processor.tokenizer.decode_lmx(sequence)
            _, errors = delinearize(lmx)
            assert lmx.startswith("measure")
            assert not [e for e in errors if e.severity == "catastrophic" or "before the first" in e.message]
            if 2 in sequence.tolist():  # finished, not cut by the length cap: nothing left dangling
                ended += 1
                assert not [e for e in errors if "Dangling" in e.message or "Missing" in e.message]
    assert ended


def test_grammar_allows_every_real_system(processor, gold_systems):
    """Constrained decoding must be able to write what the Linearizer writes: each bigram of every gold
    (the reference cases' real systems, clefs with their staff included) is allowed, ending included."""
    tokenizer = processor.tokenizer
    table = LMXGrammarLogitsProcessor(tokenizer).table
    vocab = tokenizer.get_vocab()
    assert len(gold_systems) > 10
    for _, lmx in gold_systems:
        ids = [tokenizer.bos_token_id, *(vocab[token] for token in lmx.split()), tokenizer.eos_token_id]
        forbidden = [(lmx.split() + ["<eos>"])[i] for i, (a, b) in enumerate(zip(ids, ids[1:])) if not table[a, b]]
        assert not forbidden, (forbidden[:5], lmx[:200])
    assert table[vocab["clef:G2"], vocab["staff:1"]] and not table[vocab["key:fifths:0"], vocab["staff:1"]]


def test_grammar_forbids_what_an_item_holds_once(processor):
    """Half-reading models wrote these; each loses a token in delinearization. Repeats that notation
    has (double dots, two beam levels, nested slurs) stay allowed."""
    vocab = processor.tokenizer.get_vocab()
    table = LMXGrammarLogitsProcessor(processor.tokenizer).table
    for previous, following in [("measure", "quarter"), ("quarter", "eighth"), ("C4", "E4"), ("rest", "C4"),
                                ("sharp", "sharp"), ("staff:1", "staff:2"), ("stem:up", "stem:down"),
                                ("voice:1", "voice:2"), ("arpeggiate", "arpeggiate"), ("grace", "grace")]:
        assert not table[vocab[previous], vocab[following]], (previous, following)
    for previous, following in [("dot", "dot"), ("beam:begin", "beam:begin"), ("slur:start", "slur:start"),
                                ("measure", "C4"), ("chord", "C4"), ("C4", "quarter"), ("sharp", "staff:1")]:
        assert table[vocab[previous], vocab[following]], (previous, following)


def test_transcribe_returns_everything(processor):
    result = acai_hf.transcribe(images([64, 80]), model=tiny(), processor=processor, max_length=40)
    assert len(result.systems) == 2 and all(s.startswith("measure") for s in result.systems)
    assert all(c <= 0 for c in result.confidences)
    assert "<score-partwise" in result.musicxml and result.midi[:4] == b"MThd"
    assert len(result.errors) == 2


def test_auto_classes_and_pipeline_in_a_fresh_process(tmp_path, processor):
    model = tiny()
    model.save_pretrained(tmp_path)
    processor.save_pretrained(tmp_path)
    with torch.no_grad():
        expected = model(**processor(images=images([64])), decoder_input_ids=torch.tensor([[1, 9]])).logits
    torch.save(expected, tmp_path / "expected.pt")
    script = textwrap.dedent(f"""
        import numpy as np, torch
        import acai_hf
        from PIL import Image
        from transformers import AutoConfig, AutoModel, AutoModelForImageTextToText, AutoProcessor, pipeline
        folder = {str(tmp_path)!r}
        assert type(AutoConfig.from_pretrained(folder)).__name__ == "AcaiOMRConfig"
        assert type(AutoModel.from_pretrained(folder)).__name__ == "AcaiOMRForConditionalGeneration"
        model = AutoModelForImageTextToText.from_pretrained(folder).eval()
        processor = AutoProcessor.from_pretrained(folder)
        image = np.random.default_rng(0).integers(0, 256, (32, 64), dtype=np.uint8)
        with torch.no_grad():
            logits = model(**processor(images=[image]), decoder_input_ids=torch.tensor([[1, 9]])).logits
        assert torch.equal(logits, torch.load(folder + "/expected.pt")), "logits differ after reload"
        pipe = pipeline("image-to-text", model=folder)
        text = pipe(Image.fromarray(image), max_new_tokens=8)[0]["generated_text"]  # no prompt needed
        vocab = processor.tokenizer.get_vocab()
        assert text and all(token in vocab for token in text.split()), text
        with torch.no_grad():
            ids = model.generate(**processor(images=[image]), max_new_tokens=8)
        assert text == processor.decode(ids[0]), (text, processor.decode(ids[0]))
        two = pipe([Image.fromarray(image)] * 2, max_new_tokens=8)
        assert [row["generated_text"] for row in two] == [text, text], two
        print("OK", text)
    """)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=300,
                          env=env)
    assert done.returncode == 0 and "OK" in done.stdout, done.stderr[-3000:]


def test_left_padded_prompts_continue_as_alone(processor):
    model = tiny()
    pictures, prompts = images([64, 64]), ["measure clef:G2 key:fifths:0", "measure"]
    with torch.no_grad():
        batch = model.generate(**processor(images=pictures, text=prompts), max_new_tokens=6)
        for row in range(2):
            alone = model.generate(**processor(images=pictures[row:row + 1], text=prompts[row]), max_new_tokens=6)
            assert batch[row, -6:].tolist() == alone[0, -6:].tolist()


def test_logits_to_keep_returns_the_last_positions(processor):
    model = tiny()
    inputs = processor(images=images([64]))
    ids = torch.tensor([[1, 30, 40, 50]])
    with torch.no_grad():
        full = model(**inputs, decoder_input_ids=ids).logits
        last = model(**inputs, decoder_input_ids=ids, logits_to_keep=1).logits
    assert last.shape == (1, 1, full.shape[-1]) and torch.allclose(last, full[:, -1:], atol=1e-6)


def test_growing_cache_layer_behaves_as_a_dynamic_layer():
    """Same keys/values as transformers' DynamicLayer through growth past the first buffer, beam
    reordering, cropping and batch selection (what generate() does to a cache)."""
    from transformers.cache_utils import DynamicLayer

    from acai_hf.model.cache_acai import MIN_CAPACITY, GrowingLayer

    torch.manual_seed(0)
    growing, reference = GrowingLayer(), DynamicLayer()

    def step(tokens, batch=4):
        key, value = torch.randn(batch, 2, tokens, 8), torch.randn(batch, 2, tokens, 8)
        got, want = growing.update(key, value), reference.update(key, value)
        assert torch.equal(got[0], want[0]) and torch.equal(got[1], want[1])

    step(5)
    for _ in range(MIN_CAPACITY + 10):  # grows past its first buffer
        step(1)
    assert growing.get_seq_length() == reference.get_seq_length() == MIN_CAPACITY + 15
    beams = torch.tensor([1, 1, 3, 0])
    growing.reorder_cache(beams)
    reference.reorder_cache(beams)
    step(1)
    growing.crop(-3)
    reference.crop(-3)
    step(2)
    growing.batch_select_indices(torch.tensor([0, 2]))
    reference.batch_select_indices(torch.tensor([0, 2]))
    step(1, batch=2)
    growing.batch_repeat_interleave(2)
    reference.batch_repeat_interleave(2)
    step(1)
    assert growing.get_seq_length() == reference.get_seq_length()


def test_split_modules_keep_the_old_names_and_parameters():
    """Code and saved auto_maps import from acai_hf.model.modeling_acai; checkpoints name parameters as before."""
    from acai_hf.model import modeling_acai

    for name in ("AcaiEncoderModel", "AcaiDecoderForCausalLM", "AcaiOMRForConditionalGeneration", "AcaiEncoderOutput",
                 "AcaiEncoderLayer", "AcaiDecoderLayer", "AcaiPreTrainedModel", "AcaiPatchEmbeddings", "AcaiMLP",
                 "ChannelLayerNorm", "GrowingCache", "GrowingLayer", "growing_cache", "count_parameters",
                 "patch_mask", "sincos_2d", "split_heads", "attend"):
        assert hasattr(modeling_acai, name), name
    keys = set(tiny(**CONV_STEM).state_dict())

    def under(prefix):
        return {key[len(prefix):] for key in keys if key.startswith(prefix)}

    def weights_and_biases(*names):
        return {f"{name}.{kind}" for name in names for kind in ("weight", "bias")}

    assert under("decoder.layers.1.") == weights_and_biases(
        "norm1", "qkv", "self_out", "norm2", "cross_q", "cross_kv", "cross_out", "norm3", "mlp.fc1", "mlp.fc2")
    assert under("encoder.layers.1.") == weights_and_biases("norm1", "qkv", "out", "norm2", "mlp.fc1", "mlp.fc2")
    assert {key for key in under("decoder.") if not key.startswith("layers.")} == {
        "embed_tokens.weight", "embed_positions.weight", "norm.weight", "norm.bias", "lm_head.weight"}
    assert {"embeddings.stages.0.0.weight", "embeddings.stages.0.1.weight", "embeddings.projection.weight",
            "norm.weight", "norm.bias"} <= under("encoder.")
