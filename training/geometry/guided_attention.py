"""A guided-attention loss for the decoder's cross-attention (cf. Tachibana et al. 2017's diagonal prior).

Early in training, cross-attention is uniform over the ~640 patches of a system, so the gradient that
would teach a query where to look is diluted 640-fold; in our runs it stayed uniform for 800 steps
(entropy / log N = 0.99) while the decoder learned LMX from its own history. This loss gives it a weak,
always-true prior to start from: a token of measure m (of n in the system) lies in the m-th n-th of the
image's width, give or take half a measure (engraved measures differ in width). The loss is the share
of attention that falls outside that band, for some heads only (the others stay free, e.g. to read the
clefs and key at the start of the system), and systems of one measure are left out.

When the barlines of a system were found (training.geometry.measure_spans), the prior is sharper and covers
one-measure systems too: each measure has its true span, and within it a token lies about as far
across as it is far through its voice's stretch of tokens (a measure's voices are separated by
`backup`, and each runs from the measure's start to its end), give or take a fifth of the measure.
"""
import torch

NOTE_BAND = 0.2  # half-width of a token's band within its measure, as a share of the measure


def image_columns(patch_mask: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
    """(B,) number of unpadded patch columns of each image."""
    height, width = grid
    return patch_mask.view(patch_mask.shape[0], height, width).any(1).sum(1).clamp(min=1)


def key_positions(patch_mask: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
    """(B, N) patch mask of a (h, w) grid -> (B, N) horizontal centre of each key's column in [0, 1],
    relative to the image's own (unpadded) width."""
    batch = patch_mask.shape[0]
    height, width = grid
    columns = image_columns(patch_mask, grid)
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


def stretch_fractions(labels: torch.Tensor, boundary: torch.Tensor) -> torch.Tensor:
    """(B, T) how far through its stretch each token is, in (0, 1); a stretch starts at each True of
    `boundary` and runs to the next (only real labels count towards its length)."""
    steps = torch.arange(labels.shape[1], device=labels.device).expand_as(labels)
    start = torch.where(boundary, steps, torch.zeros_like(steps)).cummax(1).values
    stretch = boundary.long().cumsum(1)
    lengths = torch.zeros(labels.shape[0], labels.shape[1] + 1, device=labels.device)
    lengths.scatter_add_(1, stretch, (labels != -100).float())
    return (steps - start + 0.5) / lengths.gather(1, stretch).clamp(min=1)


def note_bands(labels, measure_id: int, backup_id: int, spans: torch.Tensor, columns: torch.Tensor):
    """Bands from found measure spans (B, M, 2), NaN where unknown. -> (low, high, known), each (B, T);
    `known`: a real label whose measure's span is known. `columns` (B,) widens each band by a patch."""
    starts = labels == measure_id
    index = starts.cumsum(1) - 1
    fraction = stretch_fractions(labels, starts | (labels == backup_id))
    measure = index.clamp(0, spans.shape[1] - 1)
    x0, x1 = spans[..., 0].gather(1, measure), spans[..., 1].gather(1, measure)
    centre = x0 + fraction * (x1 - x0)
    half = NOTE_BAND * (x1 - x0) + 1.0 / columns[:, None]
    known = (labels != -100) & (index >= 0) & (index < spans.shape[1]) & torch.isfinite(centre)
    return centre - half, centre + half, known


def guided_attention_loss(probs: list[torch.Tensor], labels, key_x, measure_id: int, heads: int, margin: float = 0.5,
                          spans: torch.Tensor | None = None, backup_id: int | None = None,
                          columns: torch.Tensor | None = None):
    """Mean share of attention outside each token's band, over judged tokens, the first `heads` heads
    and the given layers' probabilities [(B, H, T, N)]. -> (loss, judged token count). With `spans`
    (and `backup_id`, `columns`), systems whose spans are known get note bands, the others measure bands."""
    low, high, valid = measure_bands(labels, measure_id, margin)
    if spans is not None:
        note_low, note_high, known = note_bands(labels, measure_id, backup_id, spans, columns)
        found = torch.isfinite(spans[:, 0, 0])[:, None]
        low, high = torch.where(known, note_low, low), torch.where(known, note_high, high)
        valid = torch.where(found, known, valid)
    judged = int(valid.sum())
    if judged == 0:
        return probs[0].new_zeros(()), 0
    x = key_x[:, None, :]
    outside = ((x < low[..., None]) | (x > high[..., None])).to(probs[0].dtype)  # (B, T, N)
    shares = [(p[:, :heads] * outside[:, None]).sum(-1).mean(1) for p in probs]  # (B, T) per layer
    share = torch.stack(shares).mean(0)
    return share[valid].mean(), judged


__all__ = ["guided_attention_loss", "image_columns", "key_positions", "measure_bands", "note_bands",
           "stretch_fractions"]
