"""Substitution scoring speed: genolm score's cached / batched paths vs one full forward pass per
substitution (the naive way), in the same run, and how far apart their scores are.

  python benchmarks/evolution/score_speed.py SEQS.fasta --flavor tiny --device cpu --naive-n 60 --out bench_score
  python benchmarks/evolution/score_speed.py ha1.fasta sarscov2.fasta --model RUN --device cuda --out bench_score
  python benchmarks/evolution/score_speed.py ha1.fasta --model RUN --device cuda --fp32 --out bench_score
  SMOKE=1 python benchmarks/evolution/score_speed.py   # debug models, the first 60 substitutions of one HA1

The "llr --suffix N" row scores only the changed base and N after it (exact scores are the
reference for its max |diff| and correlation; its naive time is the full naive path's).
The first record of each file is scored at every single-nucleotide substitution (3 per A/C/G/T
position).  The naive path is timed on the first --naive-n substitutions and its rate applied to
all of them; the scores of those substitutions are compared with the fast path's.  Without
--model, an untrained model of --flavor is built (speed does not depend on the weights): causal
for llr, masked for masked-marginal.  --out defaults to $BENCH_OUT/score_speed ($BENCH_OUT: benchmarks/out).
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

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
SMOKE = os.environ.get("SMOKE") == "1"  # the whole path on the CPU in seconds (tests/test_benchmarks.py)
OUT = Path(os.environ.get("BENCH_OUT", ROOT / "benchmarks" / "out"))  # where the benchmarks write

from genolm.io.seqio import read_records  # noqa: E402
from genolm.evolution.scoring import Scorer, nt_substitutions  # noqa: E402


def models(args):
    if args.model:
        from genolm.train.checkpoint import load_model

        model, tok, _ = load_model(args.model, args.device)
        yield ("llr" if model.config.causal else "masked-marginal"), model, tok
        return
    from genolm.model import build_model, config_for
    from genolm.tokenize import get_tokenizer

    tok = get_tokenizer("char")
    for method, causal in (("llr", True), ("masked-marginal", False)):
        torch.manual_seed(0)
        cfg = config_for(args.flavor, vocab_size=tok.vocab_size, causal=causal)
        yield method, build_model(cfg).to(args.device).eval(), tok


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("inputs", nargs="*" if SMOKE else "+")
    ap.add_argument("--model", default=None)
    ap.add_argument("--flavor", default="tiny")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--naive-n", type=int, default=60, help="substitutions timed on the naive path")
    ap.add_argument("--suffix", type=int, default=64,
                    help="llr also with --suffix N (0: skip), its scores compared with the exact ones")
    ap.add_argument("--max-subs", type=int, default=0, help="score only the first N substitutions (0: all)")
    ap.add_argument("--fp32", action="store_true", help="on a GPU, fp32 instead of bf16 (as genolm score --fp32)")
    ap.add_argument("--out", default=str(OUT / "score_speed"))
    if SMOKE:
        ap.set_defaults(flavor="debug", device="cpu", batch_size=16, naive_n=4, suffix=16, max_subs=60)
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if not args.inputs:  # SMOKE: the first HA1 of data/
        rec = next(iter(read_records(ROOT / "data" / "h3n2_ha1_1968-2010.fasta.gz", case="upper")))
        (out / "ha1.fa").write_text(f">{rec.id.split('|')[0]}\n{rec.seq}\n")
        args.inputs = [str(out / "ha1.fa")]
    rows = []
    for method, model, tok in models(args):
        for path in args.inputs:
            rec = next(iter(read_records(path, case="upper")))
            seq = "".join(c if c in "ACGT" else "N" for c in rec.seq)
            subs = nt_substitutions(seq)
            if args.max_subs:
                subs = subs[: args.max_subs]
            scorer = Scorer(model, tok, method, args.device, args.batch_size, bf16=not args.fp32)
            scorer.score(seq, subs[: args.batch_size])  # warm-up
            sync(args.device)
            t = time.perf_counter()
            fast = scorer.score(seq, subs)
            sync(args.device)
            t_fast = time.perf_counter() - t
            few = subs[: args.naive_n]
            t = time.perf_counter()
            slow = scorer.score(seq, few, naive=True)
            sync(args.device)
            t_naive = (time.perf_counter() - t) / len(few) * len(subs)
            if method == "llr" and args.suffix:
                short = Scorer(model, tok, method, args.device, args.batch_size, suffix=args.suffix, bf16=not args.fp32)
                sync(args.device)
                t = time.perf_counter()
                approx = short.score(seq, subs)
                sync(args.device)
                t_short = time.perf_counter() - t
                rows.append({"sequence": f"{rec.id} ({len(seq):,} nt)", "method": f"llr --suffix {args.suffix}",
                             "params": sum(p.numel() for p in model.parameters()), "substitutions": len(subs),
                             "genolm_s": round(t_short, 2), "naive_s_extrapolated": round(t_naive, 1),
                             "naive_timed": len(few), "speedup": round(t_naive / t_short, 1),
                             "max_abs_diff": float(np.abs(approx - fast).max()),
                             "pearson_vs_exact": float(np.corrcoef(approx, fast)[0, 1]), "device": args.device})
            rows.append({"sequence": f"{rec.id} ({len(seq):,} nt)", "method": method,
                         "params": sum(p.numel() for p in model.parameters()), "substitutions": len(subs),
                         "genolm_s": round(t_fast, 2), "naive_s_extrapolated": round(t_naive, 1),
                         "naive_timed": len(few), "speedup": round(t_naive / t_fast, 1),
                         "max_abs_diff": float(np.abs(fast[: len(few)] - slow).max()), "device": args.device,
                         "precision": "fp32" if args.fp32 or not args.device.startswith("cuda") else "bf16"})
    print(f"{'sequence':40s} {'method':16s} {'subs':>7s} {'genolm s':>9s} {'naive s':>9s} {'speed-up':>8s} {'max |diff|':>10s}")
    for r in rows:
        print(f"{r['sequence'][:40]:40s} {r['method']:16s} {r['substitutions']:7d} {r['genolm_s']:9.2f} "
              f"{r['naive_s_extrapolated']:9.1f} {r['speedup']:8.1f} {r['max_abs_diff']:10.2e}")
    (out / f"bench_score_{args.device.split(':')[0]}{'_fp32' if args.fp32 else ''}.json").write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
