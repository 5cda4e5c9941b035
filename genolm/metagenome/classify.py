"""Read classification: assign each read to one of the reference genomes (and its taxon), or
leave it unassigned — by its nearest reference pieces in embedding space, or by exact k-mer
lookup (the baseline) — and score the calls against a truth table.  The command is
``genolm classify`` (its --help describes the methods and outputs)."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from genolm.errors import GenolmError
from genolm.io.arguments import CommandArgs
from genolm.io.progress import progress

UNASSIGNED = "unassigned"
METHODS = ("embedding", "kmer")
DEFAULT_THRESHOLD = {"embedding": 0.5, "kmer": 0.1}


@dataclass(kw_only=True)
class ClassifyArgs(CommandArgs):
    """Options of ``genolm classify`` (see its --help)."""

    inputs: list[str]
    references: list[str]
    model: str | None = None
    method: str | None = None  # default: embedding with a model, else kmer
    per_record: bool = False
    taxa: str | None = None
    truth: str | None = None
    threshold: float | None = None  # default: DEFAULT_THRESHOLD[method]
    k: int = 12
    ties: str = "none"
    neighbours: int = 10
    ref_fragments: int = 2000
    fragment_length: int | None = None
    no_pairs: bool = False

    def check(self) -> None:
        if self.method is not None and self.method not in METHODS:
            self.fail("method", " | ".join(METHODS), self.method)
        if self.ties not in ("none", "em"):
            self.fail("ties", "none | em", self.ties)
        if self.kind == "embedding" and not self.model:
            raise GenolmError("--method embedding needs --model", hint="give a genolm run, or use --method kmer")
        for name in ("neighbours", "ref_fragments", "k"):
            self.at_least(name, 1)
        self.at_least("fragment_length", 1, optional=True)
        self.within("threshold", 0, 1, optional=True)

    @property
    def kind(self) -> str:
        return self.method or ("embedding" if self.model else "kmer")


def load_references(paths: list[str], taxa_path: str | None, per_record: bool = False
                    ) -> tuple[list[str], list[list[str]], list[str]]:
    """Genome names, each genome's sequences, and each genome's taxon."""
    from genolm.io.seqio import read_records
    from genolm.metagenome.simulate import genome_name, read_table

    names, seqs, seen = [], [], {}
    for p in map(Path, paths):
        if not p.is_file():
            raise GenolmError("no such reference file", file=p)
        if per_record:
            for r in read_records(p, case="upper", unique_ids=True):
                if r.id in seen:
                    raise GenolmError("two reference records have the same id", file=p, record=r.id,
                                      found=f"also in {seen[r.id]}", hint="with --per-record, ids name references")
                seen[r.id] = p
                names.append(r.id)
                seqs.append([r.seq])
            continue
        name = genome_name(p)
        if name in seen:
            raise GenolmError("two reference files have the same name", file=p, found=f"{name} (also {seen[name]})",
                              hint="each file is one genome, named after the file: rename one")
        seen[name] = p
        records = [r.seq for r in read_records(p, case="upper")]
        if not records:
            raise GenolmError("reference file has no sequence", file=p)
        names.append(name)
        seqs.append(records)
    taxa = read_table(taxa_path, "taxa", names, number=False) if taxa_path else {n: n for n in names}
    return names, seqs, [taxa[n] for n in names]


def fragments(genomes: list[list[str]], n: int, length: int, rng: np.random.Generator
              ) -> tuple[list[str], np.ndarray]:
    """``n`` pieces of ``length`` bases from random places of each genome (records in proportion
    to their length; a record shorter than ``length`` is taken whole) and the genome of each."""
    pieces, owner = [], []
    for g, records in enumerate(genomes):
        sizes = np.array([len(r) for r in records], float)
        which = rng.choice(len(records), size=n, p=sizes / sizes.sum())
        for r in which:
            s = records[r]
            lo = int(rng.integers(0, max(1, len(s) - length + 1)))
            pieces.append(s[lo: lo + length])
            owner.append(g)
    return pieces, np.asarray(owner, np.int32)


def vote(neighbours: np.ndarray, labels: np.ndarray, n_labels: int, threshold: float
         ) -> tuple[np.ndarray, np.ndarray]:
    """Per row of neighbour indices: the majority label (-1 when its share is below
    ``threshold`` or tied) and that share.

    >>> near, labels = np.array([[0, 1, 2], [0, 2, 3]]), np.array([0, 0, 1, 1])  # votes 0,0,1 and 0,1,1
    >>> vote(near, labels, 2, 0.5)[0].tolist(), vote(near, labels, 2, 0.7)[0].tolist()
    ([0, 1], [-1, -1])
    """
    counts = np.zeros((len(neighbours), n_labels))
    np.add.at(counts, (np.repeat(np.arange(len(neighbours)), neighbours.shape[1]), labels[neighbours].ravel()), 1)
    top = counts.max(1)
    best = counts.argmax(1)
    tie = (counts == top[:, None]).sum(1) > 1
    share = top / neighbours.shape[1]
    return np.where(tie | (share < threshold), -1, best), share


def mate_units(ids: list[str], pairs: bool) -> np.ndarray:
    """Index of each read's unit: the two mates of a pair (``X/1``, ``X/2``) share one.

    >>> mate_units(["a/1", "b", "a/2", "c/1"], True).tolist(), mate_units(["a/1", "a/2"], False).tolist()
    ([0, 1, 0, 2], [0, 1])
    """
    from genolm.metagenome.reads import strip_mate

    index: dict[str, int] = {}
    return np.array([index.setdefault(strip_mate(i) if pairs else i, len(index)) for i in ids], np.int64)


def embedding_calls(args, reads: list[str], unit: np.ndarray, genomes: list[list[str]], taxon_of: np.ndarray,
                    threshold: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    from sklearn.neighbors import NearestNeighbors

    from genolm.infer.embedding import Embedder

    rng = np.random.default_rng(args.seed)
    length = args.fragment_length or int(np.median([len(r) for r in reads]))
    pieces, owner = fragments(genomes, args.ref_fragments, length, rng)
    emb = Embedder.load(args.model, args.device)
    vectors = []
    for what, seqs in (("references", pieces), ("reads", reads)):
        with progress(len(seqs), f"classify: embed {what}", "seq", enabled=not args.no_progress) as bar:
            v = emb.embed(seqs, pool="mean", strand="both", progress=bar.update)
        vectors.append(v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12))
    units = np.zeros((int(unit.max()) + 1, vectors[1].shape[1]))  # the mates of a pair: their mean direction
    np.add.at(units, unit, vectors[1])
    units /= np.maximum(np.linalg.norm(units, axis=1, keepdims=True), 1e-12)
    k = min(args.neighbours, len(pieces))
    near = NearestNeighbors(n_neighbors=k).fit(vectors[0]).kneighbors(units, return_distance=False)
    genome, share = vote(near, owner, len(genomes), threshold)
    taxon, t_share = vote(near, taxon_of[owner], int(taxon_of.max()) + 1, threshold)
    taxon = np.where(genome >= 0, taxon_of[np.maximum(genome, 0)], taxon)
    return genome[unit], taxon[unit], np.where(genome >= 0, share, t_share)[unit]


def kmer_calls(args, reads: list[str], unit: np.ndarray, genomes: list[list[str]], taxon_of: np.ndarray,
               threshold: float, abundance: dict | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Calls per read; ``abundance`` (if given) receives each reference's EM share of the units."""
    from genolm.bio.kmer_index import KmerIndex, em_abundance, resolve_ties

    index = KmerIndex.build(genomes, taxon_of, args.k)
    members: list[list[str]] = [[] for _ in range(int(unit.max()) + 1)]
    for r, u in zip(reads, unit):
        members[u].append(r)
    calls = index.classify(["N".join(m) for m in members])  # N: no k-mer spans two mates
    # A read counts for the abundance when its references hold enough of its k-mers (a tied read's
    # own vote share may be low: only taxon-specific k-mers count for it when the tie spans taxa).
    low = calls.score < threshold
    share = em_abundance(calls.genome, calls.tied_read, calls.tied_ref, len(genomes),
                         counted=calls.genome_votes / np.maximum(calls.kmers, 1) >= threshold)
    if abundance is not None:
        abundance["share"] = share
    genome, taxon, score = calls.genome, calls.taxon, calls.score
    if args.ties == "em":
        genome = resolve_ties(genome, calls.tied_read, calls.tied_ref, share)
        taxon = np.where(genome >= 0, taxon_of[np.maximum(genome, 0)], taxon)
        score = np.where(genome >= 0, calls.genome_votes / np.maximum(calls.kmers, 1), score)
        low = score < threshold
    return (np.where(low, -1, genome)[unit], np.where(low, -1, taxon)[unit], score[unit])


def run(args: ClassifyArgs) -> dict:
    from genolm.io.atomic import atomic_file
    from genolm.metagenome.metrics import classification_scores
    from genolm.metagenome.reads import read_inputs, strip_mate

    method = args.kind
    truth, level = read_classify_truth(args.truth) if args.truth else (None, None)
    names, genomes, taxa = load_references(args.references, args.taxa, args.per_record)
    taxon_names = sorted(set(taxa))
    taxon_index = {t: i for i, t in enumerate(taxon_names)}
    taxon_of = np.array([taxon_index[t] for t in taxa], np.int32)
    t0 = time.perf_counter()
    ids, _, reads = read_inputs(args.inputs, 0, what="classify")
    unit = mate_units(ids, not args.no_pairs)
    calls, abundance = {}, {}
    for m in ((method, "kmer") if truth is not None and method != "kmer" else (method,)):
        threshold = args.threshold if args.threshold is not None and m == method else DEFAULT_THRESHOLD[m]
        t = time.perf_counter()
        if m == "kmer":
            g, tx, score = kmer_calls(args, reads, unit, genomes, taxon_of, threshold, abundance)
        else:
            g, tx, score = embedding_calls(args, reads, unit, genomes, taxon_of, threshold)
        calls[m] = ([names[i] if i >= 0 else UNASSIGNED for i in g],
                    [taxon_names[i] if i >= 0 else UNASSIGNED for i in tx], score, time.perf_counter() - t)
    seconds = time.perf_counter() - t0
    genome_calls, taxon_calls, score, _ = calls[method]
    summary = {"command": "classify", "method": method, "model": args.model, "reads": len(reads),
               "pairs": int(len(reads) - unit.max() - 1),
               "references": len(names), "taxa": len(taxon_names),
               "assigned": float(np.mean([c != UNASSIGNED for c in genome_calls])),
               "seconds": round(seconds, 2), "reads_per_s": len(reads) / max(seconds, 1e-9),
               "ties": args.ties}
    if "share" in abundance:
        summary["abundance"] = {n: round(float(a), 6) for n, a in zip(names, abundance["share"])}
    metrics = {}
    if truth is not None:
        keep = [i for i, r in enumerate(ids) if strip_mate(r) in truth]
        if not keep:
            raise GenolmError("no read id is in the truth table", file=args.truth, found=ids[0],
                              hint="the truth's read column must name the input's records")
        known = set(names) if level == "genome" else set(taxa)
        true = [truth[strip_mate(ids[i])] for i in keep]
        if not set(true) & known:
            raise GenolmError(f"no {level} of the truth table is among the references'", file=args.truth,
                              found=", ".join(sorted(set(true))[:3]),
                              hint="references are named after their files, without the extension"
                              if level == "genome" else "the truth's taxa must be those of --taxa")
        # A read from a genome (taxon) that is not among the references is right only when unassigned.
        true = [x if x in known else UNASSIGNED for x in true]
        taxon_by_genome = dict(zip(names, taxa))
        true_taxon = [taxon_by_genome.get(g, UNASSIGNED) for g in true] if level == "genome" else true
        for m, (g, tx, _, secs) in calls.items():
            metrics[m] = {"taxon": classification_scores(true_taxon, [tx[i] for i in keep])}
            if level == "genome":
                metrics[m] = {"genome": classification_scores(true, [g[i] for i in keep]), **metrics[m]}
            for scores in metrics[m].values():
                scores["seconds"] = round(secs, 2)
        summary["metrics"] = {m: {lv: {k: v for k, v in s.items() if k != "labels"} for lv, s in d.items()}
                              for m, d in metrics.items()}
        summary["scored"] = len(keep)
    out = Path(args.out)
    with atomic_file(out) as tmp:
        with open(tmp, "w") as f:
            f.write("id\tlength\tgenome\ttaxon\tscore\n")
            for i, r, g, t, s in zip(ids, reads, genome_calls, taxon_calls, score):
                f.write(f"{i}\t{len(r)}\t{g}\t{t}\t{s:.4g}\n")
    if metrics:
        with atomic_file(metrics_path(out)) as tmp:
            tmp.write_text(json.dumps({"summary": summary, "metrics": metrics}, indent=1) + "\n")
    return summary


def read_classify_truth(path: str) -> tuple[dict[str, str], str]:
    """{read: genome} (level "genome") when the table has a genome column, else {read: taxon}."""
    from genolm.metagenome.reads import GENOME_COLUMNS, read_truth

    try:
        with open(path) as f:
            header = {c.strip().lower() for c in f.readline().split("\t")}
    except OSError:
        raise GenolmError("no such truth table", file=path) from None
    if header & set(GENOME_COLUMNS) or "taxon" not in header:
        return read_truth(path), "genome"
    return read_truth(path, ("taxon",)), "taxon"


def metrics_path(out: Path) -> Path:
    """``calls.tsv`` -> ``calls.metrics.json``."""
    return out.with_name((out.name[: -len(out.suffix)] if out.suffix else out.name) + ".metrics.json")
