"""Losses live here, not in the models: next-token (CLM) and masked-token (MLM) cross-entropy,
returned as sums with their counts so that bits per base can be computed exactly over a whole
evaluation, and per-token averages for the optimizer.

Bits per base: the summed loss (nats) of the scored tokens / ln 2 / the bases those tokens
stand for (``tok.advance``: 1 for a letter, K for a K-mer, the length of a BPE piece).  Separators
and special tokens are never scored as bases.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from genolm.tokenize import SEP

IGNORE = -100


def clm_targets(ids: torch.Tensor, first_symbol_id: int) -> torch.Tensor:
    """(B, T) next-token targets aligned with the inputs: target[t] = ids[t+1]; the last position
    and every non-sequence target (<pad>, a condition, …) are ignored, except the <sep> that ends a
    record (right after a sequence token): the model learns where records end, so generation can
    stop where it would (``genolm generate --stop-at-end``).  <sep> stands for no bases, so bits
    per base (:func:`scored_nats`) leave it out.

    >>> from genolm.tokenize import SEP
    >>> clm_targets(torch.tensor([[SEP, 77, 78, SEP, SEP, 79]]), 71).tolist() == [[77, 78, SEP, IGNORE, 79, IGNORE]]
    True
    """
    targets = torch.full_like(ids, IGNORE)
    nxt = ids[:, 1:]
    keep = (nxt >= first_symbol_id) | ((nxt == SEP) & (ids[:, :-1] >= first_symbol_id))
    targets[:, :-1] = torch.where(keep, nxt, torch.full_like(nxt, IGNORE))
    return targets


def token_losses(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """(B, T) cross-entropy in nats per position (0 where the target is ignored), in float32."""
    flat = F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), targets.reshape(-1),
                           ignore_index=IGNORE, reduction="none")
    return flat.view(targets.shape)


def mean_loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Scalar mean cross-entropy over scored positions (what the optimizer minimises)."""
    return F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), targets.reshape(-1),
                           ignore_index=IGNORE)


def bits_per_base(nats: float, bases: float) -> float:
    return nats / math.log(2) / bases if bases else float("nan")


def scored_nats(logits: torch.Tensor, targets: torch.Tensor, weight: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor]:
    """The one likelihood of held-out tokens: (B,) nats and (B,) bases of each row.

    ``weight`` (vocabulary,) is the bases a target token stands for (``tok.advance``); a target
    of weight 0 (an ambiguous letter a caller leaves out, a special token) is not scored.  Bits
    per base of a row = nats / ln 2 / bases, whatever the tokenizer: a 6-mer's loss counts for 6 bases.

    >>> logits = torch.zeros(1, 3, 4)  # a uniform guess over 4 tokens
    >>> nats, bases = scored_nats(logits, torch.tensor([[2, 3, IGNORE]]), torch.tensor([0, 0, 1, 6]))
    >>> round(float(nats[0] / math.log(2) / bases[0]), 4), int(bases[0])  # 2 x 2 bits over 7 bases
    (0.5714, 7)
    """
    w = weight.to(targets.device)[targets.clamp(min=0)] * (targets != IGNORE)  # (B, T) bases per target
    nats = token_losses(logits, targets) * (w > 0)  # (B, T)
    return nats.double().sum(1), w.double().sum(1)
