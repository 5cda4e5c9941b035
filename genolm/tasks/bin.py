"""Bin a metagenome: group reads or contigs by organism without labels.

Each sequence becomes a vector: its language-model embedding (``--model``, mean-pooled over both
strands), its tetranucleotide composition (``--features tnf``: canonical 4-mer frequencies, centred
log-ratio), or both side by side (``both``, each block scaled to the same total variance);
``--abundance`` adds one more block, the log depth of each sequence's genome: ``kmer`` estimates
it from the input itself (the median count of the sequence's 21-mers among all the input's —
organisms at different depths separate even where their composition is alike), or a TSV gives
it (contig coverage per sample, as from a read mapper).  The
vectors are reduced by PCA, mapped by UMAP to a few dimensions where organisms form dense groups
(single reads are too noisy for density clustering without it), and clustered by HDBSCAN, which
finds the number of organisms itself and leaves what belongs to no dense group unbinned.  UMAP and
HDBSCAN run on a random sample of ``--sample`` sequences; every sequence then takes the bin of its
nearest sampled neighbours in PCA space (majority of ``--neighbours``; noise votes too), so memory
and time grow linearly with the input.

Writes to --out (atomically): ``bins.tsv`` (id, file, length, bin; ``unbinned`` for none),
``bins/BIN.fasta`` (one per bin, and ``unbinned.fasta``), ``map.tsv`` and ``map.png`` (the UMAP of the clustered
sample, coloured by bin and, with ``--truth``, by genome) and ``summary.json`` (bins, sizes,
options, sequences/s).  With ``--truth`` (TSV with a read and a genome column: ``genolm simulate``'s
truth.tsv, or CAMISIM's reads_mapping.tsv; a read's /1 or /2 suffix is ignored) it also scores the bins —
ARI, AMI, base-weighted precision, recall and F1, per-genome completeness and contamination —
and, for comparison in the same run, the composition baseline (``tnf``, same clustering), in
``metrics.json``.

Example:
  genolm simulate genomes/*.fasta.gz --reads 100000 --single --out mock
  genolm bin mock/reads.fastq.gz --features tnf --truth mock/truth.tsv --out bins_tnf
  genolm bin mock/reads.fastq.gz --model run --truth mock/truth.tsv --out bins_lm
  genolm bin contigs.fasta --abundance depth.tsv --out bins_cov   # depth.tsv: id, depth per sample
"""

from __future__ import annotations

import argparse
import csv
import json
import time
from pathlib import Path

import numpy as np

from genolm.errors import GenolmError
from genolm.io.progress import plural, progress
from genolm.report import figures
from genolm.tasks.options import add_device, add_no_progress, add_seed

HELP = "bin a metagenome: cluster reads or contigs by organism (embeddings and/or composition)"
FEATURES = ("embedding", "tnf", "both")
UNBINNED = figures.UNBINNED  # the bin of sequences in no bin
# Truth-table columns: genolm simulate's, and CAMISIM's reads_mapping.tsv.
READ_COLUMNS = ("read", "id", "anonymous_read_id")
GENOME_COLUMNS = ("genome", "genome_id")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="FASTA/FASTQ of reads or contigs (any compression)")
    p.add_argument("--out", required=True, help="output directory (replaced atomically)")
    p.add_argument("--model", default=None, help="genolm run or local Hugging Face model folder (for embeddings)")
    p.add_argument("--features", default=None, choices=FEATURES,
                   help="embedding | tnf | both (default: embedding with --model, else tnf)")
    p.add_argument("--abundance", default=None, metavar="kmer|TSV",
                   help="add each sequence's abundance to its features: kmer (the median count of its 21-mers "
                        "in the input: its genome's depth) or a TSV of id and one or more depth columns "
                        "(e.g. per-sample contig coverage); log-scaled")
    p.add_argument("--min-length", type=int, default=0, help="leave out sequences shorter than this")
    p.add_argument("--truth", default=None, help="TSV: read (or id) and genome columns; adds metrics.json")
    p.add_argument("--sample", type=int, default=50000, help="sequences HDBSCAN clusters (default: 50000)")
    p.add_argument("--min-cluster-size", type=int, default=None,
                   help="smallest bin, in sampled sequences (default: 1%% of the sample, at least 10)")
    p.add_argument("--neighbours", type=int, default=5, help="sampled neighbours that vote a bin (default: 5)")
    p.add_argument("--dims", type=int, default=16, help="PCA dimensions (default: 16)")
    p.add_argument("--umap-dims", type=int, default=2, help="UMAP dimensions clustered (default: 2)")
    add_seed(p, "sample and the clustering")
    add_device(p, "embeddings")
    add_no_progress(p)


def setup(args: argparse.Namespace) -> int:
    summary = run(args)
    line = f"{args.out}: {plural(summary['sequences'], 'sequence')} -> {plural(summary['bins'], 'bin')} " \
           f"({summary['binned']:.1%} binned), {summary['sequences_per_s']:,.0f} sequences/s"
    print(line)
    if "metrics" in summary:
        print(f"{'features':10s} {'ARI':>6s} {'AMI':>6s} {'prec.':>6s} {'recall':>6s} {'F1':>6s} {'bins':>5s}")
        for name, m in summary["metrics"].items():
            print(f"{name:10s} {_num(m['ari'])} {_num(m['ami'])} {_num(m['precision'])} {_num(m['recall'])} "
                  f"{_num(m['f1'])} {m['n_bins']:5d}")
    return 0


def _num(x) -> str:
    return f"{x:6.3f}" if x is not None else "     -"


def read_inputs(paths: list[str], min_length: int, what: str = "bin") -> tuple[list[str], list[str], list[str]]:
    from genolm.io.seqio import read_records

    ids, files, seqs = [], [], []
    seen: set[str] = set()
    for p in map(Path, paths):
        if not p.is_file():
            raise GenolmError("no such input file", file=p)
        for rec in read_records(p, case="upper"):
            if len(rec.seq) < min_length:
                continue
            if rec.id in seen:
                raise GenolmError("duplicate sequence id across the inputs", file=p, record=rec.id,
                                  hint=f"{what} one file of a pair (R1), or give the reads unique ids")
            seen.add(rec.id)
            ids.append(rec.id)
            files.append(p.name)
            seqs.append(rec.seq)
    if not seqs:
        raise GenolmError(f"no sequences to {what}", found=", ".join(paths)[:100],
                          hint="lower --min-length" if min_length else None)
    return ids, files, seqs


def read_truth(path: str, columns: tuple[str, ...] = GENOME_COLUMNS) -> dict[str, str]:
    """{read id: label} from a TSV whose header names a read (or id) column and one of ``columns``
    (default: a genome column)."""
    try:
        with open(path, newline="") as f:
            rows = csv.reader(f, delimiter="\t")
            header = next(rows, [])
            cols = {c.lower(): i for i, c in enumerate(header)}
            key = next((cols[c] for c in READ_COLUMNS if c in cols), None)
            label = next((cols[c] for c in columns if c in cols), None)
            if key is None or label is None:
                raise GenolmError(f"truth table needs a read and a {columns[0]} column", file=path, line=1,
                                  expected=f"one of {', '.join(READ_COLUMNS)}; one of {', '.join(columns)}",
                                  found="\t".join(header)[:80])
            return {_strip_mate(r[key]): r[label] for r in rows if len(r) > max(key, label)}
    except OSError:
        raise GenolmError("no such truth table", file=path) from None


def _strip_mate(read_id: str) -> str:
    return read_id[:-2] if read_id.endswith(("/1", "/2")) else read_id


EMBED_PART = 200_000  # sequences embedded at once: one part's vectors (both strands) in flight, not all


def features(kind: str, seqs: list[str], args) -> np.ndarray:
    from genolm.bio.kmers import clr, kmer_profiles

    blocks = []
    if kind in ("tnf", "both"):
        blocks.append(clr(kmer_profiles(seqs, 4, unknown="n")))
    if kind in ("embedding", "both"):
        from genolm.tasks.embedding import Embedder

        emb = Embedder.load(args.model, args.device)
        part = EMBED_PART
        with progress(len(seqs), "bin: embed", "seq", enabled=not args.no_progress) as bar:
            blocks.append(np.concatenate([emb.embed(seqs[lo: lo + part], pool="mean", strand="both",
                                                    progress=bar.update)
                                          for lo in range(0, len(seqs), part)]) if seqs else
                          np.zeros((0, emb.hidden_size), np.float32))
    if getattr(args, "abundance", None):
        blocks.append(np.log1p(args._depth))
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
    missing = [i for i in ids if i not in table and _strip_mate(i) not in table]
    if missing:
        raise GenolmError(f"{len(missing):,} sequences have no abundance", file=path, record=missing[0],
                          hint="the table's first column must name every input sequence")
    return np.array([table[i] if i in table else table[_strip_mate(i)] for i in ids], np.float64)


def bin_names(labels: np.ndarray) -> list[str]:
    """bin_1, bin_2, … numbered by size (largest first); -1 -> unbinned."""
    ids, counts = np.unique(labels[labels >= 0], return_counts=True)
    rank = {int(i): k + 1 for k, i in enumerate(ids[np.argsort(-counts, kind="stable")])}
    width = len(str(len(rank)))
    return [f"bin_{rank[int(v)]:0{width}d}" if v >= 0 else UNBINNED for v in labels]


def run(args: argparse.Namespace) -> dict:
    from genolm.io.atomic import atomic_dir
    from genolm.io.seqio import SeqRecord, write_fasta
    from genolm.train.cluster_metrics import binning_scores

    kind = args.features or ("embedding" if args.model else "tnf")
    if kind != "tnf" and not args.model:
        raise GenolmError(f"--features {kind} needs --model", hint="give a genolm run, or use --features tnf")
    for flag in ("sample", "neighbours", "dims", "umap_dims"):
        if getattr(args, flag) < 1:
            raise GenolmError(f"--{flag.replace('_', '-')} must be at least 1", found=str(getattr(args, flag)))
    if args.min_cluster_size is not None and args.min_cluster_size < 2:
        raise GenolmError("--min-cluster-size must be at least 2", found=str(args.min_cluster_size))
    truth = read_truth(args.truth) if args.truth else None
    t0 = time.perf_counter()
    ids, files, seqs = read_inputs(args.inputs, args.min_length)
    if args.abundance:
        args._depth = abundance(args.abundance, ids, seqs)
    label = kind + ("+abundance" if args.abundance else "")
    layout: dict = {}
    names = bin_names(cluster(features(kind, seqs, args), args, layout))
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
        keep = [i for i, r in enumerate(ids) if _strip_mate(r) in truth]
        if not keep:
            raise GenolmError("no sequence id is in the truth table", file=args.truth,
                              found=ids[0], hint="the truth's read column must name the input's records")
        genomes = [truth[_strip_mate(ids[i])] for i in keep]
        w = [lengths[i] for i in keep]
        metrics[label] = binning_scores(genomes, [names[i] for i in keep], w)
        if label != "tnf":  # the composition baseline, same clustering, same run
            base = bin_names(cluster(features("tnf", seqs, argparse.Namespace(**{**vars(args), "abundance": None})),
                                     args))
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
            truth_of = None if truth is None else [truth.get(_strip_mate(ids[k]), "?") for k in layout["rows"]]
            figures.bin_map(layout["xy"], [names[k] for k in layout["rows"]], truth_of, tmp / "map.png", label)
            with open(tmp / "map.tsv", "w") as f:  # the map's points, for genolm report
                f.write("id\tx\ty\tbin" + ("\tgenome" if truth_of else "") + "\n")
                for j, k in enumerate(layout["rows"]):
                    x, y = layout["xy"][j][:2]
                    f.write(f"{ids[k]}\t{x:.4f}\t{y:.4f}\t{names[k]}" + (f"\t{truth_of[j]}" if truth_of else "") + "\n")
        (tmp / "summary.json").write_text(json.dumps(summary, indent=1, default=str) + "\n")
    return summary
