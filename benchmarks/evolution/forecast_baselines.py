"""The forecasts of genolm evolve that need no language model, on the H3N2 HA1 data, season by
season: the baselines (strain pick: consensus, last-three-months profile, LBI; mutation pick:
last-season frequency, its rise) and the fitness model (genolm.evolution.fitness: the last months'
population grown by fitness, weights fit on the seasons before; --fitness-terms), each season
forecast from the sequences dated before it only and scored against that season's sequences,
with the predicted population's mean amino-acid distance to it (Huddleston et al. 2020).

  python benchmarks/evolution/forecast_baselines.py data/h3n2_ha1_1968-2010.fasta.gz --seasons 2001-2010 --out bench_evolve
  SMOKE=1 python benchmarks/evolution/forecast_baselines.py   # 1,363 HA1 cut to 150 nt, seasons 2009-2010

--out defaults to $BENCH_OUT/forecast_baselines ($BENCH_OUT: benchmarks/out).  A season of the full
HA1 data takes about 40 s on one core (mostly the mutation frequencies), 10 seasons about 15 minutes;
the fitness model adds its terms for each season once (a few seconds each; the constraint term
aligns nothing: the data are aligned).
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

from genolm.evolution import fitness  # noqa: E402
from genolm.evolution.baselines import baselines, before, dated_records, evaluate, proteins  # noqa: E402
from genolm.evolution.forecast import epitope_positions, family_constraint  # noqa: E402


def season_scores(data, prot, season: int, terms: list[str], epitope, cache: dict) -> dict:
    """The baselines and the fitness model of ``season`` (forecast from the seasons before it)."""
    years = data.years()
    base = baselines(data, prot, season - 1)
    kept = np.flatnonzero(years < season)
    past, _ = before(data, season)  # the fitness model is handed nothing later
    fit = fitness.forecast(past, prot[kept], season - 1, epitope=epitope if "epitope" in terms else None,
                           constraint=family_constraint if "constraint" in terms else None, cache=cache, use=terms)
    assert np.array_equal(kept[fit["season"].candidates], base["candidates"])
    picks = {"fitness model": fit["pick"], **base["picks"]}
    scores = {"fitness model": fitness.predicted_frequency(prot[kept], fit["season"], fit["population"],
                                                           base["mutations"]), **base["scores"]}
    r = evaluate(prot, np.flatnonzero(years == season), base, picks, scores)
    r["population_distance"] = {"fitness model": float(fit["population"] @ r["to_target"]),
                                "last 3 months": float(fit["season"].now @ r["to_target"]),
                                "last season": float(r["to_target"].mean())}
    return {"season": season, "candidates": len(base["candidates"]), "fitness_weights": fit["weights"], **r}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("data", nargs="?" if SMOKE else None)
    ap.add_argument("--seasons", default="2001-2010")
    ap.add_argument("--out", default=str(OUT / "forecast_baselines"))
    ap.add_argument("--fitness-terms", default="lbi", help="terms of the fitness model (genolm evolve's)")
    ap.add_argument("--epitope-sites", help="positions of the epitope term, or koel-h3")
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
    rows, cache = [], {}
    terms = [t for t in args.fitness_terms.split(",") if t]
    epitope = epitope_positions(args.epitope_sites)
    for season in range(lo, hi + 1):
        r = season_scores(data, prot, season, terms, epitope, cache)
        rows.append({k: v for k, v in r.items() if k not in ("mutations", "truth", "unseen", "to_target", "candidate_ids")})
        print(f"{season}: fitness weights {r['fitness_weights']}", file=sys.stderr, flush=True)
    strain_names = list(rows[0]["strain_pick"])
    mut_names = list(rows[0]["mutation_pick"])
    dist_names = list(rows[0]["population_distance"])
    head = ["season", "cands", "sweeps", "unseen"] + strain_names + [f"{m} AUROC" for m in mut_names] + \
        [f"{m} p@10" for m in mut_names] + ["p@10 ceiling"] + [f"{d} distance" for d in dist_names]
    print("\t".join(head))
    table = []
    for r in rows:
        vals = [r["season"], r["candidates"], r["sweeps"], r["sweeps_unseen_last_season"]] + \
            [r["strain_pick"][n] for n in strain_names] + [r["mutation_pick"][m]["auroc"] for m in mut_names] + \
            [r["mutation_pick"][m]["precision@10"] for m in mut_names] + [r["precision@10_ceiling"]] + \
            [r["population_distance"][d] for d in dist_names]
        table.append(vals)
        print("\t".join(f"{v:.3f}" if isinstance(v, float) else str(v) for v in vals))
    arr = np.array([[float(v) for v in row[4:]] for row in table])
    mean, sd = np.nanmean(arr, 0), np.nanstd(arr, 0, ddof=1)  # sample sd, as genolm evolve
    print("mean\t\t\t\t" + "\t".join(f"{m:.3f}" for m in mean))
    print("sd\t\t\t\t" + "\t".join(f"{s:.3f}" for s in sd))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "evolve_baselines.json").write_text(json.dumps(
        {"fitness_terms": terms, "epitope_sites": args.epitope_sites, "seasons": rows, "mean": dict(zip(head[4:], mean.tolist())), "sd": dict(zip(head[4:], sd.tolist())),
         "seconds": round(time.perf_counter() - t0, 1)}, indent=1, default=float) + "\n")


if __name__ == "__main__":
    main()
