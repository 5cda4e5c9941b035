"""Held-out bits per base of interpolated Markov models and general compressors on 16 bacteria.

  python benchmarks/pretrain/markov_bits.py [--data ../shared/data] [--max-order 12] [--out benchmarks/out]
                                            [--splits region,species,random] [--val-bases 500000]
  SMOKE=1 python benchmarks/pretrain/markov_bits.py    # 9 random 20 kb genomes, orders 0..3

The splits (genolm.bio.splits.bacteria_splits) of data/genomes/bacteria/*.fasta.gz:

  region   (a) unseen region: train on the first 90% of every record, test on the last 10% of the
               H. pylori and S. aureus records;
  species  (b) unseen species: train on E. coli + H. pylori + S. aureus, test on V. cholerae;
  random   (c) random 90/10 split of 1 kb windows (strains share sequence: a memory test).

Validation, always on the training side: in (a) the last 5% of each training record, with the
1 kb windows that are near copies of training sequence (> 50% of their 24-mers in it) set aside,
as the test set is sequence absent from training; in (b) leave-one-species-out folds (count two
training species, validate on the third; one set of weights for the three folds), as the test
is a species absent from training (--species-val tail: the last 5% of each record, cleaned like
(a)); in (c) 5% of the training windows.

For each split: count every (k+1)-mer of the training part (both strands) once; for K = 0..max
fit the weights of the order-K interpolated model on validation (warm-started from K-1) and score
validation and test; pick K by validation; then recount on the whole training side (train +
validation + set-aside windows) with those weights and score the test set again (the headline).
Compressors, on the test set genome by genome, A/C/G/T only: bz2 -9 and xz -9e on the text and
on 2 bits per base, each genome alone, and xz (2-bit) of the genome given the training side
(size of training + genome minus size of training).  Prints tables; writes --out/markov.json.
"""

from __future__ import annotations

import argparse
import bz2
import datetime
import json
import lzma
import os
import platform
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
SMOKE = os.environ.get("SMOKE") == "1"  # the whole path on the CPU in seconds (tests/test_benchmarks.py)
OUT = Path(os.environ.get("BENCH_OUT", ROOT / "benchmarks" / "out"))  # where the benchmarks write

from genolm.bio.splits import (Split, bacteria_splits, clean_validation, drop_near_copies,  # noqa: E402
                               kmer_set, load_genomes)
from genolm.model.markov import MarkovModel, encode, fit_weights_cv  # noqa: E402

_NOT_ACGT = bytes(sorted(set(range(256)) - set(b"ACGT")))
XZ = [{"id": lzma.FILTER_LZMA2, "preset": 9 | lzma.PRESET_EXTREME, "dict_size": 1 << 27}]  # 128 MiB window


# ----------------------------------------------------------------------------- compressors


def acgt(seq: str) -> bytes:
    """The A/C/G/T bases of ``seq`` as ASCII (other bases dropped, as the Markov model skips them)."""
    return seq.encode("ascii").translate(None, _NOT_ACGT)


def pack2(seq: bytes) -> bytes:
    """A/C/G/T text -> 2 bits per base (4 bases per byte, zero-padded)."""
    c = encode(seq).astype(np.uint8)
    c = np.concatenate([c, np.zeros(-len(c) % 4, np.uint8)]).reshape(-1, 4)
    return (c[:, 0] << 6 | c[:, 1] << 4 | c[:, 2] << 2 | c[:, 3]).astype(np.uint8).tobytes()


def xz_size(data: bytes) -> int:
    return len(lzma.compress(data, format=lzma.FORMAT_RAW, filters=XZ))


def compressor_bits(split: Split) -> dict:
    """Compressed bits per base of the test set, genome by genome (alone, and given the training side)."""
    by_genome: dict[str, list[bytes]] = defaultdict(list)
    for p in split.test:
        by_genome[p.source.split("/")[0]].append(acgt(p.seq))
    train = pack2(b"".join(acgt(s) for s in split.training_side()))
    base = xz_size(train)
    totals: dict[str, float] = defaultdict(float)
    rows = []
    for genome, parts in by_genome.items():
        text = b"".join(parts)
        two = pack2(text)
        n = len(text)
        row = {"genome": genome, "bases": n,
               "bz2_text": 8 * len(bz2.compress(text, 9)) / n,
               "xz_text": 8 * xz_size(text) / n,
               "bz2_2bit": 8 * len(bz2.compress(two, 9)) / n,
               "xz_2bit": 8 * xz_size(two) / n,
               "xz_2bit_given_train": 8 * (xz_size(train + two) - base) / n}
        rows.append(row)
        for key, value in row.items():
            if key not in ("genome", "bases"):
                totals[key] += value * n
    n_all = sum(r["bases"] for r in rows)
    return {"per_genome": rows, "total": {k: v / n_all for k, v in totals.items()}}


# ----------------------------------------------------------------------------- Markov models


def per_genome_bits(model: MarkovModel, split: Split) -> dict[str, float]:
    bits: dict[str, list[float]] = defaultdict(lambda: [0.0, 0])
    for p in split.test:
        lp = model.log2_probs(p.seq)
        ok = ~np.isnan(lp)
        acc = bits[p.source.split("/")[0]]
        acc[0] -= float(lp[ok].sum())
        acc[1] += int(ok.sum())
    return {g: b / n for g, (b, n) in bits.items()}


def run_split(split: Split, max_order: int, val_bases: int, compressors: bool) -> dict:
    t_split = time.perf_counter()
    out: dict = {"name": split.name, "description": split.description}
    t = time.perf_counter()
    reference = kmer_set(split.train)
    if split.name in ("region", "species") and split.val:  # tests of sequence absent from training
        clean_validation(split, reference=reference)
        out["description"] = split.description
    near = drop_near_copies(split.test, reference)
    out["test_near_copies_of_train"] = {"windows": near.n_windows, "near_copies": near.n_dropped,
                                        "bases": near.bases_dropped}
    out["sizes"] = split.sizes()
    out["notes"] = split.notes
    out["seconds_near_copies"] = time.perf_counter() - t
    print(f"\n== {split.name}: {split.description}", flush=True)
    print("   bases: " + ", ".join(f"{k} {v / 1e6:.2f} M" for k, v in out["sizes"].items())
          + f"; test windows that are near copies of train: {near.n_dropped} of {near.n_windows}", flush=True)

    t = time.perf_counter()
    full = MarkovModel(max_order).fit(split.seqs("train"))
    out["seconds_count"] = time.perf_counter() - t
    print(f"   counted {full.n_trained / 1e6:.1f} M positions (both strands), orders 0..{max_order}, "
          f"in {out['seconds_count']:.1f} s")
    val, test = split.seqs("val"), split.seqs("test")
    folds = []
    if split.folds:  # cross-validation: one model per fold, counted on the fold's training part
        t = time.perf_counter()
        folds = [(MarkovModel(max_order).fit([p.seq for p in tr]), [p.seq for p in va])
                 for tr, va in split.folds]
        out["seconds_count_folds"] = time.perf_counter() - t
        sizes = [f"count {fm.n_trained / 2e6:.1f} Mb, validate on {sum(map(len, va)) / 1e6:.1f} Mb"
                 for fm, va in folds]
        print(f"   {len(folds)} validation folds: " + "; ".join(sizes)
              + f" ({out['seconds_count_folds']:.0f} s)")
    rows, prev = [], None
    print(f"   {'K':>2s} {'val bits':>9s} {'test bits':>9s} {'evals':>5s} {'fit s':>6s} {'test s':>6s}")
    for k in range(max_order + 1):
        m = full.with_max_order(k)
        if prev is not None:  # warm start: lower orders as fitted for K-1, order K like order K-1
            m.alpha[:k], m.discount[:k] = prev.alpha, prev.discount
            m.alpha[k], m.discount[k] = prev.alpha[-1], prev.discount[-1]
        t = time.perf_counter()
        if folds:
            views = [(fm.with_max_order(k), va) for fm, va in folds]
            views[0][0].alpha, views[0][0].discount = m.alpha, m.discount  # the starting point
            fit = fit_weights_cv(views, max_bases=val_bases)
            m.alpha, m.discount = fit.pop("alpha"), fit.pop("discount")
        else:
            fit = m.fit_weights(val, max_bases=val_bases)
        t_fit = time.perf_counter() - t
        t = time.perf_counter()
        score = m.evaluate(test)
        t_test = time.perf_counter() - t
        rows.append({"K": k, "val_bits": fit["bits_after"], "val_bases_used": fit["n_bases"],
                     "test_bits": score.bits_per_base, "test_scored": score.n_scored,
                     "test_skipped": score.n_skipped, "evaluations": fit["evaluations"],
                     "fit_seconds": t_fit, "test_seconds": t_test,
                     "alpha": m.alpha.tolist(), "discount": m.discount.tolist()})
        print(f"   {k:2d} {fit['bits_after']:9.4f} {score.bits_per_base:9.4f} {fit['evaluations']:5d} "
              f"{t_fit:6.1f} {t_test:6.1f}", flush=True)
        prev = m
    best = min(rows, key=lambda r: r["val_bits"])
    out["orders"] = rows
    out["best_by_val"] = {"K": best["K"], "val_bits": best["val_bits"], "test_bits": best["test_bits"]}

    # Headline: the chosen weights, counts from the whole training side.
    t = time.perf_counter()
    final = MarkovModel(best["K"]).fit(split.training_side())
    final.alpha, final.discount = np.array(best["alpha"]), np.array(best["discount"])
    score = final.evaluate(test)
    out["final"] = {"K": best["K"], "trained_on": "train + val + set-aside windows",
                    "n_trained": final.n_trained, "test_bits": score.bits_per_base,
                    "test_scored": score.n_scored, "test_skipped": score.n_skipped,
                    "per_genome": per_genome_bits(final, split), "seconds": time.perf_counter() - t}
    print(f"   best by validation: K = {best['K']}, test {best['test_bits']:.4f}; recounted on the whole "
          f"training side: test {score.bits_per_base:.4f} ({score.n_scored:,} bases scored, "
          f"{score.n_skipped} skipped)")
    del full, final, folds

    if compressors:
        t = time.perf_counter()
        comp = compressor_bits(split)
        comp["seconds"] = time.perf_counter() - t
        out["compressors"] = comp
        tot = comp["total"]
        print("   compressors on the test set, genome by genome: "
              + ", ".join(f"{k} {v:.4f}" for k, v in tot.items()) + f" ({comp['seconds']:.0f} s)")
    out["seconds"] = time.perf_counter() - t_split
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=str(ROOT.parent / "shared" / "data"))
    ap.add_argument("--max-order", type=int, default=12)
    ap.add_argument("--out", default=str(OUT))
    ap.add_argument("--splits", default="region,species,random")
    ap.add_argument("--val-bases", type=int, default=500_000, help="validation positions used to fit weights")
    ap.add_argument("--species-val", choices=["species", "tail"], default="species",
                    help="validation of split (b): leave-one-species-out folds, or record tails")
    ap.add_argument("--no-compressors", action="store_true")
    if SMOKE:
        ap.set_defaults(data=None, max_order=3, val_bases=20_000)
    args = ap.parse_args()
    if args.data is None:  # SMOKE: random genomes named like the real ones
        sys.path.insert(0, str(ROOT / "benchmarks"))
        from smoke_inputs import make

        args.data = make(Path(args.out) / "smoke_inputs", ["genomes"])
    t0 = time.perf_counter()
    paths = sorted((Path(args.data) / "genomes" / "bacteria").glob("*.fasta.gz"))
    genomes = load_genomes(paths)
    # Validation is cleaned in run_split, where the k-mer set of the training part is made anyway.
    splits = bacteria_splits(genomes, clean_val=False, species_val=args.species_val)
    print(f"{len(genomes)} genomes, {sum(g.n_bases for g in genomes) / 1e6:.1f} Mbp, "
          f"loaded and split in {time.perf_counter() - t0:.1f} s")
    results = [run_split(splits[name], args.max_order, args.val_bases, not args.no_compressors)
               for name in args.splits.split(",")]

    print("\n== summary: held-out bits per base (lower is better)")
    cols = ["best K", "Markov", "xz 2-bit alone", "xz 2-bit | train", "bz2 2-bit alone", "xz text alone"]
    print(f"   {'split':8s} " + " ".join(f"{c:>16s}" for c in cols))
    for r in results:
        tot = r.get("compressors", {}).get("total", {})
        vals = [r["final"]["K"], r["final"]["test_bits"], tot.get("xz_2bit"), tot.get("xz_2bit_given_train"),
                tot.get("bz2_2bit"), tot.get("xz_text")]
        cells = [f"{v:>16}" if isinstance(v, int) else f"{'-' if v is None else format(v, '.4f'):>16s}"
                 for v in vals]
        print(f"   {r['name']:8s} " + " ".join(cells))
    total = time.perf_counter() - t0
    print(f"   total {total:.0f} s")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    info = {"date": datetime.datetime.now().isoformat(timespec="seconds"), "machine": platform.platform(),
            "processor": platform.processor(), "cpus": os.cpu_count(), "python": platform.python_version(),
            "numpy": np.__version__, "command": " ".join(sys.argv), "seconds": total,
            "genomes": [g.name for g in genomes]}
    (out / "markov.json").write_text(json.dumps({"info": info, "splits": results}, indent=1))
    print(f"   wrote {out / 'markov.json'}")


if __name__ == "__main__":
    main()
