"""Training speed: genolm's transformer vs Hugging Face LlamaForCausalLM of the same shape, one run.

  python benchmarks/bench_pretrain.py --device cpu --flavor tiny --seq 1024 --batch 8
  python benchmarks/bench_pretrain.py --device cuda --flavor base --seq 1024 4096 --compile

Each case times full training steps (forward, next-token loss, backward, AdamW step) on random
tokens of the char tokenizer's vocabulary, after warm-up steps, and reports tokens/s, the ratio to
the HF model (same shape, same precision, same optimizer, measured in the same run), peak memory
on GPU and, on GPU, MFU = tokens/s x (6N + 12 L d T c) / peak, with c = 1/2 for causal attention
and peak = a bf16 8192^3 matmul measured in the same run (DESIGN.md).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from genolm.model import build_model, config_for  # noqa: E402
from genolm.tokenize import get_tokenizer  # noqa: E402


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
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--sdpa", default="auto", choices=("auto", "cudnn", "flash", "efficient"),
                    help="GPU attention kernel for both models (auto: PyTorch's choice)")
    ap.add_argument("--only", default=None, choices=("genolm", "hf"), help="time one side only")
    ap.add_argument("--baselines", action="store_true", help="also time genolm's LSTM and CNN (same flavor)")
    ap.add_argument("--profile", action="store_true",
                    help="GPU: also profile 3 steps of each case and print where the kernel time goes")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "out"))
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
    for seq in args.seq:
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
        for name, hf, compiled in variants:
            torch.manual_seed(0)
            family = name.split("-")[1] if name in ("genolm-lstm", "genolm-cnn") else "transformer"
            model = (hf_llama(cfg) if hf else build_model(
                config_for(args.flavor, family=family, vocab_size=vocab, causal=True, max_len=seq))).to(dev)
            n_params = sum(p.numel() for p in model.parameters())
            opt = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=dev.startswith("cuda"))
            runner = torch.compile(model) if compiled else model
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
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"pretrain_{dev.split(':')[0]}.json").write_text(json.dumps(
        {"benchmark": "pretrain", "date": time.strftime("%Y-%m-%d"), "device": dev, "flavor": args.flavor,
         "torch": torch.__version__, "peak_flops": peak, "rows": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()
