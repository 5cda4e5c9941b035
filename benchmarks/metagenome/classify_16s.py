"""16S rRNA classification to genus and phylum with `genolm classify`.

The curated 16S set (../shared/data/taxonomy/16S_gold: 5,181 near-full-length sequences, the
lineage in the header's last tab field) is split at random, seeded: 80% become the reference
database (`--per-record`, one reference per sequence), 20% are classified.  A query whose genus
(phylum) has no reference sequence is right only when unassigned.  Prints a table and writes JSON.

    python benchmarks/metagenome/classify_16s.py --out bench16s        # exact k-mers (k = 12)
    python benchmarks/metagenome/classify_16s.py --out bench16s --model RUN --device cuda   # + nearest embeddings
    SMOKE=1 python benchmarks/metagenome/classify_16s.py   # 54 made-up 16S-like sequences, k-mers and a debug model

--out defaults to $BENCH_OUT/classify_16s ($BENCH_OUT: benchmarks/out).
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

from genolm.cli import main as genolm  # noqa: E402
from genolm.io.seqio import read_records  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "taxonomy" / "16S_gold" / "rRNA16S.gold.fasta.gz"
LEVELS = {"phylum": 1, "genus": -1}  # position in "Bacteria; Phylum; Class; Order; Family; Genus"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=str(DATA))
    p.add_argument("--out", default=str(OUT / "classify_16s"))
    p.add_argument("--query-fraction", type=float, default=0.2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--k", type=int, default=12)
    p.add_argument("--model", default=None, help="also the embedding method with this model")
    p.add_argument("--ref-fragments", type=int, default=1, help="embedding: pieces per reference (default: 1)")
    p.add_argument("--device", default="auto")
    if SMOKE:
        p.set_defaults(data=None, device="cpu", query_fraction=0.3)
    args = p.parse_args()
    if args.data is None:  # SMOKE: made-up 16S-like sequences and a debug model
        sys.path.insert(0, str(ROOT / "benchmarks"))
        from smoke_inputs import make

        made = make(OUT / "smoke_inputs", ["16s", "mlm"])
        args.data, args.model = made / "16S.fasta.gz", args.model or str(made / "mlm")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    recs = []
    for r in read_records(args.data, case="upper"):
        lineage = [x.strip() for x in r.description.split("\t")[-1].split(";")]
        if len(lineage) >= 6:
            recs.append((r.id, r.seq, lineage))
    rng = np.random.default_rng(args.seed)
    is_query = rng.random(len(recs)) < args.query_fraction
    refs = [r for r, q in zip(recs, is_query) if not q]
    queries = [r for r, q in zip(recs, is_query) if q]
    (out / "refs.fasta").write_text("".join(f">{i}\n{s}\n" for i, s, _ in refs))
    (out / "queries.fasta").write_text("".join(f">{i}\n{s}\n" for i, s, _ in queries))
    rows = []
    for level, at in LEVELS.items():
        (out / f"taxa_{level}.tsv").write_text("".join(f"{i}\t{lin[at]}\n" for i, _, lin in refs))
        (out / f"truth_{level}.tsv").write_text("read\ttaxon\n" + "".join(f"{i}\t{lin[at]}\n" for i, _, lin in queries))
        known = {lin[at] for _, _, lin in refs}
        absent = sum(lin[at] not in known for _, _, lin in queries)
        base = [str(out / "queries.fasta"), "--references", str(out / "refs.fasta"), "--per-record",
                "--taxa", str(out / f"taxa_{level}.tsv"), "--truth", str(out / f"truth_{level}.tsv"),
                "--k", str(args.k), "--no-progress"]
        if args.model:
            base += ["--model", args.model, "--ref-fragments", str(args.ref_fragments), "--device", args.device,
                     "--fragment-length", "100000"]  # a whole 16S sequence per reference piece
        t = time.perf_counter()
        assert genolm(["classify", *base, "--out", str(out / f"calls_{level}.tsv")]) == 0
        seconds = time.perf_counter() - t
        metrics = json.loads((out / f"calls_{level}.metrics.json").read_text())["metrics"]
        for method, m in metrics.items():
            s = m["taxon"]
            rows.append({"level": level, "method": method, "queries": len(queries), "references": len(refs),
                         "taxa": len(known), "queries_without_reference_taxon": absent,
                         **{k: s[k] for k in ("accuracy", "assigned", "precision", "macro_f1", "ari")},
                         "seconds": m["taxon"].get("seconds"), "wall_seconds": round(seconds, 1)})
    print(f"\n{'level':7s} {'method':10s} {'queries':>7s} {'no ref':>6s} {'accuracy':>8s} {'assigned':>8s} "
          f"{'precision':>9s} {'macro F1':>8s} {'seconds':>7s}")
    for r in rows:
        print(f"{r['level']:7s} {r['method']:10s} {r['queries']:7d} {r['queries_without_reference_taxon']:6d} "
              f"{r['accuracy']:8.3f} {r['assigned']:8.3f} {r['precision']:9.3f} {r['macro_f1']:8.3f} {r['seconds']:7.1f}")
    (out / "bench_16s.json").write_text(json.dumps({"benchmark": "16s", "date": time.strftime("%Y-%m-%d"),
                                                    "k": args.k, "seed": args.seed, "rows": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()
