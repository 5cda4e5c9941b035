"""Combine per-season ``genolm evolve`` runs (each ``--until Y``) into the backtest's summary:
mean ± sd over the seasons of every strain and mutation pick, the per-season table and plot.

  python benchmarks/evolution/backtest_summary.py runs/season_* --out summary_dir
  SMOKE=1 python benchmarks/evolution/backtest_summary.py   # two seasons of a debug model, 2 steps each

Seasons run as separate commands (in parallel on one GPU, each written atomically) give the same
summary as ``genolm evolve --backtest``; a season that did not finish is simply missing (and
listed).  --out defaults to $BENCH_OUT/backtest_summary ($BENCH_OUT: benchmarks/out).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
SMOKE = os.environ.get("SMOKE") == "1"  # the whole path on the CPU in seconds (tests/test_benchmarks.py)
OUT = Path(os.environ.get("BENCH_OUT", ROOT / "benchmarks" / "out"))  # where the benchmarks write

from genolm.report.figures import evolve_seasons  # noqa: E402
from genolm.evolution.forecast import print_summary, strict_json, summarize, summary_tsv  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs", nargs="*" if SMOKE else "+", help="genolm evolve output directories (with forecast.json)")
    ap.add_argument("--out", default=str(OUT / "backtest_summary"))
    args = ap.parse_args()
    if not args.runs:  # SMOKE: seasons 2009 and 2010 of a debug model on short HA1 sequences
        sys.path.insert(0, str(ROOT / "benchmarks"))
        from smoke_inputs import make

        from genolm.cli import main as genolm

        data = make(OUT / "smoke_inputs", ["ha1"]) / "ha1.fasta"
        for y in (2009, 2010):
            args.runs.append(str(Path(args.out) / "runs" / f"season_{y}"))
            assert genolm(["evolve", "--data", data, "--until", y - 1, "--predict", y, "--flavor", "debug", "--steps", 2,
                           "--device", "cpu", "--no-progress", "--out", args.runs[-1]]) == 0
    results, missing = [], []
    for run in args.runs:
        f = Path(run) / "forecast.json"
        (results.append(json.loads(f.read_text())) if f.is_file() else missing.append(run))
    if not results:
        sys.exit(f"no finished season among {len(args.runs)} runs")
    results.sort(key=lambda r: r["predict"])
    # null metrics (a season without sweeps) are NaN again for the means
    for r in results:
        for v in r.get("evaluation", {}).get("mutation_pick", {}).values():
            for k in v:
                v[k] = float("nan") if v[k] is None else v[k]
    summary = summarize(results)
    summary["missing"] = missing
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "summary.json").write_text(strict_json({"summary": summary, "seasons": results}))
    (out / "summary.tsv").write_text(summary_tsv(results))
    evolve_seasons(results, out / "seasons.png")
    print_summary(summary, str(out))
    if missing:
        print(f"missing (not finished): {', '.join(missing)}")


if __name__ == "__main__":
    main()
