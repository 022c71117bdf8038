"""A guided-attention loss for the decoder's cross-attention (cf. Tachibana et al. 2017's diagonal prior).

Early in training, cross-attention is uniform over the ~640 patches of a system, so the gradient that
would teach a query where to look is diluted 640-fold; in our runs it stayed uniform for 800 steps
(entropy / log N = 0.99) while the decoder learned LMX from its own history. This loss gives it a weak,
always-true prior to start from: a token of measure m (of n in the system) lies in the m-th n-th of the
image's width, give or take half a measure (engraved measures differ in width). The loss is the share
of attention that falls outside that band, for some heads only (the others stay free, e.g. to read the
clefs and key at the start of the system), and systems of one measure are left out.
"""
import torch


def key_positions(patch_mask: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
    """(B, N) patch mask of a (h, w) grid -> (B, N) horizontal centre of each key's column in [0, 1],
    relative to the image's own (unpadded) width."""
    batch = patch_mask.shape[0]
    height, width = grid
    columns = patch_mask.view(batch, height, width).any(1).sum(1).clamp(min=1)  # real columns per image
    x = (torch.arange(width, device=patch_mask.device) + 0.5)[None, :] / columns[:, None]  # (B, w)
    return x[:, None, :].expand(batch, height, width).reshape(batch, height * width)


def measure_bands(labels: torch.Tensor, measure_id: int, margin: float = 0.5):
    """-> (low, high, valid), each (B, T): the band of the width where each predicted token's measure
    lies, and which tokens are judged (real labels, in a system of two measures or more)."""
    starts = labels == measure_id
    index = starts.cumsum(1) - 1  # the measure of the token predicted at each position
    count = starts.sum(1, keepdim=True)
    measures = count.clamp(min=1).to(torch.float32)
    low = (index - margin) / measures
    high = (index + 1 + margin) / measures
    valid = (labels != -100) & (count >= 2) & (index >= 0)
    return low, high, valid


def guided_attention_loss(probs: list[torch.Tensor], labels, key_x, measure_id: int, heads: int, margin: float = 0.5):
    """Mean share of attention outside the measure band, over judged tokens, the first `heads` heads
    and the given layers' probabilities [(B, H, T, N)]. -> (loss, judged token count)."""
    low, high, valid = measure_bands(labels, measure_id, margin)
    judged = int(valid.sum())
    if judged == 0:
        return probs[0].new_zeros(()), 0
    x = key_x[:, None, :]
    outside = ((x < low[..., None]) | (x > high[..., None])).to(probs[0].dtype)  # (B, T, N)
    shares = [(p[:, :heads] * outside[:, None]).sum(-1).mean(1) for p in probs]  # (B, T) per layer
    share = torch.stack(shares).mean(0)
    return share[valid].mean(), judged


__all__ = ["guided_attention_loss", "key_positions", "measure_bands"]
