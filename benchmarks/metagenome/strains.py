"""Strain-level read classification against its own ceiling.

Reads of strains of one species are mostly identical in several of them: a read that falls between
two differences holds exactly the same k-mers of two or more strains, and no method that reads the
sequence can tell which one it came from.  This script measures, on a sample with its truth table
(`genolm simulate` output), with exact k-mer lookup (`genolm.bio.kmer_index`):

- `none`: a tied read gets no strain (genolm classify's default),
- `em`: a tied read gets the most abundant of its tied strains, abundance by EM over the calls
  (`genolm classify --ties em`),
- `oracle`: the same with the *true* abundances from the truth table — the best any tie-breaking
  can do,
- `uniform`: the expected accuracy of guessing uniformly among the tied strains,

and the share of reads whose k-mers single out their own strain.  Mates of a pair are classified
together (as `genolm classify` does) unless --no-pairs.

    python benchmarks/metagenome/strains.py mock/reads_R1.fastq.gz mock/reads_R2.fastq.gz \
        --references bacteria/S.Aureus__*.fasta.gz --truth mock/truth.tsv --k 31 --out strains.json
    SMOKE=1 python benchmarks/metagenome/strains.py      # 400 reads of 3 made-up strains -> $BENCH_OUT/strains.json
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

from genolm.bio.kmer_index import KmerIndex, em_abundance, resolve_ties  # noqa: E402
from genolm.metagenome.reads import read_inputs, read_truth, strip_mate  # noqa: E402
from genolm.metagenome.classify import load_references, mate_units  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("inputs", nargs="*" if SMOKE else "+")
    p.add_argument("--references", nargs="+", required=not SMOKE)
    p.add_argument("--truth", required=not SMOKE)
    p.add_argument("--k", type=int, default=31)
    p.add_argument("--threshold", type=float, default=0.1)
    p.add_argument("--no-pairs", action="store_true")
    p.add_argument("--out", default=str(OUT / "strains.json") if SMOKE else None, help="JSON of the table")
    args = p.parse_args()
    if not args.inputs:  # SMOKE: reads of 3 made-up S. aureus strains
        sys.path.insert(0, str(ROOT / "benchmarks"))
        from smoke_inputs import make

        made = make(OUT / "smoke_inputs", ["reads"])
        args.inputs, args.truth = [str(made / "sa5" / "reads.fastq.gz")], str(made / "sa5" / "truth.tsv")
        args.references = [str(p) for p in sorted((made / "genomes" / "bacteria").glob("S.Aureus__*"))]
    t0 = time.perf_counter()
    names, genomes, _ = load_references(args.references, None)
    truth = read_truth(args.truth)
    ids, _, reads = read_inputs(args.inputs, 0, what="classify")
    unit = mate_units(ids, not args.no_pairs)
    members: list[list[str]] = [[] for _ in range(int(unit.max()) + 1)]
    true = np.full(len(members), -1)
    for i, (r, u) in enumerate(zip(reads, unit)):
        members[u].append(r)
        true[u] = names.index(truth[strip_mate(ids[i])])
    index = KmerIndex.build(genomes, list(range(len(names))), args.k)
    calls = index.classify(["N".join(m) for m in members])
    counted = calls.genome_votes / np.maximum(calls.kmers, 1) >= args.threshold
    true_share = np.bincount(true, minlength=len(names)) / len(true)
    em_share = em_abundance(calls.genome, calls.tied_read, calls.tied_ref, len(names), counted=counted)
    rows = {"none": np.mean((calls.genome == true) & counted)}
    for name, share in (("em", em_share), ("oracle", true_share)):
        rows[name] = np.mean((resolve_ties(calls.genome, calls.tied_read, calls.tied_ref, share) == true) & counted)
    tied_size = np.bincount(calls.tied_read, minlength=len(members))
    own_tied = np.zeros(len(members), bool)
    own_tied[calls.tied_read[calls.tied_ref == true[calls.tied_read]]] = True
    rows["uniform"] = np.mean(np.where(calls.genome >= 0, calls.genome == true, own_tied / np.maximum(tied_size, 1))
                              * counted)
    single = float(np.mean((calls.genome == true) & counted))
    print(f"{len(reads):,} reads in {len(members):,} units (pairs together: {not args.no_pairs}), "
          f"{len(names)} references, k = {args.k}; own strain singled out by its k-mers: {single:.3f}")
    print(f"{'ties':8s} {'accuracy':>8s}")
    for name, acc in rows.items():
        print(f"{name:8s} {acc:8.3f}")
    print("abundance  " + "  ".join(f"{n}: true {t:.3f} em {e:.3f}" for n, t, e in zip(names, true_share, em_share)))
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"benchmark": "strains", "date": time.strftime("%Y-%m-%d"), "k": args.k,
                       "reads": len(reads), "units": len(members), "pairs": not args.no_pairs,
                       "references": names, "accuracy": {k: float(v) for k, v in rows.items()},
                       "true_abundance": true_share.tolist(), "em_abundance": em_share.tolist(),
                       "seconds": round(time.perf_counter() - t0, 1)}, f, indent=1)


if __name__ == "__main__":
    main()
