"""Sampling from a causal model: a batch of rows after one prefix, one token per step, each draw
the Gumbel-max of the filtered logits (min-p, temperature, top-k, top-p) plus noise drawn up front from
a seeded generator, so a step needs no host sync.  Transformers decode with a preallocated
key/value cache, step by step from Python (eager), as one fixed-shape step (static), replayed as
a CUDA graph (graph) or compiled first (compile); LSTMs carry their state.  Past the window,
generation continues from the last half window.  ``genolm generate`` writes what it samples."""

from __future__ import annotations

import math

import numpy as np

from genolm.errors import GenolmError
from genolm.train.distributed import compiled

STOP_CHECK = 64  # steps between checks that every row has drawn its stop token


def filter_logits(logits, temperature: float, top_k: int, top_p: float, min_p: float = 0.0):
    """Scaled logits (B, V) with what --min-p / --top-k / --top-p leave out set to -inf.

    ``min_p`` is read on the model's own distribution, before the temperature: a token less than
    ``min_p`` times as likely as the most likely one is left out, so a temperature above 1 spreads
    the draws over the alternatives the model finds plausible (a variable site) and never onto
    what it rules out (a conserved one).

    >>> import torch
    >>> z = filter_logits(torch.tensor([[0.0, -1.0, -5.0]]), 2.0, 0, 1.0, min_p=0.1)
    >>> [round(p, 3) for p in z.softmax(-1)[0].tolist()]  # exp(-5) < 0.1: out; exp(-1) > 0.1: kept, flattened
    [0.622, 0.378, 0.0]
    """
    import torch

    if min_p > 0:
        logits = logits.masked_fill(logits < logits.max(-1, keepdim=True).values + math.log(min_p), float("-inf"))
    logits = logits / temperature
    if 0 < top_k < logits.shape[-1]:
        kth = logits.topk(top_k, dim=-1).values[:, -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p < 1.0:
        ordered, order = logits.sort(dim=-1, descending=True)
        mass = ordered.softmax(-1).cumsum(-1)
        drop = mass - ordered.softmax(-1) >= top_p  # everything after the set reaching top_p
        logits = logits.masked_fill(torch.zeros_like(drop).scatter(1, order, drop), float("-inf"))
    return logits


ENGINES = ("auto", "eager", "static", "graph", "compile")


def choose(logits, noise, temperature: float, top_k: int, top_p: float, min_p: float = 0.0):
    """(B,) index of the next base: argmax at temperature 0, else a draw from the filtered
    softmax by the Gumbel-max trick with ``noise`` (B, V) uniform in [0, 1) (so the draw is a pure
    function of the noise, and sampling can live inside a CUDA graph)."""
    import torch

    if temperature == 0:
        return logits.argmax(-1)
    z = filter_logits(logits, temperature, top_k, top_p, min_p)
    return (z - torch.log(-torch.log(noise.clamp_min(1e-30)))).argmax(-1)


def sample_batch(model, prefix: np.ndarray, allowed: np.ndarray, rows: int, length: int, *, temperature: float,
                 top_k: int, top_p: float, generator, device: str, keep: int | None = None, step=None, min_p: float = 0.0,
                 engine: str = "auto", fixed: int = 0, window: int | None = None,
                 stop: int | None = None, min_stop: int = 1) -> np.ndarray:
    """(rows, length) sampled token ids after ``prefix`` (ids, <sep> first), drawn among ``allowed``.

    With ``stop`` (a token id among ``allowed``, such as <sep>: the end of a record), sampling ends
    early once every row has drawn it (checked every ``STOP_CHECK`` steps), and fewer than
    ``length`` columns come back; the caller cuts each row at its first ``stop``.  The first
    ``min_stop`` draws (at least one: no empty rows) are never ``stop``.

    Past the ``window`` (default: the model's max_len), generation continues from the last
    ``keep`` tokens (default: half the window) re-read from position 0, after the first ``fixed``
    tokens of ``prefix`` (condition tokens, which every training window started with).

    Engines (transformers): ``eager`` runs each step from Python on a cache sliced to the tokens so
    far; ``static`` runs a fixed-shape step (the whole cache, masked) that ``graph`` captures in a
    CUDA graph and ``compile`` first compiles with torch.compile; ``auto``: graph on a GPU, eager
    otherwise.  All draw from the same noise, so for the same seed they give the same bases up to
    the rounding of the logits.  LSTMs run step by step on their state (no window)."""
    import torch

    from genolm.train.distributed import autocast

    if engine not in ENGINES:
        raise GenolmError("unknown generation engine", expected=" | ".join(ENGINES), found=repr(engine))
    if engine == "auto":
        engine = "graph" if device.startswith("cuda") else "eager"
    if engine in ("graph", "compile") and not device.startswith("cuda"):
        raise GenolmError(f"the {engine} engine needs a CUDA device", found=device, hint="use --engine eager")
    allowed_t = torch.as_tensor(np.asarray(allowed, np.int64), device=device)
    # every draw's noise up front, from the seeded generator: (length, rows, n_allowed)
    noise = torch.rand((length, rows, len(allowed)), generator=generator, device=device)
    ctx = torch.as_tensor(np.asarray(prefix, np.int64), device=device)[None].expand(rows, -1)
    out = torch.empty(rows, length, dtype=torch.long, device=device)
    backbone, head = model.backbone, model.lm_head

    def ended(t: int) -> bool:  # every row has drawn `stop` (a device sync, so only now and then)
        return stop is not None and t % STOP_CHECK == 0 and bool((out[:, :t] == stop).any(1).all())

    stop_col = int(np.flatnonzero(np.asarray(allowed) == stop)[0]) if stop is not None else -1
    # per draw, what the stop's logit gets: -inf before min_stop (never an empty row), then 0
    stop_bias = torch.zeros(length, device=device)
    stop_bias[: max(1, min_stop)] = float("-inf")

    def pick(h, t: int):
        logits = head(h).float()[:, allowed_t]
        if stop_col >= 0 and t < max(1, min_stop):
            logits[:, stop_col] = float("-inf")
        tok = allowed_t[choose(logits, noise[t], temperature, top_k, top_p, min_p)]
        out[:, t] = tok
        if step is not None:
            step(rows)
        return tok

    with torch.no_grad(), autocast(device):
        if model.config.family == "lstm":
            h, state = backbone.forward_step(ctx)
            for t in range(length):
                if ended(t):
                    return out[:, :t].cpu().numpy()
                tok = pick(h[:, -1], t)
                if t + 1 < length:
                    h, state = backbone.forward_step(tok[:, None], state)
            return out.cpu().numpy()
        W = min(window or model.config.max_len, model.config.max_len)
        keep = keep or W // 2
        if fixed >= keep:
            raise GenolmError("the condition prefix fills the window", found=f"{fixed} tokens, window {W}")
        head_ids = ctx[:, :fixed]
        ctx = torch.cat([head_ids, ctx[:, fixed:][:, -(W - fixed):]], 1)
        # the positions decoding reaches: a static step reads the whole cache, so no more than that
        reach = min(W, ctx.shape[1] + length - 1)
        cache = backbone.new_cache(rows, torch.bfloat16 if device.startswith("cuda") else torch.float32, device, reach)
        tok = pick(backbone(ctx, cache=cache)[:, -1], 0)
        pos, t = ctx.shape[1], 1
        if engine == "eager":
            while t < length and not ended(t):
                if pos == W:  # the window is full: continue from its last `keep` tokens, from position 0
                    recent = torch.cat([head_ids, torch.cat([ctx[:, fixed:], out[:, :t]], 1)[:, fixed - keep:]], 1)
                    cache.start = 0
                    h = backbone(recent, cache=cache)[:, -1]
                    pos = recent.shape[1]
                else:
                    h = backbone(tok[:, None], cache=cache)[:, -1]
                    pos += 1
                tok = pick(h, t)
                t += 1
            return out[:, :t].cpu().numpy()
        # static shapes: the step reads its token, position and draw index from device buffers
        tok_buf = tok[:, None].clone()
        pos_buf = torch.tensor([pos], device=device)
        t_buf = torch.tensor([t], device=device)
        static = cache.at(pos_buf)  # the same buffers, addressed by pos_buf
        bufs = (backbone, head, tok_buf, t_buf, static, noise, out, allowed_t, temperature, top_k, top_p, min_p,
                stop_col, stop_bias)

        def static_step():
            (_compiled_step() if engine == "compile" else _static_step)(*bufs)

        run_step = static_step
        if engine in ("graph", "compile") and t < length:
            tok0 = tok_buf.clone()
            side = torch.cuda.Stream()
            side.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(side):
                for _ in range(3):  # warm up (and compile) outside the graph, writing only the cache
                    pos_buf.fill_(min(pos, reach - 1))  # slot and the draw the next real step overwrites
                    t_buf.fill_(t)
                    static_step()
            torch.cuda.current_stream().wait_stream(side)
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph):
                static_step()
            tok_buf.copy_(tok0)
            pos_buf.fill_(pos)
            t_buf.fill_(t)
            run_step = graph.replay
        while t < length and not ended(t):
            if pos == W:  # as in eager: refill from the last `keep` tokens, from position 0
                recent = torch.cat([head_ids, torch.cat([ctx[:, fixed:], out[:, :t]], 1)[:, fixed - keep:]], 1)
                cache.start = 0
                tok = pick(backbone(recent, cache=cache)[:, -1], t)
                pos, t = recent.shape[1], t + 1
                tok_buf.copy_(tok[:, None])
                pos_buf.fill_(pos)
                t_buf.fill_(t)
                continue
            run_step()
            if step is not None:
                step(rows)
            pos, t = pos + 1, t + 1
    return out[:, :t].cpu().numpy()


def _static_step(backbone, head, tok_buf, t_buf, cache, noise, out, allowed_t, temperature: float,
                 top_k: int, top_p: float, min_p: float = 0.0, stop_col: int = -1, stop_bias=None) -> None:
    """One decoding step on device buffers only: the token in ``tok_buf`` at the cache's
    ``position`` goes through the model, the next one is drawn with ``noise[t_buf]`` into
    ``out[:, t_buf]`` and ``tok_buf``, and both counters advance (the position in the forward).
    The stop token's logit (column ``stop_col``) gets ``stop_bias[t_buf]`` (-inf: not yet)."""
    h = backbone(tok_buf, cache=cache)[:, -1]
    z = noise.index_select(0, t_buf)[0]
    logits = head(h).float()[:, allowed_t]
    if stop_col >= 0:
        logits[:, stop_col] += stop_bias.index_select(0, t_buf)[0]
    new = allowed_t[choose(logits, z, temperature, top_k, top_p, min_p)]
    out.index_copy_(1, t_buf, new[:, None])
    tok_buf.copy_(new[:, None])
    t_buf.add_(1)


_COMPILED: list = []


def _compiled_step():
    """:func:`_static_step` through torch.compile, made once (recompiled per shape, not per call)."""
    if not _COMPILED:
        _COMPILED.append(compiled(_static_step, dynamic=False))
    return _COMPILED[0]


def bf16_weights(model):
    """The model with bf16 weights for decoding on a GPU (rotary tables stay fp32), in place."""
    import torch

    rope = getattr(model.backbone, "rope_cos", None), getattr(model.backbone, "rope_sin", None)
    model.to(torch.bfloat16)
    if rope[0] is not None:
        model.backbone.rope_cos, model.backbone.rope_sin = rope
    return model
