"""Throughput of `genolm prepare` next to a bare parse of the same files, in one run.

  python benchmarks/data/prepare_speed.py [--data ../shared/data] [--repeats 3] [--out benchmarks/out]
  SMOKE=1 python benchmarks/data/prepare_speed.py      # phage lambda and the CAMISIM reads of data/, once

Inputs (the set prepare's speed target was set on): the 16 bacterial genomes (gz), the 50k
BioMarKs 18S amplicons and the CAMISIM reads.  Without the shared data folder it falls back to the
small files shipped in data/.  Every measurement is repeated and the median is reported; the bare parses and
the prepare runs alternate, so machine noise hits them alike.  Speeds are in bases per second
(MB/s = 1e6 bases/s); "vs parse" is the ratio to the fastest bare parse of the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
SMOKE = os.environ.get("SMOKE") == "1"  # the whole path on the CPU in seconds (tests/test_benchmarks.py)
OUT = Path(os.environ.get("BENCH_OUT", ROOT / "benchmarks" / "out"))  # where the benchmarks write

from genolm.io.seqio import read_batches  # noqa: E402
from genolm.data.prepare import PrepareArgs, prepare  # noqa: E402


def inputs(data: Path | None) -> list[Path]:
    if data is None:  # SMOKE
        return [ROOT / "data" / n for n in ("lambda.fasta.gz", "camisim_reads.fasta.gz")]
    full = sorted((data / "genomes/bacteria").glob("*.fasta.gz")) + [
        data / "ocean/biomarks_18S/BioMarKs50k.fasta.gz",
        data / "metagenome/camisim_10genomes/reads.fasta.gz"]
    if all(p.is_file() for p in full) and len(full) == 18:
        return full
    print(f"note: {data} not found; using the small files in data/", file=sys.stderr)
    return [ROOT / "data" / n for n in ("H.Pylori__G27.fasta.gz", "H.Pylori__SJM180.fasta.gz",
                                        "biomarks18S_2k.fasta.gz", "camisim_reads.fasta.gz")]


def parse_pyfastx(files):
    import pyfastx

    n = 0
    for f in files:
        for _, seq, _ in pyfastx.Fastx(str(f), comment=True, uppercase=False):
            n += len(seq)
    return n


def parse_dnaio(files):
    import dnaio

    n = 0
    for f in files:
        with dnaio.open(f, open_threads=0) as reader:
            for rec in reader:
                n += len(rec.sequence)
    return n


def genolm_reader(files):
    n = 0
    for f in files:
        for batch in read_batches(f):
            n += sum(map(len, batch.seqs))
    return n


def make_prepare(tokenizer, workers, tmp):
    def run(files):
        m = prepare(PrepareArgs(inputs=[str(f) for f in files], out=str(tmp / "corpus"),
                                tokenizer=tokenizer, window=1024, workers=workers, force=True,
                                no_progress=True))
        return m["totals"]["bases"]
    return run


def machine() -> dict:
    cpu = ""
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if "model name" in line)
    except (OSError, StopIteration):
        pass
    return {"host": platform.node(), "cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=str(ROOT.parent / "shared" / "data"))
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", default=str(OUT))
    if SMOKE:
        ap.set_defaults(data=None, repeats=1)
    args = ap.parse_args()
    files = inputs(args.data and Path(args.data))
    tmp = Path(tempfile.mkdtemp(prefix="genolm-bench-"))
    cases = {
        "bare parse: pyfastx": parse_pyfastx,
        "bare parse: dnaio": parse_dnaio,
        "genolm reader (checked)": genolm_reader,
        "prepare char, 1 worker": make_prepare("char", 1, tmp),
        "prepare char, 2 workers": make_prepare("char", 2, tmp),
        "prepare kmer:6, 1 worker": make_prepare("kmer:6", 1, tmp),
        "prepare kmer:6, 2 workers": make_prepare("kmer:6", 2, tmp),
    }
    times: dict[str, list[float]] = {k: [] for k in cases}
    bases = {}
    try:
        for _ in range(args.repeats):
            for name, fn in cases.items():
                t = time.perf_counter()
                bases[name] = fn(files)
                times[name].append(time.perf_counter() - t)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    total = bases["bare parse: pyfastx"]
    assert all(b == total for b in bases.values()), bases
    med = {k: statistics.median(v) for k, v in times.items()}
    best_parse = min(med["bare parse: pyfastx"], med["bare parse: dnaio"])
    size = sum(f.stat().st_size for f in files)
    print(f"\n{len(files)} files, {total / 1e6:.1f} Mbases ({size / 1e6:.1f} MB compressed), "
          f"median of {args.repeats}")
    print(f"{'case':28s} {'seconds':>8s} {'MB/s':>8s} {'vs parse':>9s}")
    rows = []
    for name in cases:
        rows.append({"case": name, "seconds": med[name], "mbases_per_s": total / med[name] / 1e6,
                     "vs_fastest_parse": best_parse / med[name], "all_seconds": times[name]})
        r = rows[-1]
        print(f"{name:28s} {r['seconds']:8.3f} {r['mbases_per_s']:8.1f} {r['vs_fastest_parse']:9.2f}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    result = {"benchmark": "prepare", "date": time.strftime("%Y-%m-%d"), "machine": machine(),
              "files": [str(f) for f in files], "bases": total, "compressed_bytes": size, "rows": rows}
    (out / "prepare.json").write_text(json.dumps(result, indent=1) + "\n")
    print(f"\nwrote {out / 'prepare.json'}")


if __name__ == "__main__":
    main()
