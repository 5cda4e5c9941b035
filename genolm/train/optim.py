"""The one optimizer and schedule of every training run: AdamW (fused on GPU) with decoupled
weight decay on matrices only, and linear warmup then cosine (or linear) decay."""

from __future__ import annotations

import math

import torch


def build_optimizer(model: torch.nn.Module, *, lr: float, weight_decay: float,
                    betas: tuple[float, float] = (0.9, 0.95), device: str = "cpu",
                    decay_vectors: bool = False) -> torch.optim.AdamW:
    """AdamW over the parameters that require a gradient: weight decay on 2-D weights (linear,
    embedding), none on norms and biases unless ``decay_vectors`` (fine-tuning decays them: a
    from-scratch CNN on a planted motif reached 0.93-0.96 test accuracy over 4 seeds with them
    decayed, 0.71-0.97 without)."""
    decay, no_decay = [], []
    for p in model.parameters():
        if p.requires_grad:
            (decay if p.dim() >= 2 or decay_vectors else no_decay).append(p)
    groups = [{"params": decay, "weight_decay": weight_decay},
              {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=lr, betas=betas, fused=device.startswith("cuda"))


def lr_factor(step: int, *, warmup: int, total: int, min_ratio: float, shape: str = "cosine") -> float:
    """Multiplier of the peak learning rate at ``step``: linear warmup, then cosine (or, with
    ``shape="linear"``, a straight line) down to min_ratio at ``total``.

    >>> [round(lr_factor(s, warmup=2, total=10, min_ratio=0.1), 3) for s in (0, 1, 2, 10)]
    [0.5, 1.0, 1.0, 0.1]
    >>> [round(lr_factor(s, warmup=2, total=10, min_ratio=0.0, shape="linear"), 3) for s in (1, 6, 10)]
    [1.0, 0.5, 0.0]
    """
    if step < warmup:
        return (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    falling = 1 - progress if shape == "linear" else 0.5 * (1 + math.cos(math.pi * progress))
    return min_ratio + (1 - min_ratio) * falling


def build_scheduler(optimizer, *, warmup: int, total: int, min_ratio: float, shape: str = "cosine"):
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: lr_factor(step, warmup=warmup, total=total, min_ratio=min_ratio, shape=shape))
