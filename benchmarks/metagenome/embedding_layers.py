"""Which layer of a model's embedding carries organism signal in single reads?

For N reads drawn at random (seeded) from a sample with a truth table, each feature set is
standardised, reduced by PCA to 16 dimensions and scored by (a) the share of each read's 10
nearest neighbours that come from its genome and (b) the ARI of k-means with the true number of
genomes.  Feature sets: TNF (canonical 4-mer CLR), the embedding at the model's output and after
each block (mean over tokens, both strands), and output / block 2 / block 4 concatenated with TNF.

    python benchmarks/metagenome/embedding_layers.py READS.fastq.gz --truth truth.tsv --model RUN --n 4000
    SMOKE=1 python benchmarks/metagenome/embedding_layers.py   # 200 made-up reads, a 2-step debug model
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
SMOKE = os.environ.get("SMOKE") == "1"  # the whole path on the CPU in seconds (tests/test_benchmarks.py)
OUT = Path(os.environ.get("BENCH_OUT", ROOT / "benchmarks" / "out"))  # where the benchmarks write

from genolm.bio.kmers import clr, kmer_profiles  # noqa: E402
from genolm.metagenome.reads import read_inputs, read_truth, strip_mate  # noqa: E402
from genolm.infer.embedding import Embedder  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("reads", nargs="?" if SMOKE else None)
    p.add_argument("--truth", required=not SMOKE)
    p.add_argument("--model", required=not SMOKE)
    p.add_argument("--n", type=int, default=4000)
    p.add_argument("--device", default="auto")
    p.add_argument("--out", default=None, help="JSON of the table")
    if SMOKE:
        p.set_defaults(n=200, device="cpu", out=str(OUT / "layers.json"))
    args = p.parse_args()
    if args.reads is None:  # SMOKE: reads of 4 made-up species and a debug model
        sys.path.insert(0, str(ROOT / "benchmarks"))
        from smoke_inputs import make

        made = make(OUT / "smoke_inputs", ["reads", "mlm"])
        args.reads, args.truth, args.model = made / "sp4" / "reads.fastq.gz", made / "sp4" / "truth.tsv", made / "mlm"
        OUT.mkdir(parents=True, exist_ok=True)
    from sklearn.cluster import KMeans
    from sklearn.decomposition import PCA
    from sklearn.metrics import adjusted_rand_score
    from sklearn.neighbors import NearestNeighbors

    truth = read_truth(args.truth)
    ids, _, seqs = read_inputs([args.reads], 0)
    pick = np.random.default_rng(0).choice(len(seqs), min(args.n, len(seqs)), replace=False)
    seqs = [seqs[i] for i in pick]
    y = np.array([truth[strip_mate(ids[i])] for i in pick])
    k = len(set(y))
    rows = []

    def score(name, x):
        z = PCA(16, random_state=0).fit_transform((x - x.mean(0)) / (x.std(0) + 1e-6))
        nn = NearestNeighbors(n_neighbors=11).fit(z).kneighbors(z, return_distance=False)[:, 1:]
        rows.append({"features": name, "knn_purity": float((y[nn] == y[:, None]).mean()),
                     "kmeans_ari": float(adjusted_rand_score(y, KMeans(k, n_init=4, random_state=0).fit_predict(z)))})
        print(f"{name:16s} knn-purity {rows[-1]['knn_purity']:.3f}  kmeans ARI {rows[-1]['kmeans_ari']:.3f}", flush=True)

    def unit(b):
        return b / np.sqrt(b.var(0).sum())

    tnf = clr(kmer_profiles(seqs, 4, unknown="n"))
    score("tnf", tnf)
    emb = Embedder.load(args.model, args.device)
    for layer in [None] + list(range(1, emb.n_layers + 1)):
        x = emb.embed(seqs, pool="mean", strand="both", layer=layer)
        name = "output" if layer is None else f"block {layer}"
        score(name, x)
        if layer in (None, 2, 4):
            score(f"{name} + tnf", np.c_[unit(x), unit(tnf)])
    if args.out:
        Path(args.out).write_text(json.dumps({"benchmark": "layers", "n": len(seqs), "genomes": k, "rows": rows},
                                             indent=1) + "\n")


if __name__ == "__main__":
    main()
