"""Training speed: genolm's transformer vs Hugging Face LlamaForCausalLM of the same shape, one run.

  python benchmarks/pretrain/throughput.py --device cpu --flavor tiny --seq 1024 --batch 8
  python benchmarks/pretrain/throughput.py --device cuda --flavor base --seq 1024 4096 --compile
  SMOKE=1 python benchmarks/pretrain/throughput.py     # debug flavor on the CPU, one step of each case

Each case times full training steps (forward, next-token loss, backward, AdamW step) on random
tokens of the char tokenizer's vocabulary, after warm-up steps, and reports tokens/s, the ratio to
the HF model (same shape, same precision, same optimizer, measured in the same run), peak memory
on GPU and, on GPU, MFU = tokens/s x (6N + 12 L d T c) / peak, with c = 1/2 for causal attention
and peak = a bf16 8192^3 matmul measured in the same run (DESIGN.md).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
SMOKE = os.environ.get("SMOKE") == "1"  # the whole path on the CPU in seconds (tests/test_benchmarks.py)
OUT = Path(os.environ.get("BENCH_OUT", ROOT / "benchmarks" / "out"))  # where the benchmarks write

from genolm.model import build_model, config_for  # noqa: E402
from genolm.model.transformer import apply_rotary  # noqa: E402
from genolm.tokenize import PAD, SEP, get_tokenizer  # noqa: E402


def hf_llama(cfg):
    from transformers import LlamaConfig, LlamaForCausalLM

    return LlamaForCausalLM(LlamaConfig(
        vocab_size=cfg.vocab_size, hidden_size=cfg.d_model, intermediate_size=cfg.d_ff,
        num_hidden_layers=cfg.n_layers, num_attention_heads=cfg.n_heads, num_key_value_heads=cfg.n_heads,
        max_position_embeddings=cfg.max_len, rms_norm_eps=cfg.norm_eps, rope_theta=cfg.rope_theta,
        tie_word_embeddings=cfg.tie_embeddings, attention_bias=False, mlp_bias=False))


def step_fn(model, optimizer, hf: bool, dtype):
    def step(ids):
        with torch.autocast(ids.device.type, dtype=dtype, enabled=dtype is not None):
            logits = model(ids).logits if hf else model(ids)
        loss = F.cross_entropy(logits[:, :-1].float().reshape(-1, logits.shape[-1]), ids[:, 1:].reshape(-1))
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return loss
    return step


def time_steps(step, ids, warmup: int, steps: int, device: str) -> float:
    for _ in range(warmup):
        step(ids)
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    sync()
    t = time.perf_counter()
    for _ in range(steps):
        step(ids)
    sync()
    return (time.perf_counter() - t) / steps


KERNEL_KINDS = (("attention", ("flash", "fmha", "attention", "cudnn")),
                ("matmul", ("gemm", "xmma", "cutlass", "nvjet", "wgmma", "sm90")),
                ("optimizer", ("multi_tensor", "adam", "foreach")),
                ("fused elementwise (triton)", ("triton",)))


def kernel_kind(name: str) -> str:
    low = name.lower()
    return next((kind for kind, keys in KERNEL_KINDS if any(k in low for k in keys)), "other")


def profile_steps(step, ids, steps: int = 3) -> str:
    """GPU kernel time of ``steps`` training steps: by kind (attention, matmul, fused elementwise,
    optimizer, other) and the 25 most expensive kernels."""
    from torch.profiler import ProfilerActivity, profile

    step(ids)
    torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        for _ in range(steps):
            step(ids)
        torch.cuda.synchronize()
    kernels = [(e.key, e.self_device_time_total, e.count) for e in prof.key_averages() if e.self_device_time_total > 0]
    total = sum(t for _, t, _ in kernels) or 1
    by_kind: dict[str, float] = {}
    for name, t, _ in kernels:
        by_kind[kernel_kind(name)] = by_kind.get(kernel_kind(name), 0) + t
    lines = [f"GPU time per step {total / steps / 1e3:.2f} ms"]
    lines += [f"  {kind:28s} {t / total:6.1%}  {t / steps / 1e3:8.2f} ms" for kind, t in
              sorted(by_kind.items(), key=lambda kv: -kv[1])]
    lines.append("top kernels (share, ms per step, calls per step, name):")
    lines += [f"  {t / total:6.1%} {t / steps / 1e3:8.2f} {n / steps:6.0f}  {name[:110]}"
              for name, t, n in sorted(kernels, key=lambda k: -k[1])[:25]]
    return "\n".join(lines)


# ---- attention layouts to compare (genolm's model only) --------------------------------------------

def _forward_split(self, x, cos, sin, doc_mask=None):
    """q, k, v split from the projection, each rotated in (B, T, nh, hs), then transposed views."""
    B, T, d = x.shape
    q, k, v = (z.view(B, T, self.n_heads, d // self.n_heads) for z in self.qkv(x).split(d, dim=-1))
    cos, sin = cos[:, None], sin[:, None]
    q, k = apply_rotary(q, cos, sin), apply_rotary(k, cos, sin)
    q, k, v = (z.transpose(1, 2) for z in (q, k, v))
    return self.out(self._attend(q, k, v, doc_mask).transpose(1, 2).reshape(B, T, d))


def _forward_contiguous(self, x, cos, sin, doc_mask=None):
    """genolm's layout, but q, k, v made contiguous (B, nh, T, hs) before attention."""
    B, T, d = x.shape
    qkv = self.qkv(x).view(B, T, 3, self.n_heads, d // self.n_heads)
    qk = apply_rotary(qkv[:, :, :2], cos[:, None, None], sin[:, None, None])
    q, k = (z.transpose(1, 2).contiguous() for z in qk.unbind(2))
    v = qkv[:, :, 2].transpose(1, 2).contiguous()
    return self.out(self._attend(q, k, v, doc_mask).transpose(1, 2).reshape(B, T, d))


def _attend(self, q, k, v, doc_mask):
    if doc_mask is None:
        return F.scaled_dot_product_attention(q, k, v, is_causal=self.causal)
    return F.scaled_dot_product_attention(q, k, v, attn_mask=doc_mask)


ATTENTION_VARIANTS = {"genolm": None, "split": _forward_split, "contiguous": _forward_contiguous}


def use_attention_variant(name: str) -> None:
    """Swap the forward of genolm's Attention for a variant (benchmark only; same math)."""
    from genolm.model import transformer

    if not hasattr(transformer.Attention, "_genolm_forward"):
        transformer.Attention._genolm_forward = transformer.Attention.forward
        transformer.Attention._attend = _attend
    fwd = ATTENTION_VARIANTS[name]
    transformer.Attention.forward = transformer.Attention._genolm_forward if fwd is None else fwd


# ---- packed reads vs padded batches ----------------------------------------------------------------

def read_lengths(kind: str, n: int, seed: int = 0) -> np.ndarray:
    """Read lengths in bases: "150" (all 150 bp) or "50-150" (uniform, like adapter-trimmed reads)."""
    if kind == "150":
        return np.full(n, 150)
    lo, hi = map(int, kind.split("-"))
    return np.random.default_rng(seed).integers(lo, hi + 1, n)


def packed_rows(lengths: np.ndarray, row: int, vocab: int, seed: int = 0):
    """Reads (<sep> + bases each) packed greedily into rows of ``row`` tokens; a row's unused tail
    is <pad> in a document of its own.  Returns ids (R, row), doc_ids (R, row), non-pad count."""
    rng = np.random.default_rng(seed)
    rows, docs, cur, cur_doc = [], [], [], []
    for i, n in enumerate(lengths):
        read = [SEP] + list(rng.integers(71, vocab, n))
        if len(cur) + len(read) > row:
            rows.append(cur + [PAD] * (row - len(cur)))
            docs.append(cur_doc + [-1] * (row - len(cur_doc)))
            cur, cur_doc = [], []
        cur += read
        cur_doc += [i] * len(read)
    if cur:
        rows.append(cur + [PAD] * (row - len(cur)))
        docs.append(cur_doc + [-1] * (row - len(cur_doc)))
    ids = torch.tensor(rows)
    return ids, torch.tensor(docs), int((ids != PAD).sum())


def padded_rows(lengths: np.ndarray, vocab: int, seed: int = 0):
    """One read (<sep> + bases) per row, padded to the longest read: ids (R, max + 1), non-pad count."""
    rng = np.random.default_rng(seed)
    width = int(lengths.max()) + 1
    ids = torch.full((len(lengths), width), PAD)
    for i, n in enumerate(lengths):
        ids[i, : n + 1] = torch.tensor([SEP] + list(rng.integers(71, vocab, n)))
    return ids, int((ids != PAD).sum())


def read_step_fn(model, optimizer, dtype):
    def step(ids, docs):
        with torch.autocast(ids.device.type, dtype=dtype, enabled=dtype is not None):
            logits = model(ids, doc_ids=docs)
        targets = ids[:, 1:].masked_fill((ids[:, 1:] == PAD) | (ids[:, 1:] == SEP), -100)
        loss = F.cross_entropy(logits[:, :-1].float().reshape(-1, logits.shape[-1]), targets.reshape(-1))
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return loss
    return step


def bench_reads(args, dev: str, dtype, vocab: int) -> list[dict]:
    """Useful (non-pad) tokens/s training on short reads: packed into --reads-row rows with document
    masking (flex attention, and the dense-mask path for comparison) vs one read per padded row.
    Each case has about the same tokens per step; every model is compiled when --compile is given."""
    from genolm.model.transformer import Transformer

    rows = []
    row = args.reads_row
    for kind in args.reads:
        lengths = read_lengths(kind, args.n_reads)
        p_ids, p_docs, p_useful = packed_rows(lengths, row, vocab)
        per_step = max(1, args.batch or 8)  # packed rows per step
        n_reads = int(round(len(lengths) * per_step / len(p_ids)))  # same reads per step, padded
        d_ids, d_useful = padded_rows(lengths, vocab)
        cases = [("packed, flex mask", "flex"), ("packed, dense mask", "dense"), ("padded", None)]
        if not dev.startswith("cuda"):  # flex attention has no CPU backward
            cases = cases[1:]
        for name, how in cases:
            torch.manual_seed(0)
            cfg = config_for(args.flavor, vocab_size=vocab, causal=True, max_len=max(row, 256))
            model = build_model(cfg).to(dev)
            body = next(m for m in model.modules() if isinstance(m, Transformer))
            if how:
                body.doc_attention = how
            opt = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=dev.startswith("cuda"))
            runner = torch.compile(model) if args.compile else model
            step = read_step_fn(runner, opt, dtype)
            if how:
                batches = [(p_ids[i: i + per_step].to(dev), p_docs[i: i + per_step].to(dev))
                           for i in range(0, len(p_ids) - per_step + 1, per_step)][:4]
                useful = p_useful / len(p_ids) * per_step
            else:
                batches = [(d_ids[i: i + n_reads].to(dev), None) for i in range(0, len(d_ids) - n_reads + 1, n_reads)][:4]
                useful = d_useful / len(d_ids) * n_reads
            shape = tuple(batches[0][0].shape)
            for b in batches * 2:  # warm-up (compiles)
                step(*b)
            sync = torch.cuda.synchronize if dev.startswith("cuda") else (lambda: None)
            sync()
            t = time.perf_counter()
            for _ in range(args.steps):
                for b in batches:
                    step(*b)
            sync()
            dt = (time.perf_counter() - t) / (args.steps * len(batches))
            rows.append({"case": f"reads {kind} bp: {name}", "shape": shape, "useful_fraction": useful / (shape[0] * shape[1]),
                         "useful_tokens_per_s": useful / dt, "tokens_per_s": shape[0] * shape[1] / dt})
            print(f"  {rows[-1]['case']:34s} {str(shape):>12s} useful {rows[-1]['useful_fraction']:5.1%} "
                  f"{rows[-1]['useful_tokens_per_s']:12,.0f} useful tok/s", flush=True)
            del model, opt, runner, step
    return rows


def check_flex_gradients(args, dev: str, dtype, vocab: int) -> float:
    """Relative difference of the gradients of one packed step, flex vs dense document mask."""
    from genolm.model.transformer import Transformer

    ids, docs, _ = packed_rows(read_lengths("50-150", 2000), args.reads_row, vocab)
    ids, docs = ids[:2].to(dev), docs[:2].to(dev)
    grads = {}
    for how in ("dense", "flex"):
        torch.manual_seed(0)
        model = build_model(config_for(args.flavor, vocab_size=vocab, causal=True, max_len=args.reads_row)).to(dev)
        next(m for m in model.modules() if isinstance(m, Transformer)).doc_attention = how
        with torch.autocast(dev.split(":")[0], dtype=dtype, enabled=dtype is not None):
            logits = model(ids, doc_ids=docs)
        F.cross_entropy(logits[:, :-1].float().reshape(-1, logits.shape[-1]), ids[:, 1:].reshape(-1)).backward()
        grads[how] = torch.cat([p.grad.flatten().float() for p in model.parameters()])
    return float((grads["flex"] - grads["dense"]).norm() / grads["dense"].norm())


def matmul_peak(device: str) -> float | None:
    if not device.startswith("cuda"):
        return None
    a = torch.randn(8192, 8192, device=device, dtype=torch.bfloat16)
    for _ in range(3):
        a @ a
    torch.cuda.synchronize()
    t = time.perf_counter()
    for _ in range(20):
        a @ a
    torch.cuda.synchronize()
    return 2 * 8192**3 * 20 / (time.perf_counter() - t)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--flavor", default="tiny")
    ap.add_argument("--seq", type=int, nargs="+", default=[1024])
    ap.add_argument("--batch", type=int, default=None, help="sequences per step (default: 4096*8/seq on GPU, 8 on CPU)")
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--compile", action="store_true", help="also time both models under torch.compile")
    ap.add_argument("--compile-modes", nargs="*", default=[], metavar="MODE",
                    help="also time genolm compiled with these torch.compile modes "
                         "(reduce-overhead = CUDA graphs, max-autotune-no-cudagraphs, max-autotune)")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--sdpa", default="auto", choices=("auto", "cudnn", "flash", "efficient"),
                    help="GPU attention kernel for both models (auto: PyTorch's choice)")
    ap.add_argument("--only", default=None, choices=("genolm", "hf", "reads"),
                    help="time one side only (reads: only the --reads cases)")
    ap.add_argument("--baselines", action="store_true", help="also time genolm's LSTM and CNN (same flavor)")
    ap.add_argument("--profile", action="store_true",
                    help="GPU: also profile 3 steps of each case and print where the kernel time goes")
    ap.add_argument("--reads", nargs="*", default=None, metavar="LENGTHS",
                    help="also time training on short reads, packed vs padded: 150 (all 150 bp) and/or "
                         "LO-HI (uniform lengths), e.g. --reads 150 50-150")
    ap.add_argument("--reads-row", type=int, default=4096, help="tokens per packed row (default 4096)")
    ap.add_argument("--n-reads", type=int, default=40_000, help="reads drawn for the --reads cases (default 40000)")
    ap.add_argument("--attn-variants", nargs="*", default=[], choices=[v for v in ATTENTION_VARIANTS if v != "genolm"],
                    help="also time genolm with these attention layouts (compiled when --compile): split | contiguous")
    ap.add_argument("--out", default=str(OUT))
    if SMOKE:
        ap.set_defaults(device="cpu", flavor="debug", seq=[64], batch=2, steps=1, warmup=1, baselines=True,
                        reads=["150", "30-60"], reads_row=512, n_reads=4000)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    dev = args.device
    if args.sdpa != "auto":  # one attention backend for every model in the run
        torch.backends.cuda.enable_flash_sdp(args.sdpa == "flash")
        torch.backends.cuda.enable_mem_efficient_sdp(args.sdpa == "efficient")
        torch.backends.cuda.enable_cudnn_sdp(args.sdpa == "cudnn")
        torch.backends.cuda.enable_math_sdp(False)
    dtype = torch.bfloat16 if dev.startswith("cuda") else None
    vocab = get_tokenizer("char").vocab_size
    peak = matmul_peak(dev)
    rows = []
    for seq in ([] if args.only == "reads" else args.seq):
        batch = args.batch or (max(1, 8 * 4096 // seq) if dev.startswith("cuda") else 8)
        cfg = config_for(args.flavor, vocab_size=vocab, causal=True, max_len=seq)
        ids = torch.randint(71, vocab, (batch, seq), device=dev)
        variants = [("genolm", False, False), ("hf-llama", True, False)]
        if args.compile:
            variants += [("genolm+compile", False, True), ("hf-llama+compile", True, True)]
        if args.only:
            variants = [v for v in variants if v[1] == (args.only == "hf")]
        if args.baselines:
            variants += [("genolm-lstm", False, False), ("genolm-cnn", False, False)]
        variants += [(f"genolm-{v}" + ("+compile" if args.compile else ""), False, args.compile)
                     for v in args.attn_variants]
        variants += [(f"genolm+compile:{m}", False, m) for m in args.compile_modes]
        for name, hf, compiled in variants:
            use_attention_variant(next((v for v in args.attn_variants if name.startswith(f"genolm-{v}")), "genolm"))
            torch.manual_seed(0)
            family = name.split("-")[1] if name in ("genolm-lstm", "genolm-cnn") else "transformer"
            model = (hf_llama(cfg) if hf else build_model(
                config_for(args.flavor, family=family, vocab_size=vocab, causal=True, max_len=seq))).to(dev)
            n_params = sum(p.numel() for p in model.parameters())
            opt = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=dev.startswith("cuda"))
            runner = (torch.compile(model, mode=compiled) if isinstance(compiled, str) else
                      torch.compile(model) if compiled else model)
            if dev.startswith("cuda"):
                torch.cuda.reset_peak_memory_stats()
            step = step_fn(runner, opt, hf, dtype)
            dt = time_steps(step, ids, args.warmup, args.steps, dev)
            tps = batch * seq / dt
            flops = 6 * n_params + 12 * cfg.n_layers * cfg.d_model * seq * 0.5
            row = {"case": name, "seq": seq, "batch": batch, "params": n_params, "tokens_per_s": tps,
                   "mfu": tps * flops / peak if peak else None,
                   "peak_mem_gb": torch.cuda.max_memory_allocated() / 1e9 if dev.startswith("cuda") else None}
            if args.profile and dev.startswith("cuda"):
                row["profile"] = profile_steps(step, ids)
                print(f"\n{name}, seq {seq}: {row['profile']}", flush=True)
            rows.append(row)
            del model, opt, runner, step
    reads = []
    if args.reads:
        if dev.startswith("cuda"):
            print(f"flex vs dense document mask, relative gradient difference: "
                  f"{check_flex_gradients(args, dev, dtype, vocab):.2e}", flush=True)
        reads = bench_reads(args, dev, dtype, vocab)
    print(f"\n{args.flavor} transformer, vocab {vocab}, {dev}, attention {args.sdpa}" + (f", peak {peak / 1e12:.0f} TFLOP/s" if peak else "")
          + f", torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(f"{'case':18s} {'seq':>5s} {'batch':>5s} {'tokens/s':>10s} {'vs HF':>6s} {'MFU':>5s} {'mem GB':>7s}")
    for r in rows:
        base = next((x for x in rows if x["seq"] == r["seq"] and x["case"] == (
            "hf-llama+compile" if "compile" in r["case"] else "hf-llama")), None)
        r["vs_hf"] = r["tokens_per_s"] / base["tokens_per_s"] if base else float("nan")
        mfu = f"{r['mfu']:.2f}" if r["mfu"] else "-"
        mem = f"{r['peak_mem_gb']:.1f}" if r["peak_mem_gb"] else "-"
        print(f"{r['case']:18s} {r['seq']:5d} {r['batch']:5d} {r['tokens_per_s']:10,.0f} {r['vs_hf']:6.2f} {mfu:>5s} {mem:>7s}")
    if reads:
        print(f"\nshort reads, {args.reads_row}-token packed rows ({'compiled' if args.compile else 'eager'}):")
        print(f"{'case':36s} {'shape':>12s} {'useful':>7s} {'useful tok/s':>13s} {'vs padded':>9s}")
        for r in reads:
            base = next(x for x in reads if x["case"].split(":")[0] == r["case"].split(":")[0] and "padded" in x["case"])
            r["vs_padded"] = r["useful_tokens_per_s"] / base["useful_tokens_per_s"]
            print(f"{r['case']:36s} {str(r['shape']):>12s} {r['useful_fraction']:7.1%} "
                  f"{r['useful_tokens_per_s']:13,.0f} {r['vs_padded']:9.2f}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"pretrain_{dev.split(':')[0]}.json").write_text(json.dumps(
        {"benchmark": "pretrain", "date": time.strftime("%Y-%m-%d"), "device": dev, "flavor": args.flavor,
         "torch": torch.__version__, "peak_flops": peak, "rows": rows, "reads": reads}, indent=1) + "\n")


if __name__ == "__main__":
    main()
