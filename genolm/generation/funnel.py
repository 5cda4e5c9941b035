"""The filter funnel of whole-genome design: which generated genomes could be a phage like the
reference, stage by stage, before anything is ranked.

The stages follow the funnel King et al. (2025) put their Evo designs through before synthesis,
cheapest first; each has a value and a verdict for every genome, and the funnel counts how many
pass it and every stage before it:

==============  ===========================================================  =================
stage           value                                                        passes (default)
==============  ===========================================================  =================
letters         bases other than A/C/G/T                                     none
length          bases                                                        4,000 – 6,000
gc              G+C share                                                    0.30 – 0.65
homopolymer     longest run of one base                                      at most 10
genes_present   reference genes with a hit in the genome's open reading        all of them
                frames (score >= 0.45 of the protein's self-score; chance
                hits in random sequence score 0.05 – 0.37)
genes_intact    genes present whose hit covers >= 90% of the protein, whose  all of them
                reading frame ends within 10% of the protein's length, and
                that score >= 0.75
gene_order      the genes' order around the circle, as in the reference      the same
spike           identity of the spike protein's hit (phiX174: gene G)        0.60 – 1.00
novel           base identity to the reference and to the nearest training   at most 0.989
                genome (rotation and strand aligned)
==============  ===========================================================  =================

Genes are looked for in open reading frames around the circle (overlapping genes and other
frames included), so a frameshift or a premature stop shows as a gene no longer intact, a deleted
gene as one absent, and a rearrangement as a changed order.

>>> limits = Limits()
>>> limits.max_homopolymer, limits.max_identity
(10, 0.989)
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field

import numpy as np

from genolm.bio.circular import in_register
from genolm.bio.genome_match import (circular_orfs, cyclic_order, identity, kmer_set, protein_hits, reference_proteins,
                                     shared_kmers)
from genolm.bio.genome_stats import longest_homopolymer
from genolm.errors import GenolmError
from genolm.io.workers import fork_map

STAGES = ("letters", "length", "gc", "homopolymer", "genes_present", "genes_intact", "gene_order", "spike", "novel")


@dataclass(frozen=True)
class Limits:
    """What passes each stage (defaults: the funnel of King et al. 2025 for phiX174-like phages)."""

    min_length: int = 4000
    max_length: int = 6000
    min_gc: float = 0.30
    max_gc: float = 0.65
    max_homopolymer: int = 10
    present_score: float = 0.45  # a gene is present when its hit scores this share of the protein's self-score
    intact_coverage: float = 0.90  # and intact when the hit covers this much of the protein,
    intact_length: float = 0.10  # its reading frame ends within this share of the protein's length,
    intact_score: float = 0.75  # and it scores this share of the protein's self-score
    min_spike_identity: float = 0.60
    max_spike_identity: float = 1.0
    max_identity: float = 0.989  # to the reference and to every training genome

    def __post_init__(self) -> None:
        if not 0 < self.min_length <= self.max_length:
            raise GenolmError("genome length limits out of order", found=f"{self.min_length}..{self.max_length}")
        if not 0 <= self.min_gc <= self.max_gc <= 1:
            raise GenolmError("GC limits must lie in 0..1, lower first", found=f"{self.min_gc}..{self.max_gc}")
        if not 0 <= self.min_spike_identity <= self.max_spike_identity <= 1:
            raise GenolmError("spike identity limits must lie in 0..1, lower first",
                              found=f"{self.min_spike_identity}..{self.max_spike_identity}")
        for name in ("present_score", "intact_coverage", "max_identity"):
            if not 0 < getattr(self, name) <= 1:
                raise GenolmError(f"{name} must lie in (0, 1]", found=str(getattr(self, name)))


@dataclass
class Reference:
    """The phage designs are held against: its genome (the first base is where designs are turned
    to start), its proteins by gene name, their order around the circle, and the spike gene."""

    name: str
    genome: str
    proteins: dict[str, str]
    order: list[str]
    spike: str | None = None
    notes: list[str] = field(default_factory=list)

    @classmethod
    def load(cls, fasta: str, annotation: str, spike: str | None = None, table: int = 11) -> "Reference":
        """From a genome FASTA (its first record) and a GFF3 of its CDS.  ``spike``: a gene name,
        a protein FASTA to find among the genes, or None (no spike stage)."""
        rec, proteins, starts, notes = reference_proteins(fasta, annotation, table)
        short = [n for n, p in proteins.items() if len(p) < 10]
        if short:
            raise GenolmError("reference genes too short to look for", file=annotation, found=", ".join(short),
                              expected="proteins of 10 amino acids or more")
        names = list(proteins)
        order = cyclic_order(names, [starts[n] for n in names])
        spike_name = _spike(spike, proteins, annotation) if spike else None
        return cls(rec.id, rec.seq, proteins, order, spike_name, notes)


def read_genomes(path: str) -> tuple[list[str], list[str]]:
    """Ids and upper-case sequences of the genomes in ``path``, alignment gaps (``-``, ``.``)
    dropped: published genome sets are sometimes aligned (the Wichman et al. 2005 phiX174
    genomes are)."""
    from genolm.io.seqio import read_records

    ids, seqs, gaps = [], [], 0
    for rec in read_records(path, alphabet=None):
        seq = rec.seq.upper()
        n = len(seq)
        seq = seq.replace("-", "").replace(".", "")
        gaps += n - len(seq)
        ids.append(rec.id)
        seqs.append(seq)
    if not seqs:
        raise GenolmError("no genome in the file", file=path)
    if gaps:
        print(f"genolm: note: {path}: {gaps:,} alignment gap{'s' if gaps != 1 else ''} ('-' or '.') dropped",
              file=sys.stderr)
    return ids, seqs


def _spike(spike: str, proteins: dict[str, str], path: str) -> str:
    from pathlib import Path

    if spike in proteins:
        return spike
    if Path(spike).is_file():
        from genolm.io.seqio import read_records

        rec = next(iter(read_records(spike, case="upper", alphabet="protein")), None)
        if rec is None:
            raise GenolmError("no protein in the spike file", file=spike)
        want = rec.seq.rstrip("*")
        for name, p in proteins.items():
            if p == want:
                return name
        raise GenolmError("the spike protein is none of the reference's genes", file=spike,
                          hint=f"name one of the genes of {path}: " + ", ".join(proteins))
    raise GenolmError("no such spike gene or protein file", found=repr(spike), hint="genes: " + ", ".join(proteins))


def judge(seqs: list[str], reference: Reference | None, training: list[str] | None = None,
          limits: Limits = Limits(), progress=None, hits_out: list | None = None, workers: int = 0) -> dict[str, np.ndarray]:
    """Every stage's value and verdict for each genome of ``seqs`` (columns of equal length):
    ``<stage>`` values (where a stage has one number), ``pass_<stage>`` verdicts, and
    ``passes`` (every stage), ``stages_passed`` (how far down the funnel it got).

    Without a ``reference`` the gene and spike stages are not checked (every genome passes them)
    and novelty is to ``training`` only.  ``hits_out`` collects each genome's protein hits, on
    the strand and from the base where the reference starts.  The genomes are judged over
    ``workers`` processes (0: one per core)."""
    training = training or []
    train_kmers = [kmer_set(t) for t in training]
    rows = fork_map(lambda seq: _judge_one(seq, reference, training, train_kmers, limits), seqs, workers,
                    progress, chunksize=4)
    cols: dict[str, list] = {k: [r[0][k] for r in rows] for k in COLUMNS}
    if hits_out is not None:
        hits_out.extend(r[1] for r in rows)
    table = {k: np.asarray(v) for k, v in cols.items()}
    everyone = np.ones(len(seqs), bool)
    checked = reference is not None
    n_genes = len(reference.proteins) if checked else 0
    verdict = {
        "letters": table["non_acgt"] == 0,
        "length": (table["length"] >= limits.min_length) & (table["length"] <= limits.max_length),
        "gc": (table["gc"] >= limits.min_gc) & (table["gc"] <= limits.max_gc),
        "homopolymer": table["homopolymer"] <= limits.max_homopolymer,
        "genes_present": table["genes_present"] == n_genes if checked else everyone,
        "genes_intact": table["genes_intact"] == table["genes_present"],  # every gene found is whole
        "gene_order": table["gene_order"].astype(bool) if checked else everyone,
        "spike": ((table["spike_identity"] >= limits.min_spike_identity)
                  & (table["spike_identity"] <= limits.max_spike_identity))
        if checked and reference.spike else everyone,
        "novel": (~(table["identity_reference"] > limits.max_identity))
                 & (table["identity_training"] <= limits.max_identity),
    }
    for stage in STAGES:
        table[f"pass_{stage}"] = verdict[stage]
    stacked = np.stack([verdict[s] for s in STAGES], 1) if len(seqs) else np.zeros((0, len(STAGES)), bool)
    table["passes"] = stacked.all(1)
    table["stages_passed"] = np.cumprod(stacked, 1).sum(1)  # how far down the funnel
    return table


NEAREST = 3  # training genomes aligned per design: the ones sharing the most 16-mers


COLUMNS = ("length", "non_acgt", "gc", "homopolymer", "genes_present", "genes_intact", "genes_missing",
           "genes_broken", "gene_order", "spike_identity", "identity_reference", "identity_training",
           "nearest_training")


def _judge_one(seq: str, reference: Reference | None, training: list[str], train_kmers: list,
               limits: Limits) -> tuple[dict, dict]:
    """One genome's values (:data:`COLUMNS`) and its protein hits."""
    seq = seq.upper()
    n = len(seq)
    acgt = sum(seq.count(c) for c in "ACGT")
    row: dict = {"length": n, "non_acgt": n - acgt, "gc": (seq.count("G") + seq.count("C")) / acgt if acgt else 0.0,
                 "homopolymer": longest_homopolymer(seq) if n else 0}
    hits = {}
    if reference is not None and n:
        oriented = in_register(seq, reference.genome)[0]
        hits = protein_hits(reference.proteins, oriented, orfs=circular_orfs(oriented))
    present = [g for g, h in hits.items() if h.score >= limits.present_score]
    intact = [g for g in present if intact_gene(hits[g], limits)]
    names = list(reference.proteins) if reference is not None else []
    spike = hits.get(reference.spike) if reference is not None and reference.spike else None
    row.update(genes_present=len(present), genes_intact=len(intact),
               genes_missing=",".join(g for g in names if g not in present),
               genes_broken=",".join(g for g in present if g not in intact),
               gene_order=reference is not None and len(present) > 1 and in_reference_order(hits, present, reference),
               spike_identity=np.nan if spike is None else
               spike.identity if spike.score >= limits.present_score else 0.0,
               identity_reference=identity(seq, reference.genome) if reference is not None and n else np.nan)
    best, who = 0.0, ""
    if training and n:
        mine = kmer_set(seq)
        shared = np.array([shared_kmers(mine, t) for t in train_kmers])
        # the nearest by base identity is among those sharing the most 16-mers: align the top few
        for i in np.argsort(-shared, kind="stable")[:NEAREST]:
            if shared[i] < shared.max() / 2:
                break
            v = identity(seq, training[i])
            if v > best:
                best, who = v, str(int(i))
    row.update(identity_training=best, nearest_training=who)
    return row, hits


def in_reference_order(hits: dict, present: list[str], reference: Reference) -> bool:
    """Whether the ``present`` genes lie around the circle in the reference's order."""
    want = [g for g in reference.order if g in present]
    return cyclic_order(present, [hits[g].position for g in present]) == cyclic_order(want, list(range(len(want))))


def intact_gene(hit, limits: Limits) -> bool:
    """A gene found whole: covered, ending where the protein ends, and close to it."""
    return (hit.coverage >= limits.intact_coverage and abs(hit.length - 1) <= limits.intact_length
            and hit.score >= limits.intact_score)


def funnel(table: dict[str, np.ndarray]) -> list[tuple[str, int, int]]:
    """(stage, genomes passing it, genomes passing it and every stage before) in funnel order."""
    n = len(table["passes"])
    alive = np.ones(n, bool)
    out = []
    for stage in STAGES:
        alive &= table[f"pass_{stage}"]
        out.append((stage, int(table[f"pass_{stage}"].sum()), int(alive.sum())))
    return out


def cluster(seqs: list[str], order: list[int], min_identity: float = 0.99) -> np.ndarray:
    """Greedy clusters at ``min_identity`` (rotation and strand aligned): in ``order`` (best first),
    each genome joins the first earlier representative it matches, else starts a cluster.
    Returns the cluster number of each genome (-1 for genomes not in ``order``)."""
    ids = np.full(len(seqs), -1)
    reps: list[int] = []
    kmers = {i: kmer_set(seqs[i]) for i in order}  # once each: a genome meets every representative
    for i in order:
        for c, r in enumerate(reps):
            if shared_kmers(kmers[i], kmers[r]) >= 0.5 and identity(seqs[i], seqs[r]) >= min_identity:
                ids[i] = c
                break
        else:
            ids[i] = len(reps)
            reps.append(i)
    return ids
