"""Binning: group reads or contigs by organism without labels.

Features (embeddings, tetranucleotide composition, abundance) -> PCA -> UMAP + HDBSCAN on a
sample -> nearest sampled neighbours for the rest; scored against a truth table when there is
one, beside the composition baseline.  The command is ``genolm bin`` (its --help describes the
outputs).
"""

from __future__ import annotations

import csv
import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from genolm.errors import GenolmError
from genolm.io.arguments import CommandArgs
from genolm.io.progress import progress
from genolm.metagenome.reads import read_inputs, read_truth, strip_mate
from genolm.report import figures

FEATURES = ("embedding", "tnf", "both")


@dataclass(kw_only=True)
class BinArgs(CommandArgs):
    """Options of ``genolm bin`` (see its --help)."""

    inputs: list[str]
    model: str | None = None
    features: str | None = None  # default: embedding with a model, else tnf
    abundance: str | None = None  # kmer | a TSV of depths
    min_length: int = 0
    truth: str | None = None
    sample: int = 50000
    min_cluster_size: int | None = None
    neighbours: int = 5
    dims: int = 16
    umap_dims: int = 2

    def check(self) -> None:
        if self.features is not None and self.features not in FEATURES:
            self.fail("features", " | ".join(FEATURES), self.features)
        if self.kind != "tnf" and not self.model:
            raise GenolmError(f"--features {self.kind} needs --model", hint="give a genolm run, or use --features tnf")
        for name in ("sample", "neighbours", "dims", "umap_dims"):
            self.at_least(name, 1)
        self.at_least("min_length", 0)
        self.at_least("min_cluster_size", 2, optional=True)

    @property
    def kind(self) -> str:
        return self.features or ("embedding" if self.model else "tnf")
UNBINNED = figures.UNBINNED  # the bin of sequences in no bin


EMBED_PART = 200_000  # sequences embedded at once: one part's vectors (both strands) in flight, not all


def features(kind: str, seqs: list[str], args, depth: np.ndarray | None = None) -> np.ndarray:
    """One row per sequence: the ``kind`` blocks (and ``depth``'s log, when given), each scaled to
    unit total variance."""
    from genolm.bio.kmers import clr, kmer_profiles

    blocks = []
    if kind in ("tnf", "both"):
        blocks.append(clr(kmer_profiles(seqs, 4, unknown="n")))
    if kind in ("embedding", "both"):
        from genolm.infer.embedding import Embedder

        emb = Embedder.load(args.model, args.device)
        part = EMBED_PART
        with progress(len(seqs), "bin: embed", "seq", enabled=not args.no_progress) as bar:
            blocks.append(np.concatenate([emb.embed(seqs[lo: lo + part], pool="mean", strand="both",
                                                    progress=bar.update)
                                          for lo in range(0, len(seqs), part)]) if seqs else
                          np.zeros((0, emb.hidden_size), np.float32))
    if depth is not None:
        blocks.append(np.log1p(depth))
    # Each block to unit total variance, so neither dominates the distances by its scale.
    return np.concatenate([(b - b.mean(0)) / max(float(np.sqrt(b.var(0).sum())), 1e-12) for b in blocks],
                          axis=1).astype(np.float32)


def cluster(x: np.ndarray, args, layout: dict | None = None) -> np.ndarray:
    """Bin index per row (-1: unbinned): PCA, then UMAP + HDBSCAN on a sample, the rest by
    nearest sampled neighbours in PCA space.  ``layout`` (if given) receives the sample's rows and
    UMAP coordinates, for the map."""
    import warnings

    from sklearn.cluster import HDBSCAN
    from sklearn.decomposition import PCA
    from sklearn.neighbors import KNeighborsClassifier

    rng = np.random.default_rng(args.seed)
    n = len(x)
    sample = np.sort(rng.choice(n, size=min(n, args.sample), replace=False))
    dims = max(1, min(args.dims, x.shape[1], len(sample)))
    z = PCA(n_components=dims, random_state=args.seed).fit(x[sample]).transform(x).astype(np.float32)
    size = args.min_cluster_size or max(10, len(sample) // 100)
    if len(sample) < 2 * size:
        return np.full(n, -1)  # too few sequences for one bin of the smallest size and the rest
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # umap's and numba's notes on threads and seeds
        import umap

        u = umap.UMAP(n_components=args.umap_dims, n_neighbors=min(30, len(sample) - 1), min_dist=0.0,
                      random_state=args.seed).fit_transform(z[sample])
    labels = HDBSCAN(min_cluster_size=size, min_samples=min(size, 10), copy=True).fit_predict(u)
    if layout is not None:
        layout.update(rows=sample, xy=u[:, :2] if u.shape[1] >= 2 else np.c_[u[:, 0], np.zeros(len(u))])
    if len(sample) == n:
        return labels
    if (labels < 0).all():
        return np.full(n, -1)
    knn = KNeighborsClassifier(n_neighbors=min(args.neighbours, len(sample))).fit(z[sample], labels)
    out = np.empty(n, dtype=int)
    for lo in range(0, n, 100000):  # bounded memory for the neighbour search
        out[lo: lo + 100000] = knn.predict(z[lo: lo + 100000])
    out[sample] = labels
    return out


def abundance(source: str, ids: list[str], seqs: list[str]) -> np.ndarray:
    """(n, columns) depth of each sequence: ``kmer`` (from the input itself) or a TSV whose first
    column names every sequence and whose other columns are numbers (one per sample)."""
    from genolm.bio.kmers import kmer_coverage

    if source == "kmer":
        return kmer_coverage(seqs, k=21)[:, None]
    path = Path(source)
    if not path.is_file():
        raise GenolmError("no such abundance table", file=path, hint="give kmer, or a TSV of id and depth columns")
    table: dict[str, list[float]] = {}
    with open(path, newline="") as f:
        rows = csv.reader(f, delimiter="\t")
        header = next(rows, [])
        if len(header) < 2:
            raise GenolmError("abundance table needs an id column and at least one depth column", file=path,
                              line=1, found="\t".join(header)[:80])
        for line, r in enumerate(rows, start=2):
            if not r:
                continue
            try:
                values = [float(x) for x in r[1:]]
            except ValueError:
                values = []
            if len(values) != len(header) - 1 or any(not np.isfinite(v) or v < 0 for v in values):
                raise GenolmError("bad abundance row", file=path, line=line, record=r[0],
                                  expected=f"{len(header) - 1} non-negative numbers", found="\t".join(r[1:])[:80])
            table[r[0]] = values
    missing = [i for i in ids if i not in table and strip_mate(i) not in table]
    if missing:
        raise GenolmError(f"{len(missing):,} sequences have no abundance", file=path, record=missing[0],
                          hint="the table's first column must name every input sequence")
    return np.array([table[i] if i in table else table[strip_mate(i)] for i in ids], np.float64)


def bin_names(labels: np.ndarray) -> list[str]:
    """bin_1, bin_2, … numbered by size (largest first); -1 -> unbinned."""
    ids, counts = np.unique(labels[labels >= 0], return_counts=True)
    rank = {int(i): k + 1 for k, i in enumerate(ids[np.argsort(-counts, kind="stable")])}
    width = len(str(len(rank)))
    return [f"bin_{rank[int(v)]:0{width}d}" if v >= 0 else UNBINNED for v in labels]


def run(args: BinArgs) -> dict:
    from genolm.io.atomic import atomic_dir
    from genolm.io.seqio import SeqRecord, write_fasta
    from genolm.metagenome.metrics import binning_scores

    kind = args.kind
    truth = read_truth(args.truth) if args.truth else None
    t0 = time.perf_counter()
    ids, files, seqs = read_inputs(args.inputs, args.min_length)
    depth = abundance(args.abundance, ids, seqs) if args.abundance else None
    label = kind + ("+abundance" if args.abundance else "")
    layout: dict = {}
    names = bin_names(cluster(features(kind, seqs, args, depth), args, layout))
    seconds = time.perf_counter() - t0
    lengths = [len(s) for s in seqs]
    bins = sorted(set(names) - {UNBINNED})
    summary = {"command": "bin", "features": label, "model": args.model, "inputs": args.inputs,
               "sequences": len(seqs), "bases": int(sum(lengths)), "bins": len(bins),
               "bin_sizes": {b: names.count(b) for b in bins}, "binned": 1 - names.count(UNBINNED) / len(names),
               "seconds": round(seconds, 2), "sequences_per_s": len(seqs) / max(seconds, 1e-9),
               "options": {k: v for k, v in vars(args).items() if not k.startswith("_")}}
    metrics = {}
    if truth is not None:
        keep = [i for i, r in enumerate(ids) if strip_mate(r) in truth]
        if not keep:
            raise GenolmError("no sequence id is in the truth table", file=args.truth,
                              found=ids[0], hint="the truth's read column must name the input's records")
        genomes = [truth[strip_mate(ids[i])] for i in keep]
        w = [lengths[i] for i in keep]
        metrics[label] = binning_scores(genomes, [names[i] for i in keep], w)
        if label != "tnf":  # the composition baseline, same clustering, same run
            base = bin_names(cluster(features("tnf", seqs, args), args))
            metrics["tnf"] = binning_scores(genomes, [base[i] for i in keep], w)
        summary["metrics"] = {k: {m: v for m, v in s.items() if m != "genomes"} for k, s in metrics.items()}
        summary["scored"] = len(keep)
    with atomic_dir(args.out, replaceable=lambda p: (p / "summary.json").is_file() and (p / "bins.tsv").is_file()) as tmp:
        with open(tmp / "bins.tsv", "w") as f:
            f.write("id\tfile\tlength\tbin\n")
            for i, f_, n, b in zip(ids, files, lengths, names):
                f.write(f"{i}\t{f_}\t{n}\t{b}\n")
        (tmp / "bins").mkdir()
        members: dict[str, list[int]] = {}
        for k, b in enumerate(names):
            members.setdefault(b, []).append(k)
        for b, rows in members.items():
            write_fasta((SeqRecord(ids[k], seqs[k]) for k in rows), tmp / "bins" / f"{b}.fasta")
        if metrics:
            (tmp / "metrics.json").write_text(json.dumps(metrics, indent=1) + "\n")
        if layout:
            truth_of = None if truth is None else [truth.get(strip_mate(ids[k]), "?") for k in layout["rows"]]
            figures.bin_map(layout["xy"], [names[k] for k in layout["rows"]], truth_of, tmp / "map.png", label)
            with open(tmp / "map.tsv", "w") as f:  # the map's points, for genolm report
                f.write("id\tx\ty\tbin" + ("\tgenome" if truth_of else "") + "\n")
                for j, k in enumerate(layout["rows"]):
                    x, y = layout["xy"][j][:2]
                    f.write(f"{ids[k]}\t{x:.4f}\t{y:.4f}\t{names[k]}" + (f"\t{truth_of[j]}" if truth_of else "") + "\n")
        (tmp / "summary.json").write_text(json.dumps(summary, indent=1, default=str) + "\n")
    return summary
