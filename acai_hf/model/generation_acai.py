"""Generation: an LMX grammar for constrained decoding, length caps, a loop stop, per-system confidence,
and `generate_lmx`, which decodes many system images in width-sorted batches with them.

The grammar follows the item structure lmx's Delinearizer parses: a system starts with `measure`; a
measure holds items; a note item is [prefixes] root [suffixes] (pitch/rest/voice/chord... before the
duration root, dot/stem/beam/staff... after it); `time` is followed by `beats:N` then `beat-type:N`;
a clef may name its staff (`clef:G2 staff:1`); keys stand alone. What may come next depends on the
previous token only, so the processor is one table lookup per step, valid for greedy, beam and sampled
search alike.
"""
import torch
from lmx.linearization.vocabulary import (
    BEAT_TYPE_TOKENS,
    BEATS_TOKENS,
    CLEF_TOKENS,
    KEY_TOKENS,
    NOTE_PREFIX_TOKENS,
    NOTE_ROOT_TOKENS,
    NOTE_SUFFIX_TOKENS,
    STAFF_TOKENS,
)
from transformers import LogitsProcessor

# The item's head: what the duration after it belongs to.
NOTE_HEADS = [t for t in NOTE_PREFIX_TOKENS if t[:1] in "ABCDEFG" and t[1:].isdigit()] + ["rest", "forward", "backup"]
VOICE_TOKENS = [t for t in NOTE_PREFIX_TOKENS if t.startswith("voice:")]
ONCE_PER_ITEM = ["print-object:no", "grace", "grace:slash", "chord", "sharp", "flat", "natural", "double-sharp",
                 "flat-flat", "natural-sharp", "natural-flat", "tied:start", "tied:stop", "fermata", "arpeggiate",
                 "staccato", "accent", "strong-accent", "tenuto", "trill-mark",
                 *(t for t in NOTE_SUFFIX_TOKENS if t.startswith("tremolo:") or "in" in t and t[0].isdigit())]


def lmx_transition_table(vocab: dict[str, int], bos_id: int, eos_id: int, pad_id: int) -> torch.Tensor:
    """(V, V) bool: table[previous id, next id] is True when `next` may follow `previous`."""
    size = max(vocab.values()) + 1

    def ids(tokens):
        mask = torch.zeros(size, dtype=torch.bool)
        mask[[vocab[t] for t in tokens if t in vocab]] = True
        return mask

    prefixes, roots, suffixes = ids(NOTE_PREFIX_TOKENS), ids(NOTE_ROOT_TOKENS), ids(NOTE_SUFFIX_TOKENS)
    measure, eos = ids(["measure"]), torch.zeros(size, dtype=torch.bool)
    eos[eos_id] = True
    # after a complete item (or `measure` itself): a new item (a root alone is a note without pitch or
    # rest, which the Delinearizer reads as a rest and reports), a new measure, or the end
    boundary = measure | prefixes | ids(["time"]) | ids(KEY_TOKENS) | ids(CLEF_TOKENS) | eos

    table = torch.zeros(size, size, dtype=torch.bool)
    table[:] = boundary  # keys, clefs, beat-types, unknown ids
    table[bos_id] = measure  # nothing may come before the first measure
    for token_id in prefixes.nonzero().flatten():
        table[token_id] = prefixes | roots  # a prefix needs its note root
    for token_id in (roots | suffixes).nonzero().flatten():
        table[token_id] = boundary | suffixes
    for token_id in ids(CLEF_TOKENS).nonzero().flatten():
        table[token_id] = boundary | ids(STAFF_TOKENS)
    table[vocab["time"]] = ids(BEATS_TOKENS)
    for token_id in ids(BEATS_TOKENS).nonzero().flatten():
        table[token_id] = ids(BEAT_TYPE_TOKENS)
    # What an item holds once, twice in a row: two pitches (or a pitch and a rest) before one duration,
    # two voices, stems or staves, an accidental or a mark repeated. Seen in greedy outputs of models that
    # half read; the Delinearizer drops the extra token with an error. Dots, beams, slurs and tuplet
    # starts/stops do repeat (double dots, 16th beams, nested slurs and tuplets).
    for group in (NOTE_HEADS, VOICE_TOKENS, ["stem:up", "stem:down", "stem:none"], STAFF_TOKENS):
        members = ids(group)
        for token_id in members.nonzero().flatten():
            table[token_id] &= ~members
    for token in ONCE_PER_ITEM:
        if token in vocab:
            table[vocab[token], vocab[token]] = False
    table[eos_id] = table[pad_id] = True  # finished rows: generate() pads them anyway
    return table


class LMXGrammarLogitsProcessor(LogitsProcessor):
    """Masks every token the LMX grammar forbids after the previous one (see module docstring)."""

    def __init__(self, tokenizer):
        vocab = tokenizer.get_vocab()
        self.table = lmx_transition_table(vocab, tokenizer.bos_token_id, tokenizer.eos_token_id, tokenizer.pad_token_id)

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        table = self.table.to(scores.device)
        allowed = table[input_ids[:, -1], : scores.shape[-1]]
        return scores.masked_fill(~allowed, float("-inf"))


# Engraved music is at most this dense: on 1,900 systems of our training data the LMX tokens per 16-px
# patch column of the processed image had a median of 5.3, a 99.9th percentile of 20.5 and a maximum
# of 23.1. A system's output is capped at LENGTH_CAP_BASE + TOKENS_PER_COLUMN x its columns, so that a
# model that fails to stop spends seconds on a narrow system, not the full 1536 tokens.
TOKENS_PER_COLUMN = 24
LENGTH_CAP_BASE = 16


def length_caps(pixel_mask: torch.Tensor, patch_size: int, tokens_per_column: float = TOKENS_PER_COLUMN) -> torch.Tensor:
    """(B, H, W) pixel mask -> (B,) most new tokens each system's width can hold."""
    columns = pixel_mask.bool().any(1).sum(1).float() / patch_size
    return (LENGTH_CAP_BASE + tokens_per_column * columns.ceil()).long()


class LengthCapLogitsProcessor(LogitsProcessor):
    """Forces <eos> once a sequence has `caps[row]` new tokens (rows of beams share their system's cap)."""

    def __init__(self, caps: torch.Tensor, eos_token_id: int, prompt_length: int = 1):
        self.caps, self.eos_token_id, self.prompt_length = caps, eos_token_id, prompt_length

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        caps = self.caps.to(scores.device).repeat_interleave(input_ids.shape[0] // self.caps.shape[0])
        over = input_ids.shape[1] - self.prompt_length >= caps
        if over.any():
            forced = torch.full_like(scores[0], float("-inf"))
            forced[self.eos_token_id] = 0.0
            scores = torch.where(over[:, None], forced, scores)
        return scores


# Engraved music repeats short patterns, but not for long: on 14,880 training systems (a third of
# data-mix-v3-v7r's shards) the longest stretch in which every token equals the one p places before
# (p <= 16) was 58 tokens (99.9th percentile 49). A model that writes such a stretch of LOOP_TOKENS has
# stopped reading ("rest eighth rest eighth ...", "forward forward ..."): the shipped model of session 13
# ran one test system to 1,535 tokens that way (540 in the gold): 1,305 of the 8,244 piano test errors.
LOOP_TOKENS = 96
LOOP_PERIOD_MAX = 16


class LoopStopLogitsProcessor(LogitsProcessor):
    """Forces <eos> once a sequence's last `loop_tokens` tokens repeat with a period of at most
    LOOP_PERIOD_MAX tokens: a loop costs that system its remaining tokens (it had lost them anyway),
    not seconds of decoding and a page of invented music."""

    def __init__(self, eos_token_id: int, loop_tokens: int = LOOP_TOKENS):
        if loop_tokens <= LOOP_PERIOD_MAX:
            raise ValueError(f"loop_tokens must exceed {LOOP_PERIOD_MAX}, got {loop_tokens}")
        self.eos_token_id, self.loop_tokens = eos_token_id, loop_tokens

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        if input_ids.shape[1] < self.loop_tokens:
            return scores
        window = input_ids[:, -self.loop_tokens:]
        looping = torch.zeros(window.shape[0], dtype=torch.bool, device=window.device)
        for period in range(1, LOOP_PERIOD_MAX + 1):
            looping |= (window[:, period:] == window[:, :-period]).all(1)
        if looping.any():
            forced = torch.full_like(scores[0], float("-inf"))
            forced[self.eos_token_id] = 0.0
            scores = torch.where(looping[:, None], forced, scores)
        return scores


def mean_token_logprob(model, generated, eos_token_id: int, pad_token_id: int) -> torch.Tensor:
    """Per sequence: the mean log-probability the model gave its tokens (the first <eos> included),
    before any logits processor, so constrained and free decoding are scored alike. Needs
    `generate(..., return_dict_in_generate=True)` with `output_logits=True` (greedy, sampling) or
    `output_scores=True` (beam search)."""
    beam_indices = getattr(generated, "beam_indices", None)
    if beam_indices is None:  # greedy/sampling: scores are processed, logits are raw
        scores = model.compute_transition_scores(generated.sequences, generated.logits, normalize_logits=True)
    else:  # beam scores are raw log-softmax plus processors, which leave the chosen tokens alone
        scores = model.compute_transition_scores(generated.sequences, generated.scores, beam_indices)
    new_tokens = generated.sequences[:, -scores.shape[1]:]
    is_eos = (new_tokens == eos_token_id).long()
    keep = (is_eos.cumsum(-1) - is_eos == 0) & (new_tokens != pad_token_id) & torch.isfinite(scores)
    return (scores * keep).sum(-1) / keep.sum(-1).clamp(min=1)


@torch.inference_mode()
def generate_lmx(model, processor, images, num_beams=1, constrained=False, batch_size=4, progress=None,
                 tokens_per_column=TOKENS_PER_COLUMN, loop_tokens=LOOP_TOKENS, **generate_kwargs):
    """-> (LMX strings, confidences), in the order of `images`. `progress(done_systems, total_systems)`,
    if given, is called after each batch. Each system's output is capped by its width
    (`tokens_per_column`, see length_caps; None: only the model's max length) and ends when it loops
    (`loop_tokens`, see LoopStopLogitsProcessor; None: never)."""
    tokenizer = processor.tokenizer
    inks = [processor.image_processor.resize_one(image) for image in images]
    order = sorted(range(len(inks)), key=lambda i: inks[i].shape[1])  # similar widths share a batch
    processors = [LMXGrammarLogitsProcessor(tokenizer)] if constrained else []
    if loop_tokens is not None:
        processors.append(LoopStopLogitsProcessor(tokenizer.eos_token_id, loop_tokens))
    texts, confidences = [None] * len(inks), [None] * len(inks)
    for start in range(0, len(order), batch_size):
        batch = order[start: start + batch_size]
        padded = processor.image_processor.pad_batch([inks[i] for i in batch]).to(model.device)
        caps = []
        if tokens_per_column is not None:
            patch = processor.image_processor.patch_size
            per_column = tokens_per_column / processor.image_processor.width_scale  # a narrower column holds more
            caps = [LengthCapLogitsProcessor(length_caps(padded["pixel_mask"], patch, per_column),
                                             tokenizer.eos_token_id)]
        # confidence needs the raw logits (greedy, sampling) or the beam scores (beam search), not both
        out = model.generate(
            **padded, num_beams=num_beams, logits_processor=processors + caps,
            output_scores=num_beams > 1, output_logits=num_beams == 1, return_dict_in_generate=True,
            **generate_kwargs,
        )
        scores = mean_token_logprob(model, out, tokenizer.eos_token_id, tokenizer.pad_token_id)
        for row, index in enumerate(batch):
            texts[index] = tokenizer.decode_lmx(out.sequences[row])
            confidences[index] = float(scores[row])
        if progress is not None:
            progress(start + len(batch), len(order))
    return texts, confidences


__all__ = ["generate_lmx", "LMXGrammarLogitsProcessor", "LengthCapLogitsProcessor", "LoopStopLogitsProcessor",
           "length_caps", "lmx_transition_table", "mean_token_logprob"]
