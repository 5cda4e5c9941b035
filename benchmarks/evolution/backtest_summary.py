"""Combine per-season ``genolm evolve`` runs (each ``--until Y``) into the backtest's summary:
mean ± sd over the seasons of every strain and mutation pick, the per-season table and plot.

  python benchmarks/evolve_summary.py runs/season_* --out summary_dir

Seasons run as separate commands (in parallel on one GPU, each written atomically) give the same
summary as ``genolm evolve --backtest``; a season that did not finish is simply missing (and
listed).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from genolm.report.figures import evolve_seasons  # noqa: E402
from genolm.evolution.forecast import print_summary, strict_json, summarize, summary_tsv  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs", nargs="+", help="genolm evolve output directories (with forecast.json)")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
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
