"""Which layer of a model's embedding carries organism signal in single reads (issue 5)?

For N reads drawn at random (seeded) from a sample with a truth table, each feature set is
standardised, reduced by PCA to 16 dimensions and scored by (a) the share of each read's 10
nearest neighbours that come from its genome and (b) the ARI of k-means with the true number of
genomes.  Feature sets: TNF (canonical 4-mer CLR), the embedding at the model's output and after
each block (mean over tokens, both strands), and output / block 2 / block 4 concatenated with TNF.

    python benchmarks/bench_layers.py READS.fastq.gz --truth truth.tsv --model RUN --n 4000
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from genolm.bio.kmers import clr, kmer_profiles  # noqa: E402
from genolm.metagenome.reads import read_inputs, read_truth, strip_mate  # noqa: E402
from genolm.infer.embedding import Embedder  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("reads")
    p.add_argument("--truth", required=True)
    p.add_argument("--model", required=True)
    p.add_argument("--n", type=int, default=4000)
    p.add_argument("--device", default="auto")
    p.add_argument("--out", default=None, help="JSON of the table")
    args = p.parse_args()
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
