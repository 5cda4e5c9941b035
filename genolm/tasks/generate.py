"""Sample new sequences from a causal genolm model (a transformer or an LSTM).

Batched sampling: the prompt (``<sep>``, or a conditioned model's condition tokens, then
``--prompt``) is run once, then one token per step for every row of the batch.  Transformers keep
a preallocated key/value cache; on a GPU the weights are cast to bf16 and each step is a CUDA
graph replay (``--engine graph``), or a torch.compile'd step captured the same way (``--engine
compile``: faster once compiled, a minute of compiling first); ``--engine eager`` runs the step
from Python.  LSTMs carry their state from step to step.  Only A/C/G/T (U for RNA models) are
sampled.  Past a transformer's window, generation continues from the last half window: the cache
is refilled with those tokens at positions from 0 (after the condition tokens), as the model saw
windows in training.

Each draw is the Gumbel-max of the filtered logits plus noise drawn up front from ``--seed``, so
the same seed, batch size and device give the same sequences on the CPU; on a GPU, kernels that
round differently from run to run can change a rare draw, and the sequence after it.  Records are
written as each batch finishes, to a temporary file renamed onto ``--out`` at the end.

``--temperature 0`` is greedy decoding (the most likely base every time); ``--top-k`` and
``--top-p`` cut the distribution before sampling.  ``--condition KEY=VALUE ...`` samples a model
from ``genolm env condition`` under those conditions (the others unknown).

Example:
  genolm generate --model run --num 200 --length 5000 --out gen.fasta --temperature 0.9 --seed 1
  genolm generate --model run --num 10 --length 1000 --prompt ATGAAACGC --out primed.fasta
  genolm generate --model ocean --num 50 --length 2000 --condition temperature_c=25 layer=SUR --out warm.fasta
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from genolm.errors import GenolmError
from genolm.io.progress import plural, progress
from genolm.tasks.options import add_device, add_no_progress, add_seed

HELP = "sample new sequences from a causal model (batched, KV cache, CUDA graphs, seeded)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True, help="causal genolm run (one-letter tokenizer)")
    p.add_argument("--num", type=int, default=10, help="sequences to write (default: 10)")
    p.add_argument("--length", type=int, required=True, help="new bases per sequence")
    p.add_argument("--out", required=True, help="output FASTA")
    p.add_argument("--prompt", help="sequence (or FASTA file: its first record) every output starts with")
    p.add_argument("--temperature", type=float, default=1.0, help="0: greedy (default: 1)")
    p.add_argument("--top-k", type=int, default=0, help="sample among the k most likely bases (0: all)")
    p.add_argument("--top-p", type=float, default=1.0, help="nucleus: the smallest set with this mass (default: 1)")
    add_seed(p, "sampling")
    p.add_argument("--batch-size", type=int, default=64, help="sequences sampled together")
    p.add_argument("--prefix", default="gen", help="record id prefix (default: gen)")
    p.add_argument("--condition", nargs="+", metavar="KEY=VALUE",
                   help="sample conditions of a model from 'genolm env condition' (others: unknown)")
    p.add_argument("--engine", default="auto", choices=ENGINES,
                   help="auto: a CUDA graph per step on a GPU, eager on the CPU; compile: torch.compile too")
    add_device(p)
    add_no_progress(p)


def _prompt(text: str | None) -> str:
    if not text:
        return ""
    if Path(text).is_file():
        from genolm.io.seqio import read_records

        first = next(iter(read_records(text, case="upper")), None)
        if first is None:
            raise GenolmError("no sequence in the prompt file", file=text)
        return first.seq
    return text.strip().upper()


def condition_prefix(config: dict, tok, condition: list[str] | None, run: str) -> tuple[np.ndarray, int | None]:
    """The ids every sequence starts after, and the training window: ``<sep>`` for a plain model;
    for a model from ``genolm env condition``, one condition token per variable (``--condition``
    values; unknown where not given), as its training windows began."""
    from genolm.tokenize import SEP
    from genolm.tokenize.conditions import ConditionCodec

    if "conditions" not in config:
        if condition:
            raise GenolmError("--condition needs a conditioned model (from genolm env condition)", file=run,
                              found="no condition layout in its config.json")
        return np.array([SEP], np.int64), None
    codec = ConditionCodec.from_dict(config["conditions"])
    values = codec.parse(",".join(condition or []))
    if not condition:
        print(f"generate: no --condition given; sampling with every condition unknown "
              f"(the model knows {', '.join(codec.names)})", file=sys.stderr)
    return np.asarray(codec.ids(values, tok), np.int64), config.get("window")


def filter_logits(logits, temperature: float, top_k: int, top_p: float):
    """Scaled logits (B, V) with what --top-k / --top-p leave out set to -inf."""
    import torch

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


def choose(logits, noise, temperature: float, top_k: int, top_p: float):
    """(B,) index of the next base: argmax at temperature 0, else a draw from the filtered
    softmax by the Gumbel-max trick with ``noise`` (B, V) uniform in [0, 1) (so the draw is a pure
    function of the noise, and sampling can live inside a CUDA graph)."""
    import torch

    if temperature == 0:
        return logits.argmax(-1)
    z = filter_logits(logits, temperature, top_k, top_p)
    return (z - torch.log(-torch.log(noise.clamp_min(1e-30)))).argmax(-1)


def sample_batch(model, prefix: np.ndarray, allowed: np.ndarray, rows: int, length: int, *, temperature: float,
                 top_k: int, top_p: float, generator, device: str, keep: int | None = None, step=None,
                 engine: str = "auto", fixed: int = 0, window: int | None = None) -> np.ndarray:
    """(rows, length) sampled token ids after ``prefix`` (ids, <sep> first), drawn among ``allowed``.

    Past the ``window`` (default: the model's max_len), generation continues from the last
    ``keep`` tokens (default: half the window) re-read from position 0, after the first ``fixed``
    tokens of ``prefix`` (condition tokens, which every training window started with).

    Engines (transformers): ``eager`` runs each step from Python on a cache sliced to the tokens so
    far; ``static`` runs a fixed-shape step (the whole cache, masked) that ``graph`` captures in a
    CUDA graph and ``compile`` first compiles with torch.compile; ``auto``: graph on a GPU, eager
    otherwise.  All draw from the same noise, so for the same seed they give the same bases up to
    the rounding of the logits.  LSTMs run step by step on their state (no window)."""
    import torch

    from genolm.tasks.env_condition import bf16_on_cuda

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

    def pick(h, t: int):
        tok = allowed_t[choose(head(h).float()[:, allowed_t], noise[t], temperature, top_k, top_p)]
        out[:, t] = tok
        if step is not None:
            step(rows)
        return tok

    with torch.no_grad(), bf16_on_cuda(device):
        if model.config.family == "lstm":
            h, state = backbone.forward_step(ctx)
            for t in range(length):
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
        tok = pick(backbone.forward_static(ctx, 0, cache)[:, -1], 0)
        pos, t = ctx.shape[1], 1
        if engine == "eager":
            while t < length:
                if pos == W:  # the window is full: continue from its last `keep` tokens, from position 0
                    recent = torch.cat([head_ids, torch.cat([ctx[:, fixed:], out[:, :t]], 1)[:, fixed - keep:]], 1)
                    h = backbone.forward_static(recent, 0, cache)[:, -1]
                    pos = recent.shape[1]
                else:
                    h = backbone.forward_static(tok[:, None], pos, cache)[:, -1]
                    pos += 1
                tok = pick(h, t)
                t += 1
            return out.cpu().numpy()
        # static shapes: the step reads its token, position and draw index from device buffers
        tok_buf = tok[:, None].clone()
        pos_buf = torch.tensor([pos], device=device)
        t_buf = torch.tensor([t], device=device)
        bufs = (backbone, head, tok_buf, pos_buf, t_buf, cache, noise, out, allowed_t, temperature, top_k, top_p)

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
        while t < length:
            if pos == W:  # as in eager: refill from the last `keep` tokens, from position 0
                recent = torch.cat([head_ids, torch.cat([ctx[:, fixed:], out[:, :t]], 1)[:, fixed - keep:]], 1)
                tok = pick(backbone.forward_static(recent, 0, cache)[:, -1], t)
                pos, t = recent.shape[1], t + 1
                tok_buf.copy_(tok[:, None])
                pos_buf.fill_(pos)
                t_buf.fill_(t)
                continue
            run_step()
            if step is not None:
                step(rows)
            pos, t = pos + 1, t + 1
    return out.cpu().numpy()


def _static_step(backbone, head, tok_buf, pos_buf, t_buf, cache, noise, out, allowed_t, temperature: float,
                 top_k: int, top_p: float) -> None:
    """One decoding step on device buffers only: the token in ``tok_buf`` at ``pos_buf`` goes
    through the model, the next one is drawn with ``noise[t_buf]`` into ``out[:, t_buf]`` and
    ``tok_buf``, and both counters advance."""
    h = backbone.decode_step(tok_buf, pos_buf, cache)
    z = noise.index_select(0, t_buf)[0]
    new = allowed_t[choose(head(h).float()[:, allowed_t], z, temperature, top_k, top_p)]
    out.index_copy_(1, t_buf, new[:, None])
    tok_buf.copy_(new[:, None])
    pos_buf.add_(1)
    t_buf.add_(1)


_COMPILED: list = []


def _compiled_step():
    """:func:`_static_step` through torch.compile, made once (recompiled per shape, not per call)."""
    import torch

    if not _COMPILED:
        _COMPILED.append(torch.compile(_static_step, dynamic=False))
    return _COMPILED[0]


def bf16_weights(model):
    """The model with bf16 weights for decoding on a GPU (rotary tables stay fp32), in place."""
    import torch

    rope = getattr(model.backbone, "rope_cos", None), getattr(model.backbone, "rope_sin", None)
    model.to(torch.bfloat16)
    if rope[0] is not None:
        model.backbone.rope_cos, model.backbone.rope_sin = rope
    return model


def run(args: argparse.Namespace) -> dict:
    import torch

    from genolm.io.atomic import atomic_file
    from genolm.train.distributed import resolve_device
    from genolm.train.checkpoint import load_model

    if args.num < 1 or args.length < 1 or args.batch_size < 1:
        raise GenolmError("--num, --length and --batch-size must be at least 1",
                          found=f"{args.num}, {args.length}, {args.batch_size}")
    if args.temperature < 0 or not 0 < args.top_p <= 1 or args.top_k < 0:
        raise GenolmError("sampling options out of range", expected="--temperature >= 0, 0 < --top-p <= 1, --top-k >= 0",
                          found=f"{args.temperature}, {args.top_p}, {args.top_k}")
    device = resolve_device(args.device)
    model, tok, config = load_model(args.model, device)
    if not model.config.causal or model.config.family not in ("transformer", "lstm"):
        raise GenolmError("genolm generate needs a causal transformer or LSTM", file=args.model,
                          found=f"{'causal' if model.config.causal else 'masked'} {model.config.family}")
    if getattr(tok, "kind", None) != "char" or tok.alphabet.name not in ("dna", "rna"):
        raise GenolmError("genolm generate needs a one-letter DNA/RNA tokenizer", found=tok.spec)
    letters = "ACGU" if tok.alphabet.name == "rna" else "ACGT"
    allowed = np.array([tok.token_to_id(c) for c in letters])
    prompt = _prompt(args.prompt)
    bad = next((c for c in prompt if c not in letters + "N"), None)
    if bad is not None:
        raise GenolmError("the prompt has a letter the model cannot read", found=repr(bad), expected=letters)
    head, window = condition_prefix(config, tok, args.condition, args.model)
    prefix = np.r_[head, np.asarray(tok.encode(prompt), np.int64)] if prompt else head
    model.eval()
    if device.startswith("cuda") and model.config.family == "transformer":
        bf16_weights(model)  # as autocast would cast them, once, and no casts inside a compiled step
    gen = torch.Generator(device=device).manual_seed(args.seed)
    bar = progress(args.num * args.length, "generate", "base", enabled=not args.no_progress, unit_scale=True)
    t0 = time.perf_counter()
    done = 0
    symbol = {int(i): c for i, c in zip(allowed, letters)}
    with atomic_file(Path(args.out)) as tmp, open(tmp, "w") as f:
        while done < args.num:
            rows = min(args.batch_size, args.num - done)
            ids = sample_batch(model, prefix, allowed, rows, args.length, temperature=args.temperature,
                               top_k=args.top_k, top_p=args.top_p, generator=gen, device=device,
                               step=bar.update, engine=args.engine,
                               fixed=len(head) if "conditions" in config else 0,
                               window=window)
            for r in range(rows):
                seq = prompt + "".join(symbol[int(i)] for i in ids[r])
                f.write(f">{args.prefix}_{done + r + 1} seed={args.seed} temperature={args.temperature} "
                        f"prompt={len(prompt)}\n")
                f.writelines(seq[i: i + 80] + "\n" for i in range(0, len(seq), 80))
            f.flush()
            done += rows
    bar.close()
    seconds = time.perf_counter() - t0
    return {"sequences": args.num, "bases": args.num * args.length, "seconds": seconds, "device": device}


def setup(args: argparse.Namespace) -> int:
    r = run(args)
    print(f"{args.out}: {plural(r['sequences'], 'sequence')}, {r['bases']:,} new bases in {r['seconds']:.1f} s "
          f"({r['bases'] / max(r['seconds'], 1e-9):,.0f} bases/s, {r['device']})")
    return 0
