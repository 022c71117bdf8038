"""Scheduled sampling with two decoder passes (Mihaylova & Martins 2019, as in the seed project).

Pass 1 is teacher-forced. Its logits go through Gumbel-softmax (temperature tau; hard one-hot with a
straight-through gradient late in training) and the embedding matrix, giving a soft "model's own
guess" embedding per position. Shifted right by one, that guess replaces the gold input embedding
at each position with probability 1 - tf_prob. Pass 2 runs on the mixed inputs; the loss is CE of
pass 2 against the gold labels. Gradients flow through both passes unless `detach_first_pass`.

Schedules are functions of training progress (step / total steps), so a resumed or lengthened run
stays on them: tf_prob 1 -> 0 linearly (optionally after a teacher-forced phase), tau 5 -> 0.1
exponentially, hard samples in the last half.

Label lengths within a batch vary a lot (batches are grouped by image width; half of the decoder's
positions would be padding), so the decoder runs on groups of `group_size` sequences of similar
length, each cut to its own longest label. The decoder is causal, so a sequence's logits do not depend
on the padding after it: the loss is the same as one padded pass, for less work. Gumbel noise and the
mixing coins are drawn for the whole batch first, so the grouping does not change the random draws.
"""
import torch
import torch.nn.functional as F
from torch import nn
from transformers.models.vision_encoder_decoder.modeling_vision_encoder_decoder import shift_tokens_right

from training.geometry.box_attention import box_attention_loss
from training.geometry.guided_attention import guided_attention_loss, image_columns, key_positions
from training.geometry.targets import keys_in_boxes

FIRST_LMX_ID = 4  # ids below are the tokenizer's specials (pad, bos, eos, unk)


def teacher_forcing_prob(progress: float, start: float = 0.0, floor: float = 0.0) -> float:
    """1 until `start`, then linear down to `floor` at the end. DESIGN's schedule is start=0, floor=0;
    on a short CPU budget a teacher-forced phase first lets the model learn to read before it is fed
    its own (still random) guesses."""
    if progress <= start:
        return 1.0
    ramp = min(1.0, (progress - start) / max(1e-9, 1.0 - start))
    return 1.0 - (1.0 - floor) * ramp


def gumbel_tau(progress: float, start: float = 5.0, end: float = 0.1) -> float:
    return start * (end / start) ** min(1.0, max(0.0, progress))


def straight_through(progress: float, after: float = 0.5) -> bool:
    return progress >= after


def gumbel_noise(shape, device=None) -> torch.Tensor:
    """Standard Gumbel samples, drawn as torch.nn.functional.gumbel_softmax draws them."""
    return -torch.empty(shape, device=device).exponential_().log()


def gumbel_softmax(logits, noise, tau: float, hard: bool) -> torch.Tensor:
    """F.gumbel_softmax with given noise: soft samples, or one-hot with the soft gradient (straight-through)."""
    soft = ((logits + noise) / tau).softmax(-1)
    if not hard:
        return soft
    one_hot = torch.zeros_like(soft).scatter_(-1, soft.argmax(-1, keepdim=True), 1.0)
    return one_hot - soft.detach() + soft


def label_lengths(labels: torch.Tensor) -> torch.Tensor:
    """Per row, the position after its last label that is not -100 (padding sits at the end)."""
    valid = (labels != -100).int()
    return torch.where(valid.any(1), labels.shape[1] - valid.flip(1).argmax(1), 0)


def length_groups(labels: torch.Tensor, group_size: int) -> list[tuple[torch.Tensor | None, int]]:
    """[(rows, longest label)], rows sorted by label length in groups of `group_size` (0: one group;
    rows None means the whole batch in its order)."""
    batch, width = labels.shape
    if group_size <= 0 or group_size >= batch:
        return [(None, width)]
    lengths = label_lengths(labels)
    order = torch.argsort(lengths, stable=True)
    return [(rows, max(1, int(lengths[rows].max()))) for rows in order.split(group_size)]


def _select(x, rows, length=None):
    """x[rows, :length]; None stays None, and rows None means every row (no copy)."""
    if x is None:
        return None
    x = x if rows is None else x[rows]
    return x if length is None else x[:, :length]


class ScheduledSampling(nn.Module):
    """Wraps an AcaiOMRForConditionalGeneration so that one forward() is one training loss; it is
    this wrapper that accelerate prepares (DDP must see the whole computation in one forward).
    `group_size`: sequences per decoder pass (0: the whole batch in one padded pass)."""

    def __init__(self, model, detach_first_pass: bool = False, group_size: int = 0, guided_weight: float = 0.0,
                 guided_heads: int | None = None, measure_id: int | None = None, backup_id: int | None = None,
                 box_weight: float = 0.0, corrupt_prob: float = 0.0, corrupt_ids=None, token_weights=None):
        super().__init__()
        self.model = model
        self.detach_first_pass = detach_first_pass
        self.group_size = group_size
        # training.geometry.guided_attention: weight, the heads per layer it steers (default half), the `measure` token
        self.guided_weight = guided_weight
        self.guided_heads = guided_heads or max(1, model.config.decoder.num_attention_heads // 2)
        self.measure_id = measure_id
        self.backup_id = backup_id  # with measure spans: splits a measure into its voices' stretches
        if guided_weight and measure_id is None:
            raise ValueError("guided attention needs the id of the `measure` token")
        # training.geometry.box_attention: weight of pulling the steered heads onto each token's engraved box
        self.box_weight = box_weight
        # share of the teacher-forced decoder inputs replaced by random LMX tokens (SMT, DAN: ~0.2)
        self.corrupt_prob = corrupt_prob
        # the token ids that may be corrupted, each into another of them (None: any LMX token into any)
        self.corrupt_ids = None if corrupt_ids is None else torch.as_tensor(corrupt_ids, dtype=torch.long)
        # (V,) weight of each label token in the CE and of each token's column in the dense loss (None: all 1):
        # a key or time signature is one token, yet a wrong one spoils every measure after it
        self.token_weights = None if token_weights is None else torch.as_tensor(token_weights, dtype=torch.float32)
        self.parts = {}

    def record_cross_attention(self, on: bool) -> None:
        for layer in self.model.decoder.layers:
            layer.record_cross_attention = on
            layer.cross_attention_probs = None

    def decode(self, inputs_embeds, encoder_states, encoder_mask):
        return self.model.decoder(
            inputs_embeds=inputs_embeds, encoder_hidden_states=encoder_states,
            encoder_attention_mask=encoder_mask, use_cache=False,
        ).logits

    def forward(self, pixel_values, pixel_mask, labels, tf_prob: float = 1.0, tau: float = 1.0, hard: bool = False,
                measure_spans=None, token_patch_boxes=None, dense_targets=None):
        """-> (loss, pass-2 logits, detached and zero where padded). labels: (B, T), padded with -100.
        The loss is the CE (each label token times its `token_weights`; `parts["ce"]` is the plain mean)
        plus, when the model has a bag-of-tokens head, its weighted auxiliary loss, and with guided attention its weighted prior (sharper where `measure_spans` are known, see
        training.geometry.guided_attention); with the engraver's geometry (training.batches.collate), the box attention
        loss on `token_patch_boxes` and the dense head's loss on `dense_targets`. `self.parts` keeps
        each (floats) for logging."""
        encoder_states, encoder_mask, encoder_output = self.model.encode(pixel_values, pixel_mask,
                                                                         with_encoder_output=True)
        noise = replace = None
        if tf_prob < 1.0:
            noise = gumbel_noise((*labels.shape, self.model.decoder.config.vocab_size), labels.device)
            replace = torch.rand(labels.shape, device=labels.device) >= tf_prob
            replace[:, 0] = False  # the start token is always given
        guided = self.guided_weight > 0 and self.training
        boxed = self.box_weight > 0 and self.training and token_patch_boxes is not None
        key_x = columns = inside = known = None
        if guided:
            grid = self.grid(pixel_values)
            key_x, columns = key_positions(encoder_mask, grid), image_columns(encoder_mask, grid)
        else:
            measure_spans = None
        if boxed:
            inside, known = keys_in_boxes(token_patch_boxes, self.grid(pixel_values))
            known = known & (labels != -100)
        guided_sum, guided_count = 0.0, 0
        box_sum, box_mass_sum, box_count = 0.0, 0.0, 0
        loss_sum, extra_sum, logits = 0.0, 0.0, None
        weights = None if self.token_weights is None else self.token_weights.to(labels.device)
        if guided or boxed:
            self.record_cross_attention(True)
        for rows, length in length_groups(labels, self.group_size):
            group_labels, noise_part, replace_part = (_select(x, rows, length) for x in (labels, noise, replace))
            group_logits = self.two_pass(_select(encoder_states, rows), _select(encoder_mask, rows), group_labels,
                                         noise_part, replace_part, tau, hard)
            if guided:
                probs = [layer.cross_attention_probs for layer in self.model.decoder.layers]
                share, judged = guided_attention_loss(probs, group_labels, _select(key_x, rows), self.measure_id,
                                                      self.guided_heads, spans=_select(measure_spans, rows),
                                                      backup_id=self.backup_id, columns=_select(columns, rows))
                guided_sum, guided_count = guided_sum + share * judged, guided_count + judged
            if boxed:
                probs = [layer.cross_attention_probs for layer in self.model.decoder.layers]
                box_loss, mass, judged = box_attention_loss(probs, _select(inside, rows, length),
                                                            _select(known, rows, length), self.guided_heads)
                box_sum, box_mass_sum, box_count = box_sum + box_loss * judged, box_mass_sum + mass * judged, box_count + judged
            token_ce = F.cross_entropy(group_logits.float().flatten(0, 1), group_labels.flatten(),
                                       ignore_index=-100, reduction="none")
            loss_sum = loss_sum + token_ce.sum()
            if weights is not None:  # the weighted part beyond 1, so that the logged CE stays comparable
                extra_sum = extra_sum + (token_ce * (weights[group_labels.flatten().clamp(min=0)] - 1)).sum()
            if rows is None:
                logits = group_logits.detach()
            else:
                if logits is None:
                    logits = group_logits.new_zeros(*labels.shape, group_logits.shape[-1])
                logits[rows, :length] = group_logits.detach()
        if guided or boxed:
            self.record_cross_attention(False)
        count = (labels != -100).sum().clamp(min=1)
        loss = loss_sum / count
        self.parts = {"ce": float(loss.detach())}
        loss = loss + extra_sum / count
        if guided:
            share = guided_sum / max(1, guided_count)
            self.parts["guided"] = float(share.detach()) if torch.is_tensor(share) else float(share)
            loss = loss + self.guided_weight * share
        if boxed:
            box_loss = box_sum / max(1, box_count)
            self.parts["box"] = float(box_loss.detach()) if torch.is_tensor(box_loss) else float(box_loss)
            self.parts["box_mass"] = box_mass_sum / max(1, box_count)
            loss = loss + self.box_weight * box_loss
        if getattr(self.model, "dense_head", None) is not None and dense_targets is not None:
            dense, _ = self.model.dense_loss(encoder_states, encoder_mask, dense_targets, weights)
            self.parts["dense"] = float(dense.detach())
            loss = loss + self.model.config.dense_loss_weight * dense
        if getattr(self.model, "bag_head", None) is not None:
            bag = self.model.bag_of_tokens_loss(encoder_output, encoder_mask, labels)
            self.parts["bag"] = float(bag.detach())
            loss = loss + self.model.config.bag_loss_weight * bag
        return loss, logits

    def corrupt(self, input_ids):
        """Replace `corrupt_prob` of the decoder inputs after the start token by random LMX tokens: the
        decoder cannot lean on its history alone, and learns to recover from a wrong token."""
        coins = torch.rand(input_ids.shape, device=input_ids.device) < self.corrupt_prob
        coins[:, 0] = False
        if self.corrupt_ids is None:
            vocab = self.model.decoder.config.vocab_size
            noise = torch.randint(FIRST_LMX_ID, vocab, input_ids.shape, device=input_ids.device)
            return torch.where(coins & (input_ids >= FIRST_LMX_ID), noise, input_ids)
        # only these ids (pitches): the history still adds up (a backup's duration is the sum of the
        # voice's durations before it), but a pitch can no longer be copied from it
        ids = self.corrupt_ids.to(input_ids.device)
        noise = ids[torch.randint(len(ids), input_ids.shape, device=input_ids.device)]
        return torch.where(coins & torch.isin(input_ids, ids), noise, input_ids)

    def grid(self, pixel_values) -> tuple[int, int]:
        patch = self.model.config.encoder.patch_size
        return pixel_values.shape[-2] // patch, pixel_values.shape[-1] // patch

    def two_pass(self, encoder_states, encoder_mask, labels, noise, replace, tau, hard):
        """Decoder logits for `labels`: teacher-forced when `replace` is None, else pass 2 of the mix."""
        config = self.model.config
        input_ids = shift_tokens_right(labels, config.pad_token_id, config.decoder_start_token_id)
        if self.corrupt_prob > 0 and self.training:
            input_ids = self.corrupt(input_ids)
        embedding = self.model.decoder.embed_tokens
        inputs = embedding(input_ids)
        if replace is not None:
            with torch.set_grad_enabled(torch.is_grad_enabled() and not self.detach_first_pass):
                first = self.decode(inputs, encoder_states, encoder_mask)
                weights = gumbel_softmax(first.float(), noise, tau, hard)  # (B, T, V)
                guess = weights.to(embedding.weight.dtype) @ embedding.weight  # (B, T, D)
            # the guess at position t is the model's token t, i.e. the decoder input at t + 1
            guess = torch.cat([inputs[:, :1], guess[:, :-1].to(inputs.dtype)], dim=1)
            inputs = torch.where(replace[..., None], guess, inputs)
        return self.decode(inputs, encoder_states, encoder_mask)


__all__ = ["ScheduledSampling", "gumbel_noise", "gumbel_softmax", "gumbel_tau", "length_groups", "straight_through",
           "teacher_forcing_prob"]
