"""Tokenizer speed: one long sequence, and many short reads batched vs one record at a time.

  python benchmarks/data/tokenize_speed.py [--mbases 50] [--repeats 3] [--out benchmarks/out]
  SMOKE=1 python benchmarks/data/tokenize_speed.py     # 0.2 Mb, 2,000 reads, once

1. ``tok.encode(seq)`` on one random DNA sequence (--mbases million bases, with a soft-masked
   stretch and a 1 kb N run), for every tokenizer kind; BPE is trained on 2 Mb of it and timed on
   a tenth of the sequence (HF tokenizers is two orders of magnitude slower than lookup tables).
2. ``tok.encode_records(reads)`` on the CAMISIM reads shipped in data/ (26,664 x 150 bp) against
   the generic record-by-record path (``Tokenizer.encode_records``), in the same run (--max-reads:
   only the first N).
Best of --repeats; MB/s = 10^6 bases per second.
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

from genolm.io.seqio import read_records  # noqa: E402
from genolm.tokenize import Tokenizer, get_tokenizer, train_bpe  # noqa: E402


def best(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mbases", type=float, default=50)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--max-reads", type=int, default=0, help="encode_records on the first N reads (0: all)")
    ap.add_argument("--out", default=str(OUT))
    if SMOKE:
        ap.set_defaults(mbases=0.2, repeats=1, max_reads=2000)
    args = ap.parse_args()
    n = int(args.mbases * 1e6)
    rng = np.random.default_rng(0)
    seq = bytearray(np.frombuffer(b"ACGT", np.uint8)[rng.integers(0, 4, n)].tobytes())
    seq[n // 3: n // 3 + 1000] = b"N" * 1000
    seq[n // 2: n // 2 + 100_000] = bytes(seq[n // 2: n // 2 + 100_000]).lower()
    text = bytes(seq).decode()
    rows = []
    print(f"1. encode one {n / 1e6:g} Mb sequence (best of {args.repeats})")
    print(f"{'spec':12s} {'input':6s} {'MB/s':>8s}")
    for spec, data in (("char", bytes(seq)), ("char", text), ("kmer:6", text), ("kmer:6:1", text),
                       ("codon", text)):
        tok = get_tokenizer(spec)
        t = best(lambda: tok.encode(data), args.repeats)
        kind = "bytes" if isinstance(data, bytes) else "str"
        rows.append({"test": "encode", "spec": spec, "input": kind, "mbases_per_s": len(data) / t / 1e6})
        print(f"{spec:12s} {kind:6s} {len(data) / t / 1e6:8.1f}")
    bpe = train_bpe([text[:2_000_000]], 4096)
    part = text[: n // 10]
    t = best(lambda: bpe.encode(part), 1)
    rows.append({"test": "encode", "spec": "bpe:4096", "input": "str", "mbases_per_s": len(part) / t / 1e6})
    print(f"{'bpe:4096':12s} {'str':6s} {len(part) / t / 1e6:8.1f}")

    reads = [r.seq for r in read_records(ROOT / "data" / "camisim_reads.fasta.gz")][: args.max_reads or None]
    total = sum(map(len, reads))
    print(f"\n2. encode_records on {len(reads):,} reads ({total / 1e6:.1f} Mb): batched vs record by record")
    print(f"{'spec':12s} {'batched':>9s} {'per-record':>11s} {'speed-up':>9s}")
    for spec in ("char", "kmer:6", "kmer:6:1", "codon"):
        tok = get_tokenizer(spec)
        a = best(lambda: tok.encode_records(reads), args.repeats)
        b = best(lambda: Tokenizer.encode_records(tok, reads), 1)
        rows.append({"test": "encode_records", "spec": spec, "batched_mbases_per_s": total / a / 1e6,
                     "per_record_mbases_per_s": total / b / 1e6, "speedup": b / a})
        print(f"{spec:12s} {total / a / 1e6:9.1f} {total / b / 1e6:11.1f} {b / a:8.1f}x")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "tokenize.json").write_text(json.dumps({"benchmark": "tokenize", "date": time.strftime("%Y-%m-%d"),
                                                   "rows": rows}, indent=1) + "\n")
    print(f"\nwrote {out / 'tokenize.json'}")


if __name__ == "__main__":
    main()
