"""Tokenizer for LMX (Linearized MusicXML): one id per whitespace-separated LMX token.

The vocabulary is closed: four special tokens with fixed ids, then the LMX tokens in the order of
`lmx.linearization.vocabulary.ALL_TOKENS`, so ids are deterministic for a given lmx release. A saved
tokenizer keeps its own vocabulary, so a trained checkpoint keeps its ids even if lmx changes.

Labels for a VisionEncoderDecoder decoder: encoding appends `<eos>` and prepends nothing. The model
builds its decoder inputs by shifting the labels right behind `decoder_start_token_id` (= `<bos>`), so
labels `[t1 .. tn, <eos>]` give inputs `[<bos>, t1 .. tn]` and the model learns to stop with `<eos>`.
"""
import logging

from lmx.linearization.vocabulary import ALL_TOKENS as LMX_TOKENS
from tokenizers import Tokenizer, pre_tokenizers
from tokenizers.models import WordLevel
from transformers import PreTrainedTokenizerFast

logger = logging.getLogger(__name__)

PAD_TOKEN, BOS_TOKEN, EOS_TOKEN, UNK_TOKEN = "<pad>", "<bos>", "<eos>", "<unk>"
# Their ids are their positions: 0, 1, 2, 3.
SPECIAL_TOKENS = (PAD_TOKEN, BOS_TOKEN, EOS_TOKEN, UNK_TOKEN)


def build_lmx_vocabulary() -> dict[str, int]:
    """Token -> id: the special tokens, then the lmx package's tokens in its own order."""
    tokens = list(SPECIAL_TOKENS) + [token for token in LMX_TOKENS if token not in SPECIAL_TOKENS]
    return {token: index for index, token in enumerate(tokens)}


class AcaiLMXTokenizer(PreTrainedTokenizerFast):
    r"""
    Word-level LMX tokenizer (backed by HuggingFace's tokenizers library).

    Text is split on whitespace and every word becomes exactly one id, so `len(input_ids)` is the number
    of LMX tokens (plus the `<eos>` appended with `add_special_tokens=True`). Words outside the vocabulary
    become `<unk>`; encoding warns with their count, and `find_unknown_tokens` / `encode_lmx(strict=True)`
    say which ones and where.

    Args:
        vocab (`dict[str, int]`, *optional*):
            Token -> id. Defaults to `build_lmx_vocabulary()`; a saved tokenizer passes its own.
        add_bos_token (`bool`, *optional*):
            Prepend `<bos>` when adding special tokens. Off for a new tokenizer: the model prepends
            `decoder_start_token_id` itself. A loaded tokenizer keeps the setting it was saved with.
        add_eos_token (`bool`, *optional*):
            Append `<eos>` when adding special tokens, so that encoded text serves as labels. On for a new
            tokenizer; a loaded one keeps the setting it was saved with.
        model_max_length (`int`, *optional*, defaults to 1536):
            Longest label sequence the decoder is meant to see (a pianoform system is a few hundred tokens).
    """

    vocab_files_names = {"tokenizer_file": "tokenizer.json"}
    model_input_names = ["input_ids", "attention_mask"]
    padding_side = "right"
    # Tells from_pretrained to hand the vocabulary of tokenizer.json to __init__ as a token -> id dict.
    model = WordLevel

    def __init__(
        self,
        vocab: dict[str, int] | None = None,
        pad_token: str = PAD_TOKEN,
        bos_token: str = BOS_TOKEN,
        eos_token: str = EOS_TOKEN,
        unk_token: str = UNK_TOKEN,
        add_bos_token: bool | None = None,
        add_eos_token: bool | None = None,
        model_max_length: int = 1536,
        **kwargs,
    ):
        if vocab is None:
            vocab = build_lmx_vocabulary()
        self._tokenizer = Tokenizer(WordLevel(vocab, unk_token=str(unk_token)))
        self._tokenizer.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
        # Special tokens written in the text go through the vocabulary like any word, so one word stays
        # one id: "foo<eos>" is a single <unk>, not "foo" + <eos>.
        kwargs.setdefault("split_special_tokens", True)
        # The default cleanup glues punctuation to the previous word; LMX words must stay space-separated.
        kwargs.setdefault("clean_up_tokenization_spaces", False)
        # tokenizer_config.json does not keep add_bos_token/add_eos_token: a saved tokenizer carries them as
        # the template in tokenizer.json. Unless given, take them from there, else default to labels' format.
        saved_template = kwargs.pop("post_processor", None)
        if saved_template is not None:
            self._tokenizer.post_processor = saved_template
            added_ids = self._tokenizer.encode("", add_special_tokens=True).ids
            saved_flags = (added_ids[:1] == [vocab[str(bos_token)]], added_ids[-1:] == [vocab[str(eos_token)]])
        else:
            saved_flags = (False, True)
        super().__init__(
            pad_token=pad_token,
            bos_token=bos_token,
            eos_token=eos_token,
            unk_token=unk_token,
            add_bos_token=saved_flags[0] if add_bos_token is None else add_bos_token,
            add_eos_token=saved_flags[1] if add_eos_token is None else add_eos_token,
            model_max_length=model_max_length,
            **kwargs,
        )

    def find_unknown_tokens(self, text: str, include_special_tokens: bool = False) -> list[tuple[int, str]]:
        """(word index, word) for every word of `text` that encodes to `<unk>`.

        The word index is also the word's position in `input_ids`, as no `<bos>` is prepended by default.
        A literal `<unk>` in the text counts. Other special tokens written in the text (`<eos>`...) encode
        to their own ids, so they count only with `include_special_tokens`: pure LMX never contains them.
        """
        # None: not in the vocabulary at all
        flagged_ids = {None, *self.all_special_ids} if include_special_tokens else {None, self.unk_token_id}
        words = (word for word, _ in self._tokenizer.pre_tokenizer.pre_tokenize_str(text))
        return [
            (position, word)
            for position, word in enumerate(words)
            if self._tokenizer.token_to_id(word) in flagged_ids
        ]

    def encode_lmx(self, text: str, strict: bool = False, add_special_tokens: bool = True) -> list[int]:
        """Ids of one LMX string. With `strict`, a word that is not an LMX token raises a ValueError
        naming it and its position; otherwise it becomes `<unk>` and encoding logs a warning."""
        if strict and (unknown := self.find_unknown_tokens(text, include_special_tokens=True)):
            listed = ", ".join(f"{word!r} at {position}" for position, word in unknown[:20])
            more = f" and {len(unknown) - 20} more" if len(unknown) > 20 else ""
            raise ValueError(f"{len(unknown)} word(s) are not LMX tokens: {listed}{more}")
        return self.encode(text, add_special_tokens=add_special_tokens)

    def decode_lmx(self, token_ids) -> str:
        """LMX text of one generated sequence: up to the first `<eos>`, without `<bos>`/`<pad>`.

        Unlike `decode(..., skip_special_tokens=True)`, `<unk>` stays in the text, so an unknown the
        model emitted still counts as an error downstream instead of vanishing.
        """
        tokens = []
        for token_id in (int(token_id) for token_id in token_ids):
            if token_id == self.eos_token_id:
                break
            if token_id not in (self.bos_token_id, self.pad_token_id):
                tokens.append(self._tokenizer.id_to_token(token_id))
        return " ".join(tokens)

    def _encode_plus(self, *args, **kwargs):
        # Every encoding path (__call__, encode, batches) comes through here.
        batch = super()._encode_plus(*args, **kwargs)
        unknown_count = sum(encoding.ids.count(self.unk_token_id) for encoding in batch.encodings or ())
        if unknown_count:
            logger.warning(
                f"{unknown_count} token(s) not in the LMX vocabulary were encoded as {self.unk_token}; "
                "find_unknown_tokens(text) lists them with their positions."
            )
        return batch


__all__ = ["AcaiLMXTokenizer", "build_lmx_vocabulary"]
