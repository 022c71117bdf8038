"""Cross-attention supervised with the engraver's geometry: chosen heads are pulled onto each token's box.

Where guided attention (training/geometry/guided_attention.py) only knows a band of the width from barlines
and a token's place in its voice, the data engine knows the very symbol each token belongs to
(training/data/token_geometry.py). For the query that predicts a token, the loss is -log of the
attention mass its steered heads put on the patches its symbol touches, averaged over the tokens that
have a box and over layers. Uniform attention over ~640 patches scores about 5.8; all the mass inside
scores 0. The other heads stay free (the key, the clefs, what came before).
"""
import torch

EPSILON = 1e-6


def box_attention_loss(probs: list[torch.Tensor], inside: torch.Tensor, known: torch.Tensor, heads: int):
    """probs: per layer (B, H, T, N); inside: (B, T, N) the keys of each position's box; known: (B, T).
    -> (loss, mean mass inside over steered heads and layers, positions judged)."""
    judged = int(known.sum())
    if judged == 0:
        zero = probs[0].new_zeros(())
        return zero, 0.0, 0
    weights = inside.to(probs[0].dtype)[:, None]  # (B, 1, T, N)
    masses = [(p[:, :heads] * weights).sum(-1).mean(1) for p in probs]  # per layer (B, T)
    mass = torch.stack(masses)  # (L, B, T)
    loss = -(mass + EPSILON).log()[:, known].mean()
    return loss, float(mass[:, known].mean().detach()), judged


__all__ = ["box_attention_loss"]
