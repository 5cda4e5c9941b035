"""Write the GUE *training* sequences, unlabelled, as one FASTA file for pretraining (as DNABERT-2's
"further pretraining" variant did); dev and test sequences are never included.

  python benchmarks/finetune/gue_corpus.py ../shared/data/benchmarks/gue gue_train.fasta.gz
  genolm prepare gue_train.fasta.gz ../shared/data/genomes/*/*.fasta.gz --out corpus --split record
  SMOKE=1 python benchmarks/finetune/gue_corpus.py     # five small made-up tasks -> $BENCH_OUT/gue_train.fasta.gz

Record ids are TASK/INDEX (e.g. tf/0/17); a sequence seen in several tasks is written once, and a
training sequence that is also a dev or test sequence of any task (the promoter tasks share
sequences) is left out, so no evaluated sequence is ever pretrained on.  Prints how many sequences
and bases each task gave.
"""

from __future__ import annotations

import gzip
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
SMOKE = os.environ.get("SMOKE") == "1"  # the whole path on the CPU in seconds (tests/test_benchmarks.py)
OUT = Path(os.environ.get("BENCH_OUT", ROOT / "benchmarks" / "out"))  # where the benchmarks write

from genolm.finetune.gue import find_tasks, split_file  # noqa: E402
from genolm.finetune.finetune import read_labelled  # noqa: E402


def main() -> None:
    if SMOKE and len(sys.argv) == 1:
        sys.path.insert(0, str(ROOT / "benchmarks"))
        from smoke_inputs import make

        sys.argv += [str(make(OUT / "smoke_inputs", ["gue"]) / "gue"), str(OUT / "gue_train.fasta.gz")]
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    data, out = Path(sys.argv[1]), Path(sys.argv[2])
    tasks = find_tasks(data, None)
    held_out = {s for folder in tasks.values() for split in ("val", "test")
                for s in read_labelled(split_file(folder, split)).seqs}
    seen: set[str] = set()
    dropped = 0
    tmp = out.with_name(out.name + ".tmp")
    with gzip.open(tmp, "wt") as f:
        for name, folder in tasks.items():
            train = read_labelled(split_file(folder, "train"))
            n = bases = 0
            for i, s in enumerate(train.seqs):
                if s in held_out:
                    dropped += 1
                    continue
                if s in seen:
                    continue
                seen.add(s)
                f.write(f">{name}/{i}\n{s}\n")
                n += 1
                bases += len(s)
            print(f"{name:28s} {n:8,} sequences {bases:12,} bases")
    tmp.replace(out)
    print(f"{out}: {len(seen):,} distinct training sequences; {dropped:,} left out (also dev/test of a task)")


if __name__ == "__main__":
    main()
