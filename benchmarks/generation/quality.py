"""The generated-genome viability benchmark, the parts that are not genolm commands:

  python benchmarks/generation/quality.py split --genomes DIR --out WORK
      WORK/train.fasta: the first 90% of every record of every genome (what the models train on);
      WORK/heldout.fasta: the last 10% (the real windows generated DNA is judged against).
  python benchmarks/generation/quality.py markov --work WORK --orders 6 8 10 12 --num 200 --length 5000
      The best interpolated Markov model: each order K's smoothing weights are fit on the last 5%
      of every training record (left out of the counts), K is picked on those bases too, then the
      counts take them in and WORK/markov.fasta gets --num samples of --length bases.
      WORK/markov.json: validation bits per base per order.

  python benchmarks/generation/quality.py selfcheck --model RUN --sets a.fasta b.fasta --reference heldout.fasta
      Bits per base of the first 2,000 bases of each sequence under RUN (one full pass each, as
      training scores), per set next to held-out windows: samples drawn correctly from a model
      score about as its real data does; far worse means the sampler does not follow the model.

  SMOKE=1 python benchmarks/generation/quality.py
      The three stages in turn on made-up genomes (benchmarks/smoke_inputs.py) with a 2-step debug
      model, orders 2 and 3, 4 samples of 300 bases, into $BENCH_OUT/quality.

Nothing here reads the held-out bases to choose anything.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
SMOKE = os.environ.get("SMOKE") == "1"  # the whole path on the CPU in seconds (tests/test_benchmarks.py)
OUT = Path(os.environ.get("BENCH_OUT", ROOT / "benchmarks" / "out"))  # where the benchmarks write

import numpy as np  # noqa: E402

from genolm.bio.splits import genome_name  # noqa: E402
from genolm.io.seqio import read_records  # noqa: E402
from genolm.model.markov import MarkovModel  # noqa: E402


def write_fasta(path: Path, records) -> None:
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w") as f:
        for rid, seq in records:
            f.write(f">{rid}\n")
            f.writelines(seq[i: i + 80] + "\n" for i in range(0, len(seq), 80))
    tmp.replace(path)


def split(args) -> None:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    train, held = [], []
    for path in sorted(Path(args.genomes).glob("*.fa*")):
        for r in read_records(path, case="upper"):
            cut = len(r.seq) - int(round(len(r.seq) * args.test_fraction))
            name = f"{genome_name(path)}|{r.id}"
            train.append((f"{name}:0-{cut}", r.seq[:cut]))
            held.append((f"{name}:{cut}-{len(r.seq)}", r.seq[cut:]))
    write_fasta(out / "train.fasta", train)
    write_fasta(out / "heldout.fasta", held)
    print(f"{len(train)} records: {sum(len(s) for _, s in train):,} training bases, "
          f"{sum(len(s) for _, s in held):,} held out")


def markov(args) -> None:
    work = Path(args.work)
    seqs = [r.seq for r in read_records(work / "train.fasta", case="upper")]
    counts, val = [], []
    for s in seqs:
        cut = len(s) - int(round(len(s) * 0.05))
        counts.append(s[:cut])
        val.append(s[cut:])
    t0 = time.perf_counter()
    full = MarkovModel(max(args.orders)).fit(counts, unknown="n")
    rows = []
    for k in args.orders:
        m = full.with_max_order(k)
        fit = m.fit_weights(val, unknown="n", max_bases=args.val_bases)
        rows.append({"order": k, "val_bits_per_base": fit["bits_after"], "alpha": m.alpha.tolist(),
                     "discount": m.discount.tolist()})
        print(f"order {k:2d}: validation {fit['bits_after']:.4f} bits per base", flush=True)
    best = min(rows, key=lambda r: r["val_bits_per_base"])
    m = full.with_max_order(best["order"])
    m.alpha, m.discount = np.asarray(best["alpha"]), np.asarray(best["discount"])
    m.update(val, unknown="n")
    samples = m.sample(args.num, args.length, seed=args.seed)
    write_fasta(work / "markov.fasta", [(f"markov{best['order']}_{i + 1}", s) for i, s in enumerate(samples)])
    (work / "markov.json").write_text(json.dumps({"orders": rows, "best": best["order"],
                                                  "seconds": time.perf_counter() - t0}, indent=1) + "\n")
    print(f"best order {best['order']}; {args.num} samples of {args.length} bases in {work / 'markov.fasta'}")


def selfcheck(args) -> None:
    from genolm.train.distributed import resolve_device
    from genolm.infer.likelihood import bits_per_base, letters_only
    from genolm.train.checkpoint import load_model

    device = resolve_device(args.device)
    model, tok, _ = load_model(args.model, device)
    n = min(args.length, model.config.max_len - 1)
    ref = "".join(r.seq for r in read_records(args.reference, case="upper"))
    real = [ref[i * n: (i + 1) * n] for i in range(min(args.num, len(ref) // n))]
    for name, seqs in [("held-out windows", real)] + [(f, [r.seq[:n] for r in read_records(f)][: args.num])
                                                       for f in args.sets]:
        rows = [np.asarray(tok.encode(s), np.int64) for s in seqs]
        bits = bits_per_base(model, tok, rows, device=device, weight=letters_only(tok), dtype=None)
        print(f"selfcheck {args.model}: {name}: {np.mean(bits):.4f} bits per base ({len(seqs)} x {n})", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="stage", required=not SMOKE)
    p = sub.add_parser("split")
    p.add_argument("--genomes", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--test-fraction", type=float, default=0.1)
    p = sub.add_parser("markov")
    p.add_argument("--work", required=True)
    p.add_argument("--orders", type=int, nargs="+", default=[6, 8, 10, 12])
    p.add_argument("--num", type=int, default=200)
    p.add_argument("--length", type=int, default=5000)
    p.add_argument("--val-bases", type=int, default=1_000_000)
    p.add_argument("--seed", type=int, default=0)
    p = sub.add_parser("selfcheck")
    p.add_argument("--model", required=True)
    p.add_argument("--sets", nargs="+", required=True)
    p.add_argument("--reference", required=True)
    p.add_argument("--num", type=int, default=50)
    p.add_argument("--length", type=int, default=2000)
    p.add_argument("--device", default="auto")
    args = ap.parse_args()
    if args.stage is None:  # SMOKE: every stage on made-up genomes, with a 2-step debug model
        sys.path.insert(0, str(ROOT / "benchmarks"))
        from smoke_inputs import make

        made, work = make(OUT / "smoke_inputs", ["genomes", "clm"]), OUT / "quality"
        split(ap.parse_args(["split", "--genomes", str(made / "genomes" / "bacteria"), "--out", str(work)]))
        markov(ap.parse_args(["markov", "--work", str(work), "--orders", "2", "3", "--num", "4", "--length", "300",
                              "--val-bases", "20000"]))
        selfcheck(ap.parse_args(["selfcheck", "--model", str(made / "clm"), "--sets", str(work / "markov.fasta"),
                                 "--reference", str(work / "heldout.fasta"), "--num", "4", "--length", "200",
                                 "--device", "cpu"]))
        return
    {"split": split, "markov": markov, "selfcheck": selfcheck}[args.stage](args)


if __name__ == "__main__":
    main()
