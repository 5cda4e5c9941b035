"""Training a causal model on whole records after a prefix of condition tokens: the
conditioned models of ``genolm env condition`` (one token per sample condition) and the
forecasting models of ``genolm evolve`` (an empty prefix, records weighted by recency)."""

from __future__ import annotations

import numpy as np
import torch

from genolm.io.progress import progress as progress_bar
from genolm.tokenize import PAD
from genolm.train import loop
from genolm.train.distributed import autocast
from genolm.train.losses import clm_targets, mean_loss
from genolm.train.optim import build_optimizer, build_scheduler


def train_conditioned(model, tok, rows: list[np.ndarray], prefixes: np.ndarray, unknown: np.ndarray, *,
                      steps: int, batch_size: int, window: int, lr: float, drop: float, table, device: str,
                      seed: int, log=None, progress: bool = False, weights: np.ndarray | None = None) -> list[float]:
    """Train ``model`` (causal) on windows of ``rows``, each after its prefix of condition ids
    (``prefixes[i]``; a column becomes ``unknown`` with chance ``drop``, all of them with chance
    ``drop``).  Windows are drawn uniformly over bases (times ``weights[i]`` per row when given);
    half are reverse-complemented when ``table`` is given.  Returns the loss of every step."""
    n_pre = prefixes.shape[1]
    span = window - n_pre
    lengths = np.array([len(r) for r in rows], float) * (1.0 if weights is None else np.asarray(weights, float))
    weights = lengths / lengths.sum()
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    optimizer = build_optimizer(model, lr=lr, weight_decay=0.1, device=device)
    scheduler = build_scheduler(optimizer, warmup=max(1, min(200, steps // 10)), total=steps, min_ratio=0.1)
    model.train()
    losses = []
    bar = progress_bar(steps, "train", "step", enabled=progress)

    def backward(step: int) -> torch.Tensor:
        batch = np.full((batch_size, window), PAD, np.int64)
        for b, i in enumerate(rng.choice(len(rows), size=batch_size, p=weights)):
            r = rows[i]
            start = int(rng.integers(0, max(1, len(r) - span + 1)))
            w = r[start: start + span]
            if table is not None and rng.random() < 0.5:
                w = table[w][::-1]
            batch[b, n_pre: n_pre + len(w)] = w
            pre = unknown if rng.random() < drop else np.where(rng.random(n_pre) < drop, unknown, prefixes[i])
            batch[b, :n_pre] = pre
        ids = torch.from_numpy(batch)
        targets = clm_targets(ids, tok.first_symbol_id).to(device)
        with autocast(device):
            logits = model(ids.to(device))
        loss = mean_loss(logits, targets)
        loss.backward()
        losses.append(float(loss.detach()))
        return loss.detach()

    def after_step(done: int, _loss, _norm) -> None:
        if log is not None and (done % 50 == 0 or done == steps):
            log({"step": done, "loss": float(np.mean(losses[-50:])), "lr": optimizer.param_groups[0]["lr"]})
        bar.set_postfix(loss=f"{losses[-1]:.3f}")
        bar.update(1)

    loop.fit(model, optimizer, scheduler, backward, steps=steps, grad_clip=1.0, after_step=after_step)
    bar.close()
    model.eval()
    return losses
