"""AcaiLMXTokenizer: closed LMX vocabulary, labels format, unknown words reported, AutoTokenizer save/load."""
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lmx.linearization.vocabulary import ALL_TOKENS

from acai_hf.model.tokenization_acai import AcaiLMXTokenizer

REPO_ROOT = Path(__file__).resolve().parents[1]
SPECIALS = ["<pad>", "<bos>", "<eos>", "<unk>"]
# Out-of-vocabulary words, including a special token glued to text and a literal <unk>.
TEXT_WITH_UNKNOWNS = "measure foo clef:G2 C#4 <unk> quarter foo<eos>bar"
UNKNOWNS = [(1, "foo"), (3, "C#4"), (4, "<unk>"), (6, "foo<eos>bar")]


@pytest.fixture(scope="module")
def tokenizer():
    return AcaiLMXTokenizer()


def test_vocabulary_is_specials_then_lmx_tokens_in_package_order(tokenizer):
    vocab = tokenizer.get_vocab()
    assert len(tokenizer) == tokenizer.vocab_size == len(ALL_TOKENS) + 4 == 228
    assert sorted(vocab, key=vocab.get) == SPECIALS + list(ALL_TOKENS)
    special_ids = [tokenizer.pad_token_id, tokenizer.bos_token_id, tokenizer.eos_token_id, tokenizer.unk_token_id]
    assert special_ids == [0, 1, 2, 3]
    assert AcaiLMXTokenizer().get_vocab() == vocab


def test_settings_suit_a_decoder(tokenizer):
    assert tokenizer.padding_side == "right"
    assert tokenizer.model_max_length == 1536
    assert tokenizer.model_input_names == ["input_ids", "attention_mask"]
    assert (tokenizer.add_bos_token, tokenizer.add_eos_token) == (False, True)


def test_encoding_gives_labels_ending_with_eos(tokenizer):
    clef_id = tokenizer.convert_tokens_to_ids("clef:G2")
    assert tokenizer.encode("measure clef:G2") == [4, clef_id, 2]
    assert tokenizer.encode("measure clef:G2", add_special_tokens=False) == [4, clef_id]


def test_gold_lmx_round_trips(tokenizer, gold_systems):
    for _, gold_lmx in gold_systems:
        words = gold_lmx.split()
        ids = tokenizer(gold_lmx)["input_ids"]
        assert len(ids) == len(words) + 1 and ids[-1] == tokenizer.eos_token_id
        assert tokenizer.unk_token_id not in ids
        assert tokenizer.decode(ids, skip_special_tokens=True) == " ".join(words)
        assert tokenizer.decode_lmx([tokenizer.bos_token_id] + ids + [0, 0]) == " ".join(words)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.sampled_from(ALL_TOKENS), max_size=60), st.sampled_from([" ", "  ", "\n", "\t "]))
def test_any_lmx_token_sequence_round_trips(tokenizer, tokens, separator):
    ids = tokenizer.encode(separator.join(tokens), add_special_tokens=False)
    assert tokenizer.convert_ids_to_tokens(ids) == tokens
    assert tokenizer.decode(ids) == " ".join(tokens)


def test_batch_pads_on_the_right(tokenizer):
    batch = tokenizer(["measure clef:G2 clef:F4", "measure"], padding=True)
    assert batch["input_ids"][1] == [4, 2, 0, 0]
    assert batch["attention_mask"] == [[1, 1, 1, 1], [1, 1, 0, 0]]
    assert "token_type_ids" not in batch


def test_unknown_words_become_unk_in_place(tokenizer):
    ids = tokenizer.encode(TEXT_WITH_UNKNOWNS, add_special_tokens=False)
    assert len(ids) == len(TEXT_WITH_UNKNOWNS.split())
    assert [position for position, token_id in enumerate(ids) if token_id == tokenizer.unk_token_id] == [
        position for position, _ in UNKNOWNS
    ]


def test_unknown_words_are_found_with_positions(tokenizer):
    assert tokenizer.find_unknown_tokens(TEXT_WITH_UNKNOWNS) == UNKNOWNS
    assert tokenizer.find_unknown_tokens("measure <eos> clef:G2") == []
    assert tokenizer.find_unknown_tokens("measure <eos> clef:G2", include_special_tokens=True) == [(1, "<eos>")]


def test_unknown_words_in_vectors_predictions_are_all_found(tokenizer, vectors):
    vocabulary = set(ALL_TOKENS)
    for case in vectors:
        words = case["pred_lmx"].split()
        expected = [(position, word) for position, word in enumerate(words) if word not in vocabulary]
        assert tokenizer.find_unknown_tokens(case["pred_lmx"], include_special_tokens=True) == expected


def test_encoding_unknown_words_logs_their_count(tokenizer, caplog):
    with caplog.at_level(logging.WARNING, logger="acai_hf.model.tokenization_acai"):
        tokenizer([TEXT_WITH_UNKNOWNS, "measure"])
    assert [record.getMessage().split()[0] for record in caplog.records] == [str(len(UNKNOWNS))]
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="acai_hf.model.tokenization_acai"):
        tokenizer("measure clef:G2")
    assert caplog.records == []


def test_strict_encoding_refuses_non_lmx_words(tokenizer):
    with pytest.raises(ValueError, match=r"5 word\(s\).*'foo' at 1.*'C#4' at 3"):
        tokenizer.encode_lmx(TEXT_WITH_UNKNOWNS + " <eos>", strict=True)
    assert tokenizer.encode_lmx("measure clef:G2", strict=True) == tokenizer.encode("measure clef:G2")
    assert tokenizer.encode_lmx("measure foo").count(tokenizer.unk_token_id) == 1


def test_decode_lmx_stops_at_eos_and_keeps_unk(tokenizer):
    ids = [1, 4, 3, 2, 4, 0]
    assert tokenizer.decode_lmx(ids) == "measure <unk>"
    assert tokenizer.decode(ids, skip_special_tokens=True) == "measure measure"


def test_saved_folder_is_self_contained(tokenizer, tmp_path):
    tokenizer.save_pretrained(tmp_path)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["tokenizer.json", "tokenizer_config.json"]
    config = json.loads((tmp_path / "tokenizer_config.json").read_text())
    assert config["tokenizer_class"] == "AcaiLMXTokenizer"
    saved_text = "".join(path.read_text() for path in tmp_path.iterdir())
    for network_reference in ("auto_map", "http", "huggingface.co", "_commit_hash", "trust_remote_code"):
        assert network_reference not in saved_text


@pytest.mark.parametrize("flags", [{"add_bos_token": True, "add_eos_token": False}, {"add_eos_token": False}])
def test_special_token_flags_survive_save_and_load(tmp_path, flags):
    AcaiLMXTokenizer(**flags).save_pretrained(tmp_path)
    loaded = AcaiLMXTokenizer.from_pretrained(tmp_path)
    assert (loaded.add_bos_token, loaded.add_eos_token) == (flags.get("add_bos_token", False), False)
    assert loaded.encode("measure") == AcaiLMXTokenizer(**flags).encode("measure")


def _run_fresh_python(code: str) -> str:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "PYTHONPATH": str(REPO_ROOT)}
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=REPO_ROOT, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_importing_acai_hf_registers_the_auto_classes_and_leaves_the_music_and_app_libraries():
    """`import acai_hf` registers the model with transformers' Auto classes on the package's own import
    (acai_hf/model/__init__.py), so it imports transformers; music21, Verovio, evaluate and gradio wait for
    the modules that need them."""
    code = ("import sys, acai_hf\n"
            "from transformers.models.auto.tokenization_auto import tokenizer_class_from_name\n"
            "print(tokenizer_class_from_name('AcaiLMXTokenizer').__name__, "
            "[name for name in ('music21', 'verovio', 'evaluate', 'gradio') if name in sys.modules])")
    assert _run_fresh_python(code).strip() == "AcaiLMXTokenizer []"


def test_auto_tokenizer_loads_saved_folder_in_fresh_process(tokenizer, tmp_path, vectors):
    tokenizer.save_pretrained(tmp_path)
    texts = [case["gold_lmx"] for case in vectors[:5]] + [case["pred_lmx"] for case in vectors]
    texts.append(TEXT_WITH_UNKNOWNS)
    (tmp_path / "texts.json").write_text(json.dumps(texts))
    code = f"""
import json, acai_hf
from transformers import AutoTokenizer
tokenizer = AutoTokenizer.from_pretrained({str(tmp_path)!r})
texts = json.load(open({str(tmp_path / "texts.json")!r}))
print(json.dumps({{
    "class": type(tokenizer).__module__ + "." + type(tokenizer).__name__,
    "vocab": tokenizer.get_vocab(),
    "ids": tokenizer(texts)["input_ids"],
}}))
"""
    loaded = json.loads(_run_fresh_python(code).strip().splitlines()[-1])
    assert loaded["class"] == "acai_hf.model.tokenization_acai.AcaiLMXTokenizer"
    assert loaded["vocab"] == tokenizer.get_vocab()
    assert loaded["ids"] == tokenizer(texts)["input_ids"]
