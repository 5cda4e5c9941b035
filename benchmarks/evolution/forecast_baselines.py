"""The forecast baselines of genolm evolve on the H3N2 HA1 data, season by season (no model):
strain pick (consensus, last-three-months profile) and mutation pick (last-season frequency, its
rise), each season scored against the sequences of that season only.

  python benchmarks/evolution/forecast_baselines.py data/h3n2_ha1_1968-2010.fasta.gz --seasons 2001-2010 --out bench_evolve
  SMOKE=1 python benchmarks/evolution/forecast_baselines.py   # 1,363 HA1 cut to 150 nt, seasons 2009-2010

--out defaults to $BENCH_OUT/forecast_baselines ($BENCH_OUT: benchmarks/out).  A season of the full
HA1 data takes about 40 s on one core (mostly the mutation frequencies), 10 seasons about 15 minutes.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
SMOKE = os.environ.get("SMOKE") == "1"  # the whole path on the CPU in seconds (tests/test_benchmarks.py)
OUT = Path(os.environ.get("BENCH_OUT", ROOT / "benchmarks" / "out"))  # where the benchmarks write

from genolm.evolution.baselines import candidate_scores, dated_records, proteins  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("data", nargs="?" if SMOKE else None)
    ap.add_argument("--seasons", default="2001-2010")
    ap.add_argument("--out", default=str(OUT / "forecast_baselines"))
    if SMOKE:
        ap.set_defaults(seasons="2009-2010")
    args = ap.parse_args()
    if args.data is None:  # SMOKE: a third of the HA1 sequences of data/ since 2006, cut to 150 nt
        sys.path.insert(0, str(ROOT / "benchmarks"))
        from smoke_inputs import make

        args.data = make(OUT / "smoke_inputs", ["ha1"]) / "ha1.fasta"
    t0 = time.perf_counter()
    lo, hi = map(int, args.seasons.split("-"))
    data = dated_records(args.data)
    prot = proteins(data.seqs)
    rows = []
    for season in range(lo, hi + 1):
        r = candidate_scores(data, season, prot)
        rows.append({k: v for k, v in r.items() if k not in ("mutations", "truth", "unseen", "to_target", "candidate_ids")})
    strain_names = list(rows[0]["strain_pick"])
    mut_names = list(rows[0]["mutation_pick"])
    head = ["season", "cands", "sweeps", "unseen"] + strain_names + [f"{m} AUROC" for m in mut_names] + \
        [f"{m} p@10" for m in mut_names] + ["p@10 ceiling"]
    print("\t".join(head))
    table = []
    for r in rows:
        vals = [r["season"], r["candidates"], r["sweeps"], r["sweeps_unseen_last_season"]] + \
            [r["strain_pick"][n] for n in strain_names] + [r["mutation_pick"][m]["auroc"] for m in mut_names] + \
            [r["mutation_pick"][m]["precision@10"] for m in mut_names] + [r["precision@10_ceiling"]]
        table.append(vals)
        print("\t".join(f"{v:.3f}" if isinstance(v, float) else str(v) for v in vals))
    arr = np.array([[float(v) for v in row[4:]] for row in table])
    mean, sd = np.nanmean(arr, 0), np.nanstd(arr, 0, ddof=1)  # sample sd, as genolm evolve
    print("mean\t\t\t\t" + "\t".join(f"{m:.3f}" for m in mean))
    print("sd\t\t\t\t" + "\t".join(f"{s:.3f}" for s in sd))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "evolve_baselines.json").write_text(json.dumps(
        {"seasons": rows, "mean": dict(zip(head[4:], mean.tolist())), "sd": dict(zip(head[4:], sd.tolist())),
         "seconds": round(time.perf_counter() - t0, 1)}, indent=1) + "\n")


if __name__ == "__main__":
    main()
