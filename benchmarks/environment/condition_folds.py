"""Combine the held-out folds of `genolm env condition` into one permutation test on every sample.

Each run holds out one fold of stations (`--folds K --fold I`); its held_out.npz has, per held-out
sample, the nats of its sequences under every held-out sample's conditions.  The conditions are
shuffled within each fold and the totals summed (a stratified permutation test), so every sample
is tested once, by a model that never saw its station.

  for i in 0 1 2 3 4; do genolm env condition ... --folds 5 --fold $i --out cond_$i; done
  python benchmarks/environment/condition_folds.py cond_0 cond_1 cond_2 cond_3 cond_4 --out folds.json
  SMOKE=1 python benchmarks/environment/condition_folds.py   # two made-up folds -> $BENCH_OUT/condition_folds/
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
SMOKE = os.environ.get("SMOKE") == "1"  # the whole path on the CPU in seconds (tests/test_benchmarks.py)
OUT = Path(os.environ.get("BENCH_OUT", ROOT / "benchmarks" / "out"))  # where the benchmarks write

from genolm.environment.conditioned import permutation_test  # noqa: E402


def combine(runs: list[Path], permutations: int, seed: int = 0) -> dict:
    loaded = []
    for run in runs:
        try:
            z = np.load(run / "held_out.npz", allow_pickle=False)
        except FileNotFoundError:
            sys.exit(f"condition_folds: {run}: no held_out.npz (not an env condition output)")
        loaded.append(({str(n): z[f"m{j}"] for j, n in enumerate(z["names"])}, float(z["bases"]),
                       [str(s) for s in z["samples"]]))
    samples = [s for _, _, names in loaded for s in names]
    if len(set(samples)) != len(samples):
        sys.exit("condition_folds: a sample is held out in two runs: give one run per fold of the same --folds")
    bases = sum(b for _, b, _ in loaded)
    out = {"runs": [str(r) for r in runs], "samples": len(samples), "bases": int(bases)}
    for name in loaded[0][0]:
        r = permutation_test([m[name] for m, _, _ in loaded], permutations, seed)
        true, shuffled = (r[k] / math.log(2) / bases for k in ("true", "shuffled_mean"))
        out[name] = {"true_bpb": true, "shuffled_bpb": shuffled, "gain_bits_per_kb": 1000 * (shuffled - true),
                     "p_value": r["p_value"], "permutations": r["permutations"]}
    return out


def smoke_folds(out: Path) -> list[Path]:
    """Two held_out.npz as `genolm env condition` writes them: 3 held-out samples each, two condition
    sets, each sample's sequences a little more likely under its own conditions."""
    rng = np.random.default_rng(0)
    runs = []
    for fold in range(2):
        run = out / f"cond_{fold}"
        run.mkdir(parents=True, exist_ok=True)
        mats = [rng.normal(1000, 5, (3, 3)) - 3 * np.eye(3) for _ in range(2)]
        np.savez(run / "held_out.npz", samples=np.asarray([f"S{fold}{i}SUR" for i in range(3)]), bases=3000.0,
                 names=np.asarray(["all", "temperature_c"]), **{f"m{j}": m for j, m in enumerate(mats)})
        runs.append(run)
    return runs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs", nargs="*" if SMOKE else "+", type=Path, help="env condition output directories, one per fold")
    ap.add_argument("--permutations", type=int, default=9999)
    ap.add_argument("--out", type=Path, help="JSON with the table")
    if SMOKE:
        ap.set_defaults(permutations=99, out=OUT / "condition_folds" / "folds.json")
    args = ap.parse_args()
    if not args.runs:  # SMOKE
        args.runs = smoke_folds(OUT / "condition_folds")
    r = combine(args.runs, args.permutations)
    print(f"{len(args.runs)} folds, {r['samples']} held-out samples, {r['bases']:,} bases")
    print(f"{'conditions':16s} {'true bpb':>9s} {'shuffled':>9s} {'gain b/kb':>9s} {'p':>8s}")
    for name, m in r.items():
        if isinstance(m, dict):
            print(f"{name:16s} {m['true_bpb']:9.5f} {m['shuffled_bpb']:9.5f} {m['gain_bits_per_kb']:9.3f} {m['p_value']:8.3g}")
    if args.out:
        args.out.write_text(json.dumps(r, indent=1) + "\n")


if __name__ == "__main__":
    main()
