"""Sample new sequences from a causal genolm model.

Batched sampling with a preallocated key/value cache: the prompt (``<sep>`` and ``--prompt``) is
run once, then one token per step for every row of the batch, bf16 on a GPU.  Only A/C/G/T (U for
RNA models) are sampled.  Sequences longer than the model's window continue from the last half
window: the cache is refilled with those tokens at positions from 0, as the model saw windows in
training.  The same ``--seed``, batch size and device give the same sequences.  Records are
written as each batch finishes, to a temporary file renamed onto ``--out`` at the end.

``--temperature 0`` is greedy decoding (the most likely base every time); ``--top-k`` and
``--top-p`` cut the distribution before sampling.

Example:
  genolm generate --model run --num 200 --length 5000 --out gen.fasta --temperature 0.9 --seed 1
  genolm generate --model run --num 10 --length 1000 --prompt ATGAAACGC --out primed.fasta
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from genolm.errors import GenolmError

HELP = "sample new sequences from a causal model (batched, KV cache, seeded)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True, help="causal genolm run (one-letter tokenizer)")
    p.add_argument("--num", type=int, default=10, help="sequences to write (default: 10)")
    p.add_argument("--length", type=int, required=True, help="new bases per sequence")
    p.add_argument("--out", required=True, help="output FASTA")
    p.add_argument("--prompt", help="sequence (or FASTA file: its first record) every output starts with")
    p.add_argument("--temperature", type=float, default=1.0, help="0: greedy (default: 1)")
    p.add_argument("--top-k", type=int, default=0, help="sample among the k most likely bases (0: all)")
    p.add_argument("--top-p", type=float, default=1.0, help="nucleus: the smallest set with this mass (default: 1)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--prefix", default="gen", help="record id prefix (default: gen)")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda")
    p.add_argument("--no-progress", action="store_true")


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


def sample_batch(model, prefix: np.ndarray, allowed: np.ndarray, rows: int, length: int, *, temperature: float,
                 top_k: int, top_p: float, generator, device: str, keep: int | None = None, step=None) -> np.ndarray:
    """(rows, length) sampled token ids after ``prefix`` (ids, <sep> first), drawn among ``allowed``."""
    import torch

    from genolm.tasks.env_condition import bf16_on_cuda

    backbone, head = model.backbone, model.lm_head
    W = model.config.max_len
    keep = keep or W // 2
    dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32
    cache = backbone.new_cache(rows, dtype, device)
    allowed_t = torch.as_tensor(np.asarray(allowed, np.int64), device=device)
    ctx = torch.as_tensor(np.asarray(prefix, np.int64), device=device)[None].expand(rows, -1)[:, -W:]
    out = torch.empty(rows, length, dtype=torch.long, device=device)
    with torch.no_grad(), bf16_on_cuda(device):
        h = backbone.forward_static(ctx, 0, cache)[:, -1]
        pos = ctx.shape[1]
        for t in range(length):
            logits = head(h).float()[:, allowed_t]
            if temperature == 0:
                pick = logits.argmax(-1)
            else:
                probs = filter_logits(logits, temperature, top_k, top_p).softmax(-1)
                pick = torch.multinomial(probs, 1, generator=generator)[:, 0]
            tok = allowed_t[pick]
            out[:, t] = tok
            if step is not None:
                step(rows)
            if t + 1 == length:
                break
            if pos == W:  # the window is full: continue from its last `keep` tokens, from position 0
                recent = torch.cat([ctx, out[:, : t + 1]], 1)[:, -keep:]
                h = backbone.forward_static(recent, 0, cache)[:, -1]
                pos = recent.shape[1]
            else:
                h = backbone.forward_static(tok[:, None], pos, cache)[:, -1]
                pos += 1
    return out.cpu().numpy()


def run(args: argparse.Namespace) -> dict:
    import torch

    from genolm.io.atomic import atomic_file
    from genolm.tasks.embedding import resolve_device
    from genolm.tokenize import SEP
    from genolm.train.checkpoint import load_model

    if args.num < 1 or args.length < 1 or args.batch_size < 1:
        raise GenolmError("--num, --length and --batch-size must be at least 1",
                          found=f"{args.num}, {args.length}, {args.batch_size}")
    if args.temperature < 0 or not 0 < args.top_p <= 1 or args.top_k < 0:
        raise GenolmError("sampling options out of range", expected="--temperature >= 0, 0 < --top-p <= 1, --top-k >= 0",
                          found=f"{args.temperature}, {args.top_p}, {args.top_k}")
    device = resolve_device(args.device)
    model, tok, _ = load_model(args.model, device)
    if not model.config.causal or model.config.family != "transformer":
        raise GenolmError("genolm generate needs a causal transformer", file=args.model,
                          found=f"{'causal' if model.config.causal else 'masked'} {model.config.family}")
    if getattr(tok, "kind", None) != "char" or tok.alphabet.name not in ("dna", "rna"):
        raise GenolmError("genolm generate needs a one-letter DNA/RNA tokenizer", found=tok.spec)
    letters = "ACGU" if tok.alphabet.name == "rna" else "ACGT"
    allowed = np.array([tok.token_to_id(c) for c in letters])
    prompt = _prompt(args.prompt)
    bad = next((c for c in prompt if c not in letters + "N"), None)
    if bad is not None:
        raise GenolmError("the prompt has a letter the model cannot read", found=repr(bad), expected=letters)
    prefix = np.r_[SEP, np.asarray(tok.encode(prompt), np.int64)] if prompt else np.array([SEP])
    model.eval()
    gen = torch.Generator(device=device).manual_seed(args.seed)
    bar = None
    if not args.no_progress and sys.stderr.isatty():
        from tqdm import tqdm

        bar = tqdm(total=args.num * args.length, unit="base", desc="generate", file=sys.stderr)
    t0 = time.perf_counter()
    done = 0
    symbol = {int(i): c for i, c in zip(allowed, letters)}
    with atomic_file(Path(args.out)) as tmp, open(tmp, "w") as f:
        while done < args.num:
            rows = min(args.batch_size, args.num - done)
            ids = sample_batch(model, prefix, allowed, rows, args.length, temperature=args.temperature,
                               top_k=args.top_k, top_p=args.top_p, generator=gen, device=device,
                               step=bar.update if bar else None)
            for r in range(rows):
                seq = prompt + "".join(symbol[int(i)] for i in ids[r])
                f.write(f">{args.prefix}_{done + r + 1} seed={args.seed} temperature={args.temperature} "
                        f"prompt={len(prompt)}\n")
                f.writelines(seq[i: i + 80] + "\n" for i in range(0, len(seq), 80))
            f.flush()
            done += rows
    if bar:
        bar.close()
    seconds = time.perf_counter() - t0
    return {"sequences": args.num, "bases": args.num * args.length, "seconds": seconds, "device": device}


def setup(args: argparse.Namespace) -> int:
    r = run(args)
    print(f"{args.out}: {r['sequences']} sequences, {r['bases']:,} new bases in {r['seconds']:.1f} s "
          f"({r['bases'] / max(r['seconds'], 1e-9):,.0f} bases/s, {r['device']})")
    return 0
