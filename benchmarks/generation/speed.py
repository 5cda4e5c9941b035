"""Generation speed: genolm generate's static-cache sampler vs Hugging Face ``generate`` on the same
model exported as LlamaForCausalLM, in the same run: new tokens per second at batch 1 and 64.

  python benchmarks/generation/speed.py --flavor base --device cuda --new 512 --hf-compile --out o
  python benchmarks/generation/speed.py --flavor debug --device cpu --new 64 --batches 1 4 --engines eager --out o
  SMOKE=1 python benchmarks/generation/speed.py        # debug flavor on the CPU, 16 new tokens, batch 1 and 4

genolm rows, one per ``--engines`` entry (see genolm.infer.sampling.sample_batch): eager (a Python
step on a sliced cache), graph (a fixed-shape step captured in a CUDA graph), compile (that step
compiled by torch.compile, then captured); on a GPU with bf16 weights as ``genolm generate`` runs,
plus "eager, autocast" (fp32 weights under bf16 autocast, the first version's form).

An untrained model of --flavor (speed does not depend on the weights), sampling at temperature 1
among A/C/G/T after a 16-base prompt.  HF rows: its default ``generate`` (dynamic cache), and with
--hf-compile its best form too (a static cache, whose decoding forward transformers compiles).  genolm runs as
the command does: fp32 weights under bf16 autocast on a GPU; "genolm bf16" also casts the weights.
Each timing follows a warm-up of the same shape.  --out defaults to $BENCH_OUT/generation_speed
($BENCH_OUT: benchmarks/out).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
SMOKE = os.environ.get("SMOKE") == "1"  # the whole path on the CPU in seconds (tests/test_benchmarks.py)
OUT = Path(os.environ.get("BENCH_OUT", ROOT / "benchmarks" / "out"))  # where the benchmarks write

from genolm.model import build_model, config_for, export_llama  # noqa: E402
from genolm.infer.sampling import bf16_weights, sample_batch  # noqa: E402
from genolm.tokenize import SEP, get_tokenizer  # noqa: E402


def sync(device):
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def timed(fn, device):
    fn()  # warm-up
    sync(device)
    t = time.perf_counter()
    fn()
    sync(device)
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--flavor", default="base")
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--new", type=int, default=512, help="new tokens per sequence")
    ap.add_argument("--batches", type=int, nargs="+", default=[1, 64])
    ap.add_argument("--engines", nargs="+", default=["eager", "graph", "compile"])
    ap.add_argument("--hf-compile", action="store_true", help="also HF's static cache (compiled by transformers)")
    ap.add_argument("--check", action="store_true",
                    help="also: how many rows each engine draws exactly as eager does (same seed)")
    ap.add_argument("--out", default=str(OUT / "generation_speed"))
    if SMOKE:
        ap.set_defaults(flavor="debug", device="cpu", new=16, batches=[1, 4], engines=["eager"], check=True)
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    dev = args.device
    tok = get_tokenizer("char")
    torch.manual_seed(0)
    cfg = config_for(args.flavor, vocab_size=tok.vocab_size, causal=True)
    model = build_model(cfg).to(dev).eval()
    letters = np.array([tok.token_to_id(c) for c in "ACGT"])
    prompt = np.r_[SEP, np.random.default_rng(0).choice(letters, 16)].astype(np.int64)
    rows = []

    def add(engine, batch, seconds, note=""):
        rows.append({"engine": engine, "batch": batch, "new_tokens": args.new, "seconds": round(seconds, 3),
                     "tokens_per_s": round(batch * args.new / seconds, 1), "params": model.num_params(),
                     "flavor": args.flavor, "device": dev, "note": note})
        print(f"{engine:28s} batch {batch:3d}: {batch * args.new / seconds:10,.0f} new tokens/s ({seconds:.2f} s)", flush=True)
        save()

    def save():  # after every row: a run cut off by its time limit keeps what it measured
        (out / f"bench_generate_{dev.split(':')[0]}.json").write_text(json.dumps(rows, indent=1) + "\n")

    gen = torch.Generator(device=dev).manual_seed(0)

    def ours(m, b, engine):
        return lambda: sample_batch(m, prompt, letters, b, args.new, temperature=1.0, top_k=0, top_p=1.0,
                                    generator=gen, device=dev, engine=engine)

    if dev.startswith("cuda"):
        for b in args.batches:
            add("genolm eager, autocast", b, timed(ours(model, b, "eager"), dev))
        half = build_model(cfg).to(dev).eval()
        half.load_state_dict(model.state_dict())
        bf16_weights(half)
    else:
        half = model
    for engine in args.engines:
        for b in args.batches:
            try:
                add(f"genolm {engine}", b, timed(ours(half, b, engine), dev))
            except Exception as e:  # a failed engine is a result too
                print(f"genolm {engine}, batch {b}: failed: {type(e).__name__}: {str(e)[:300]}")
                rows.append({"engine": f"genolm {engine}", "batch": b, "error": f"{type(e).__name__}: {str(e)[:300]}"})
    if args.check:
        ref = sample_batch(half, prompt, letters, 8, args.new, temperature=1.0, top_k=0, top_p=1.0,
                           generator=torch.Generator(device=dev).manual_seed(5), device=dev, engine="eager")
        for engine in args.engines:
            got = sample_batch(half, prompt, letters, 8, args.new, temperature=1.0, top_k=0, top_p=1.0,
                               generator=torch.Generator(device=dev).manual_seed(5), device=dev, engine=engine)
            same = (got == ref).all(1)
            first = [int(np.argmax(g != r)) if (g != r).any() else args.new for g, r in zip(got, ref)]
            print(f"check {engine:8s}: {int(same.sum())}/8 rows as eager draws them; first difference at "
                  f"token {first}", flush=True)
            rows.append({"check": engine, "identical_rows": int(same.sum()), "rows": 8, "first_difference": first})
        save()
    del half
    try:
        from transformers import LlamaForCausalLM
    except ImportError:
        print("transformers is not installed: no HF rows")
        LlamaForCausalLM = None
    if LlamaForCausalLM is not None:
        with tempfile.TemporaryDirectory() as d:
            export_llama(model, None, Path(d) / "hf")
            dtype = torch.bfloat16 if dev.startswith("cuda") else torch.float32
            hf = LlamaForCausalLM.from_pretrained(Path(d) / "hf", torch_dtype=dtype).to(dev).eval()
        ids = torch.as_tensor(prompt, device=dev)[None]

        def hf_run(b, **kw):
            return lambda: hf.generate(ids.expand(b, -1), max_new_tokens=args.new, min_new_tokens=args.new,
                                       do_sample=True, top_k=0, pad_token_id=0, **kw)

        for b in args.batches:
            add("HF generate (default)", b, timed(hf_run(b), dev))
        if args.hf_compile:
            # transformers compiles the decoding forward itself when the cache is static
            # (generation_config.compile_config); a manual torch.compile(mode="reduce-overhead") of
            # hf.forward fails under CUDA graphs with transformers 5 ("accessing tensor output of
            # CUDAGraphs that has been overwritten").
            for b in args.batches:
                try:
                    add("HF static cache (auto-compiled)", b, timed(hf_run(b, cache_implementation="static"), dev))
                except Exception as e:  # a compile failure is a result too
                    print(f"HF static cache, batch {b}: failed: {type(e).__name__}: {str(e)[:200]}")
                    rows.append({"engine": "HF static cache (auto-compiled)", "batch": b,
                                 "error": f"{type(e).__name__}: {str(e)[:300]}"})
    best_hf: dict[int, float] = {}
    for r in rows:
        if r.get("engine", "").startswith("HF") and "tokens_per_s" in r:
            best_hf[r["batch"]] = max(best_hf.get(r["batch"], 0.0), r["tokens_per_s"])
    print("\nratio genolm / best HF form measured:")
    for r in rows:
        if r.get("engine", "").startswith("genolm") and r["batch"] in best_hf and "tokens_per_s" in r:
            print(f"  {r['engine']:24s} batch {r['batch']:3d}: {r['tokens_per_s'] / best_hf[r['batch']]:.2f}x")
    save()


if __name__ == "__main__":
    main()
