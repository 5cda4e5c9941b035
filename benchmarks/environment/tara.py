"""Sequence → environment on the Tara Oceans RNA-virus contigs, held out by station.

Builds the sample sheet with data/tara_sheet.py, joins the contigs to their samples, and scores
with cross-validation grouped by station (genolm.environment.evaluation): ridge regression R² for each
environmental target with enough contigs, and balanced accuracy for the depth layer (surface vs
deep chlorophyll maximum), for these feature sets, all in one run:

  mean         the training mean (or majority class)
  kmer         k-mer composition of the contig (canonical k = --k, centred log-ratio)
  latlon       the sample's latitude (and its absolute value) and longitude (sin/cos) alone
  latlon+kmer  both
Regression with ridge and with gradient boosting; R² over the pooled out-of-fold predictions,
with the spread of the per-fold R².
  idform       (layer only) the contig id's form, i.e. the size fraction / assembly batch

Layer is also scored within one id form, to take the batch effect out.  Prints a table, writes JSON.

    python benchmarks/environment/tara.py --out bench_env
    SMOKE=1 python benchmarks/environment/tara.py        # the 6 samples of data/tara, 3 folds

--out defaults to $BENCH_OUT/tara ($BENCH_OUT: benchmarks/out).
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

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "data"))
SMOKE = os.environ.get("SMOKE") == "1"  # the whole path on the CPU in seconds (tests/test_benchmarks.py)
OUT = Path(os.environ.get("BENCH_OUT", ROOT / "benchmarks" / "out"))  # where the benchmarks write

from genolm.bio.kmers import clr, kmer_profiles  # noqa: E402
from genolm.io.samples import read_sample_sheet  # noqa: E402
from genolm.io.seqio import read_records  # noqa: E402
from genolm.environment.evaluation import cv_classification, cv_regression, group_folds  # noqa: E402
import tara_sheet  # noqa: E402

TARGETS = ["temperature_c", "salinity_psu", "oxygen_umol_kg", "nitrate_umol_l", "phosphate_umol_l",
           "chlorophyll_mg_m3"]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "ocean" / "tara_rna_virus"))
    p.add_argument("--out", default=str(OUT / "tara"))
    p.add_argument("--k", type=int, default=4)
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--min-contigs", type=int, default=500, help="score a target with at least this many contigs")
    p.add_argument("--targets", nargs="+", default=TARGETS, help=f"default: {' '.join(TARGETS)}")
    if SMOKE:
        p.set_defaults(data=None, folds=3, min_contigs=50, targets=TARGETS[:2])
    args = p.parse_args()
    if args.data is None:  # SMOKE: the contigs and samples of data/tara, as the published tables
        sys.path.insert(0, str(ROOT / "benchmarks"))
        from smoke_inputs import make

        args.data = make(OUT / "smoke_inputs", ["tara"]) / "tara"
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        report = tara_sheet.build(Path(args.data), Path(tmp))
        samples = read_sample_sheet(Path(tmp) / "samples.tsv").samples
        placed = dict(line.split("\t") for line in (Path(tmp) / "contig_samples.tsv").read_text().splitlines()[1:])
    recs = [r for r in read_records(Path(args.data) / "contigs_votus_id90.fasta.gz", unique_ids=False)]
    ids, seqs = [r.id for r in recs], [r.seq.upper() for r in recs]
    sample = [placed[i] for i in ids]
    station = np.array([samples[s]["station"] for s in sample])
    kmer = clr(kmer_profiles(seqs, args.k, unknown="n"))

    def latlon(rows):
        lat = np.array([samples[sample[i]]["latitude"] for i in rows], float)
        lon = np.radians([samples[sample[i]]["longitude"] for i in rows])
        return np.c_[lat, np.abs(lat), np.sin(lon), np.cos(lon)]

    results = []
    for target in args.targets:
        rows = np.array([i for i, s in enumerate(sample) if samples[s].get(target) is not None
                         and samples[s].get("latitude") is not None])
        if len(rows) < args.min_contigs:
            continue
        y = np.array([samples[sample[i]][target] for i in rows], float)
        folds = group_folds(station[rows], args.folds, args.seed)
        ll = latlon(rows)
        for name, x, model in (("mean", None, "ridge"), ("kmer", kmer[rows], "ridge"),
                               ("kmer", kmer[rows], "boosting"), ("latlon", ll, "ridge"), ("latlon", ll, "boosting"),
                               ("latlon+kmer", np.c_[ll, kmer[rows]], "boosting")):
            r = cv_regression(x, y, folds, model, args.seed)
            name = name if x is None else f"{name} {model}"
            results.append({"target": target, "features": name, "contigs": len(rows),
                             "samples": len({sample[i] for i in rows}), "stations": len(set(station[rows])),
                             "metric": "R2", "score": r["r2"], "sd": r["r2_sd"], "folds": r["r2_folds"]})
    form = np.array(["TARA_" if i.startswith("TARA_") else "station-first" for i in ids])
    for subset, keep in (("all", np.ones(len(ids), bool)), ("TARA_ ids only", form == "TARA_"),
                         ("station-first ids only", form == "station-first")):
        rows = np.array([i for i, s in enumerate(sample) if keep[i] and samples[s]["layer"] in ("SUR", "DCM")
                         and samples[s].get("latitude") is not None])
        if not len(rows):  # (no contig of this id form: the small SMOKE set has no TARA_ ids)
            continue
        y = np.array([samples[sample[i]]["layer"] for i in rows])
        folds = group_folds(station[rows], args.folds, args.seed)
        ll = latlon(rows)
        sets = [("mean", None), ("kmer", kmer[rows]), ("latlon", ll), ("latlon+kmer", np.c_[ll, kmer[rows]])]
        if subset == "all":
            sets.append(("idform", (form[rows] == "TARA_").astype(float)[:, None]))
        for name, x in sets:
            r = cv_classification(x, y, folds)
            results.append({"target": f"layer SUR/DCM ({subset})", "features": name, "contigs": len(rows),
                            "samples": len({sample[i] for i in rows}), "stations": len(set(station[rows])),
                            "metric": "balanced accuracy", "score": r["bacc"], "sd": r["bacc_sd"],
                            "folds": r["bacc_folds"]})
    print(f"\n{report['contigs']:,} contigs, {report['samples']} samples; {args.folds} folds by station, k = {args.k}")
    print(f"{'target':38s} {'features':20s} {'contigs':>7s} {'stations':>8s} {'metric':>8s} {'score':>7s} {'fold sd':>7s}")
    for r in results:
        metric = "R²" if r["metric"] == "R2" else "bal.acc"
        print(f"{r['target']:38s} {r['features']:20s} {r['contigs']:7d} {r['stations']:8d} {metric:>8s} "
              f"{r['score']:7.3f} {r['sd']:6.3f}")
    (out / "bench_env.json").write_text(json.dumps({
        "benchmark": "env", "date": time.strftime("%Y-%m-%d"), "k": args.k, "folds": args.folds, "seed": args.seed,
        "join": {k: v for k, v in report.items() if k not in ("unmatched", "sample_not_in_sheet")},
        "seconds": round(time.perf_counter() - t0, 1), "rows": results}, indent=1) + "\n")


if __name__ == "__main__":
    main()
