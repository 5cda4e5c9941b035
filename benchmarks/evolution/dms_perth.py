"""Mutation effects against the lab: `genolm score --truth` on the deep mutational scan of the HA of
A/Perth/16/2009 (H3N2; Lee et al. 2018), the development half of the HA1 sites, with the
baselines every such run reports (the family's frequency table, BLOSUM62) in the same run.

  python benchmarks/evolution/dms_perth.py --model RUN --out OUT              # a trained run
  python benchmarks/evolution/dms_perth.py --flavor small --minutes 5 --device cuda --out OUT
  SMOKE=1 python benchmarks/evolution/dms_perth.py                            # a debug model, HA1 sites 1-30
  python benchmarks/evolution/dms_perth.py --model RUN --fit-combination genolm/evolution/dms_combination.json

Without --model, a causal model of --flavor is trained for --minutes on the H3N2 HA1 sequences
dated up to --until (2009: the scanned strain's year; nothing later is read), 1,024-token windows.
The scanned coding sequence (16 signal-peptide codons, then HA1 site 1) is scored at every amino
acid of every codon (`--level aa`), and the family of the frequency table is the same
sequences up to --until; its combined score (the family, BLOSUM62 and the mutant, genolm's
shipped weights) is reported beside them, or with --fit-combination fit to this truth (in sample,
and on held-out halves of the sites).  Writes OUT/dms_perth.json and the score's Parquet, .truth.json and
.truth.tsv (Spearman per site).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
SMOKE = os.environ.get("SMOKE") == "1"  # the whole path on the CPU in seconds (tests/test_benchmarks.py)
OUT = Path(os.environ.get("BENCH_OUT", ROOT / "benchmarks" / "out"))  # where the benchmarks write

from genolm.cli import main as genolm  # noqa: E402

DMS = ROOT / "data" / "dms_perth2009_h3"
FAMILY = ROOT / "data" / "h3n2_ha1_1968-2010.fasta.gz"


def run(argv: list) -> None:
    code = genolm([str(a) for a in argv])
    if code:
        raise SystemExit(f"genolm {argv[0]} failed ({code})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", help="a trained causal run (skips the training)")
    ap.add_argument("--flavor", default="small")
    ap.add_argument("--minutes", type=float, default=3.0, help="training time without --model")
    ap.add_argument("--until", type=int, default=2009, help="the last year of sequences read")
    ap.add_argument("--truth", default=str(DMS / "ha1_dev_sites_prefs.csv"))
    ap.add_argument("--device", default="auto")
    ap.add_argument("--suffix", type=int, default=0, help="genolm score --suffix (0: exact)")
    ap.add_argument("--out", default=str(OUT / "dms_perth"))
    ap.add_argument("--fit-combination", metavar="JSON",
                    help="fit the combined score's weights to this truth and write them (genolm score --fit-combination; "
                         "genolm's shipped weights: genolm/evolution/dms_combination.json)")
    ap.add_argument("--fit-model", action="store_true", help="the fit also reads the model's scores")
    if SMOKE:
        ap.set_defaults(flavor="debug", minutes=None, device="cpu")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    from genolm.evolution.baselines import dated_records
    from genolm.io.seqio import write_fasta

    d = dated_records(FAMILY)
    keep = [(f"{i}|x|{dt.year}", s) for i, (s, dt) in enumerate(zip(d.seqs, d.dates)) if dt.year <= args.until]
    if SMOKE:
        keep = keep[::40]
    write_fasta(keep, out / "family.fa")
    result = {"args": vars(args), "family_sequences": len(keep)}
    truth, reference = args.truth, DMS / "Perth09_HA_reference.fa"
    if SMOKE:  # the signal peptide and HA1 sites 1-30: the sites measured there
        lines = Path(args.truth).read_text().splitlines()
        (out / "truth.csv").write_text("\n".join([lines[0]] + [x for x in lines[1:] if int(x.split(",")[0]) <= 30]) + "\n")
        seq = "".join(Path(reference).read_text().splitlines()[1:])
        (out / "reference.fa").write_text(f">perth_start\n{seq[:3 * 46]}\n")
        truth, reference = out / "truth.csv", out / "reference.fa"
    model = args.model
    if not model:
        t = time.perf_counter()
        run(["prepare", out / "family.fa", "--out", out / "corpus", "--window", 1024, "--val-fraction", 0.05,
             "--no-progress"])
        shutil.rmtree(out / "run", ignore_errors=True)  # this benchmark's own run: trained afresh
        budget = ["--steps", 4] if args.minutes is None else ["--minutes", args.minutes, "--steps", 100000]
        run(["pretrain", "--data", out / "corpus", "--out", out / "run", "--model", args.flavor, "--device",
             args.device, "--batch-size", 16, "--lr", 2e-3, "--eval-every", 200, "--no-progress", *budget])
        model = out / "run"
        last = [json.loads(x) for x in (model / "metrics.jsonl").read_text().splitlines() if "val_bpb" in x][-1]
        result["train"] = {"seconds": time.perf_counter() - t, "step": last["step"], "val_bpb": last["val_bpb"]}
    t = time.perf_counter()
    run(["score", reference, "--model", model, "--level", "aa", "--out", out / "scores.parquet",
         "--truth", truth, "--truth-offset", 16, "--family", out / "family.fa", "--family-until", args.until,
         "--device", args.device, "--suffix", args.suffix, "--no-progress",
         *(["--fit-combination", args.fit_combination] if args.fit_combination else []),
         *(["--fit-model"] if args.fit_model else [])])
    result["score_seconds"] = time.perf_counter() - t
    result["truth"] = json.loads((out / "scores.truth.json").read_text())
    (out / "dms_perth.json").write_text(json.dumps(result, indent=1, default=float) + "\n")
    tr = result.get("train")
    print(f"\nmodel: {model}" + (f" ({args.flavor}, {tr['step']} steps, {tr['val_bpb']:.3f} bits/base held out)"
                                  if tr else "") + f"; family: {len(keep):,} HA1 sequences up to {args.until}")
    print(f"{'scoring':22s} {'all pairs':>10s} {'per site':>10s}   ({result['truth']['pairs']:,} pairs, "
          f"{result['truth']['sites']} sites; Spearman)")
    for name, a in result["truth"]["agreement"].items():
        print(f"{name:22s} {a['all_pairs']:10.3f} {a['mean_per_site']:10.3f}")
    fitted = result["truth"].get("fitted_combination")
    if fitted:
        h = fitted["held_out"]
        print(f"{'combined (held out)':22s} {h['all_pairs']:10.3f} {h['mean_per_site']:10.3f}   (fit on half the sites, "
              f"ranked on the other half; mean of {h['splits']} splits)")


if __name__ == "__main__":
    main()
