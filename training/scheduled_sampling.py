"""Scheduled sampling with two decoder passes (Mihaylova & Martins 2019, as in the seed project).

Pass 1 is teacher-forced. Its logits go through Gumbel-softmax (temperature tau; hard one-hot with a
straight-through gradient late in training) and the embedding matrix, giving a soft "model's own
guess" embedding per position. Shifted right by one, that guess replaces the gold input embedding
at each position with probability 1 - tf_prob. Pass 2 runs on the mixed inputs; the loss is CE of
pass 2 against the gold labels. Gradients flow through both passes unless `detach_first_pass`.

Schedules are functions of training progress (step / total steps), so a resumed or lengthened run
stays on them: tf_prob 1 -> 0 linearly, tau 5 -> 0.1 exponentially, hard samples in the last half.
"""
import torch
import torch.nn.functional as F
from torch import nn
from transformers.models.vision_encoder_decoder.modeling_vision_encoder_decoder import shift_tokens_right


def teacher_forcing_prob(progress: float) -> float:
    return min(1.0, max(0.0, 1.0 - progress))


def gumbel_tau(progress: float, start: float = 5.0, end: float = 0.1) -> float:
    return start * (end / start) ** min(1.0, max(0.0, progress))


def straight_through(progress: float, after: float = 0.5) -> bool:
    return progress >= after


class ScheduledSampling(nn.Module):
    """Wraps an AcaiOMRForConditionalGeneration so that one forward() is one training loss; it is
    this wrapper that accelerate prepares (DDP must see the whole computation in one forward)."""

    def __init__(self, model, detach_first_pass: bool = False):
        super().__init__()
        self.model = model
        self.detach_first_pass = detach_first_pass

    def decode(self, inputs_embeds, encoder_states, encoder_mask):
        return self.model.decoder(
            inputs_embeds=inputs_embeds, encoder_hidden_states=encoder_states,
            encoder_attention_mask=encoder_mask, use_cache=False,
        ).logits

    def forward(self, pixel_values, pixel_mask, labels, tf_prob: float = 1.0, tau: float = 1.0, hard: bool = False):
        """-> (CE loss, pass-2 logits). labels: (B, T), padded with -100."""
        config = self.model.config
        encoder_states, encoder_mask = self.model.encode(pixel_values, pixel_mask)
        input_ids = shift_tokens_right(labels, config.pad_token_id, config.decoder_start_token_id)
        embedding = self.model.decoder.embed_tokens
        inputs = embedding(input_ids)
        if tf_prob < 1.0:
            with torch.set_grad_enabled(torch.is_grad_enabled() and not self.detach_first_pass):
                first = self.decode(inputs, encoder_states, encoder_mask)
                weights = F.gumbel_softmax(first.float(), tau=tau, hard=hard)  # (B, T, V)
                guess = weights.to(embedding.weight.dtype) @ embedding.weight  # (B, T, D)
            # the guess at position t is the model's token t, i.e. the decoder input at t + 1
            guess = torch.cat([inputs[:, :1], guess[:, :-1].to(inputs.dtype)], dim=1)
            replace = torch.rand(labels.shape, device=labels.device) >= tf_prob
            replace[:, 0] = False  # the start token is always given
            inputs = torch.where(replace[..., None], guess, inputs)
        logits = self.decode(inputs, encoder_states, encoder_mask)
        loss = F.cross_entropy(logits.float().flatten(0, 1), labels.flatten(), ignore_index=-100)
        return loss, logits


__all__ = ["ScheduledSampling", "teacher_forcing_prob", "gumbel_tau", "straight_through"]
