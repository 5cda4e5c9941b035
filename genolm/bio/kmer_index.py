"""Exact k-mer lookup against reference genomes: the classic read classifier (Kraken-style,
without a taxonomy tree), and genolm's baseline for ``genolm classify``.

Every canonical k-mer of the references is stored once, with the references that hold it.  A
read is assigned to the reference that holds the most of its k-mers — strains of one species
share most k-mers, and a read's own strain holds them all while a sibling strain misses the ones
around each difference; a tie between references is no answer at that level, but when the tied
references are of one taxon the read still gets that taxon (otherwise, the taxon most of its
taxon-specific k-mers name).  Memory: about 12 bytes per (k-mer, reference) pair, so ~50 MB per
4 Mb bacterial genome at k = 12, built in one sort.

>>> idx = KmerIndex.build([["ACGTACGGTTAC"], ["TTTTGGGGCCCA"]], taxa=[0, 1], k=5)
>>> idx.classify(["ACGTACGG", "TGGGGCC", "AAAAAAAA"]).genome.tolist()
[0, 1, -1]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from genolm.bio.kmers import MAX_K, check_k, window_codes
from genolm.bio.seq import check_unknown

SHARED = -1


@dataclass
class KmerCalls:
    """Per read: reference and taxon index (-1: none), the winner's votes (its k-mers held by the
    winning reference), and the read's k-mers looked up (the winner's share is ``votes / kmers``)."""

    genome: np.ndarray
    taxon: np.ndarray
    votes: np.ndarray
    kmers: np.ndarray
    genome_votes: np.ndarray | None = None  # the most k-mers any one reference holds (tied or not)
    tied_read: np.ndarray | None = None  # a tied read's index, once per reference it is tied between
    tied_ref: np.ndarray | None = None   # ... and that reference

    @property
    def score(self) -> np.ndarray:
        return self.votes / np.maximum(self.kmers, 1)


class KmerIndex:
    """Sorted canonical k-mers of the references; ``owners[starts[i]:starts[i + 1]]`` are the
    references holding k-mer ``codes[i]``, and ``taxon[i]`` its one taxon (-1: several)."""

    def __init__(self, k: int, codes: np.ndarray, starts: np.ndarray, owners: np.ndarray, taxon: np.ndarray,
                 genome_taxon: np.ndarray) -> None:
        self.k, self.codes, self.starts, self.owners, self.taxon = k, codes, starts, owners, taxon
        self.genome_taxon = genome_taxon  # (n_references,) taxon index of each reference

    @property
    def n_references(self) -> int:
        return len(self.genome_taxon)

    @property
    def n_taxa(self) -> int:
        return int(self.genome_taxon.max()) + 1 if len(self.genome_taxon) else 0

    @classmethod
    def build(cls, references: Sequence[Sequence[str]], taxa: Sequence[int], k: int = 12,
              progress=None) -> "KmerIndex":
        """``references[i]``: the sequences (records) of reference i; ``taxa[i]``: its taxon index."""
        k = check_k(k, MAX_K)
        per_ref = []
        for records in references:
            codes = [_codes(s, k) for s in records]
            per_ref.append(_unique(np.sort(np.concatenate(codes))) if codes else np.zeros(0, np.uint64))
            if progress:
                progress(1)
        sizes = np.array([len(c) for c in per_ref], np.int64)
        all_codes = np.concatenate(per_ref) if per_ref else np.zeros(0, np.uint64)
        owners = np.repeat(np.arange(len(per_ref), dtype=np.int32), sizes)
        del per_ref
        order = np.argsort(all_codes, kind="stable")  # by k-mer, references ascending within one
        all_codes, owners = all_codes[order], owners[order]
        del order
        starts = np.flatnonzero(np.r_[True, all_codes[1:] != all_codes[:-1]]) if len(all_codes) else np.zeros(0, np.int64)
        codes = all_codes[starts]
        del all_codes
        genome_taxon = np.asarray(taxa, np.int32)
        tax = genome_taxon[owners]
        tmin = np.minimum.reduceat(tax, starts) if len(starts) else tax
        tmax = np.maximum.reduceat(tax, starts) if len(starts) else tax
        taxon = np.where(tmin == tmax, tmin, SHARED).astype(np.int32)
        starts = np.append(starts, len(owners)).astype(np.int64)
        return cls(k, codes, starts, owners, taxon, genome_taxon)

    MAX_PAIRS = 1 << 24  # (read, reference) pairs voted at once: bounds memory when k-mers are widely shared

    def classify(self, seqs: Sequence[str], chunk: int = 16384) -> KmerCalls:
        n = len(seqs)
        out = KmerCalls(np.full(n, -1, np.int32), np.full(n, -1, np.int32), np.zeros(n, np.int32),
                        np.zeros(n, np.int32), np.zeros(n, np.int32))
        todo = [(lo, min(lo + chunk, n)) for lo in range(0, n, chunk)]
        tied: list[tuple[np.ndarray, np.ndarray]] = []
        while todo:
            lo, hi = todo.pop()
            if not self._classify_part(seqs[lo:hi], out, lo, tied) and hi - lo > 1:
                mid = (lo + hi) // 2  # too many pairs (k-mers shared by many references): halve
                todo += [(lo, mid), (mid, hi)]
        out.tied_read = np.concatenate([t[0] for t in tied]) if tied else np.zeros(0, np.int64)
        out.tied_ref = np.concatenate([t[1] for t in tied]) if tied else np.zeros(0, np.int32)
        return out

    def _classify_part(self, part: Sequence[str], out: KmerCalls, lo: int,
                       tied: list[tuple[np.ndarray, np.ndarray]]) -> bool:
        """Fill ``out`` for reads ``lo...``; False (nothing written) when the part has too many
        (read, reference) pairs to vote at once."""
        joined = b"N".join(check_unknown(s, "n") for s in part)  # no window crosses two reads
        code, ok = window_codes(np.frombuffer(joined, dtype=np.uint8), self.k, True)
        valid = np.flatnonzero(ok)
        starts = np.cumsum([0] + [len(s) + 1 for s in part[:-1]])
        read = np.searchsorted(starts, valid, side="right") - 1
        code = code[valid]
        pos = np.minimum(np.searchsorted(self.codes, code), max(len(self.codes) - 1, 0))
        hit = (self.codes[pos] == code) if len(self.codes) else np.zeros(len(code), bool)
        n_kmers = np.bincount(read, minlength=len(part))
        read, pos = read[hit], pos[hit]
        # Every (read, reference) pair of a hit: a reference's votes = the read's k-mers it holds.
        n_own = self.starts[pos + 1] - self.starts[pos]
        if n_own.sum() > self.MAX_PAIRS and len(part) > 1:
            return False
        first = np.repeat(self.starts[pos] - np.cumsum(n_own) + n_own, n_own) + np.arange(n_own.sum())
        g_best, g_votes, g_tied, (top_read, top_ref) = _winner(
            np.repeat(read, n_own), self.owners[first], len(part), self.n_references, self.genome_taxon, top=True)
        t_best, t_votes, _ = _winner(read, self.taxon[pos], len(part), self.n_taxa)
        has_g = g_best >= 0
        rows = slice(lo, lo + len(part))
        out.kmers[rows] = n_kmers
        out.genome[rows] = g_best
        # A read with a reference takes its taxon; one tied between references of one taxon takes
        # that taxon; otherwise the taxon its taxon-specific k-mers vote for.
        out.taxon[rows] = np.where(has_g, self.genome_taxon[np.maximum(g_best, 0)], np.where(g_tied >= 0, g_tied, t_best))
        out.votes[rows] = np.where(has_g | (g_tied >= 0), g_votes, t_votes)
        out.genome_votes[rows] = g_votes
        was_tied = g_best[top_read] < 0  # a winner's top set is itself alone
        tied.append((top_read[was_tied].astype(np.int64) + lo, top_ref[was_tied].astype(np.int32)))
        return True


def _unique(sorted_codes: np.ndarray) -> np.ndarray:
    """The distinct values of a sorted array (np.unique sorts again, and is slow on uint64)."""
    if not len(sorted_codes):
        return sorted_codes
    return sorted_codes[np.r_[True, sorted_codes[1:] != sorted_codes[:-1]]]


def _codes(seq: str, k: int) -> np.ndarray:
    code, ok = window_codes(np.frombuffer(check_unknown(seq, "n"), dtype=np.uint8), k, True)
    return code[ok]


def _winner(read: np.ndarray, label: np.ndarray, n_reads: int, n_labels: int,
            group: np.ndarray | None = None, top: bool = False):
    """Per read, the label with the most votes (labels < 0 do not vote; a tie is no winner: -1),
    its votes, and — with ``group`` (label -> group) — the group of the tied labels when they all
    share one (else -1).  With ``top``, also (reads, labels): every label with its read's most
    votes, one row each."""
    keep = label >= 0
    best = np.full(n_reads, -1, np.int32)
    votes = np.zeros(n_reads, np.int32)
    tied_group = np.full(n_reads, -1, np.int32)
    if not keep.any() or n_labels == 0:
        empty = (np.zeros(0, np.int64), np.zeros(0, np.int32))
        return (best, votes, tied_group, empty) if top else (best, votes, tied_group)
    pair = read[keep].astype(np.int64) * n_labels + label[keep]
    pair = np.sort(pair)
    first_of = np.flatnonzero(np.r_[True, pair[1:] != pair[:-1]])
    pairs, counts = pair[first_of], np.diff(np.r_[first_of, len(pair)])
    r, lab = pairs // n_labels, (pairs % n_labels).astype(np.int32)
    # Sort by read, then by votes descending: the first row of each read is its winner.
    order = np.lexsort((-counts, r))
    r, lab, counts = r[order], lab[order], counts[order]
    first = np.flatnonzero(np.r_[True, r[1:] != r[:-1]])
    most = counts[first]
    nxt = np.where(first + 1 < len(r), first + 1, first)
    tie = (nxt != first) & (r[nxt] == r[first]) & (counts[nxt] == most)
    best[r[first]] = np.where(tie, -1, lab[first])
    votes[r[first]] = most
    at_top = counts == np.repeat(most, np.diff(np.r_[first, len(r)]))  # rows tied with their read's best
    if group is not None:
        g = group[lab]
        read_of_row = np.repeat(np.arange(len(first)), np.diff(np.r_[first, len(r)]))
        gmin = np.full(len(first), np.iinfo(np.int32).max, np.int64)
        gmax = np.full(len(first), -1, np.int64)
        np.minimum.at(gmin, read_of_row[at_top], g[at_top])
        np.maximum.at(gmax, read_of_row[at_top], g[at_top])
        tied_group[r[first]] = np.where(gmin == gmax, gmin, -1)
    return (best, votes, tied_group, (r[at_top], lab[at_top])) if top else (best, votes, tied_group)


def em_abundance(genome: np.ndarray, tied_read: np.ndarray, tied_ref: np.ndarray, n_refs: int,
                 counted: np.ndarray | None = None, tol: float = 1e-9, max_iter: int = 2000) -> np.ndarray:
    """Each reference's share of the reads, by expectation-maximisation (as kallisto, Pathoscope
    and Bracken re-estimate abundance): a read with one winner counts for it; a read tied between
    several references is split between them in proportion to their current shares, and the
    shares are recomputed until they settle.  ``counted`` (bool per read) leaves reads out.

    >>> em_abundance(np.array([0, 0, 0, 1, -1, -1]), np.array([4, 4, 5, 5]), np.array([0, 1, 0, 1]), 2).round(3).tolist()
    [0.75, 0.25]
    """
    counted = np.ones(len(genome), bool) if counted is None else counted
    won = np.bincount(genome[(genome >= 0) & counted], minlength=n_refs).astype(np.float64)
    keep = counted[tied_read]
    rows, refs = np.unique(tied_read[keep], return_inverse=True)[1], tied_ref[keep]
    total = won.sum() + (rows.max() + 1 if len(rows) else 0)
    if total == 0:
        return np.zeros(n_refs)
    share = np.full(n_refs, 1.0 / n_refs)
    for _ in range(max_iter):
        w = share[refs]
        split = w / np.maximum(np.bincount(rows, weights=w)[rows], 1e-300)
        new = (won + np.bincount(refs, weights=split, minlength=n_refs)) / total
        done = np.abs(new - share).max() < tol
        share = new
        if done:
            break
    return share


def resolve_ties(genome: np.ndarray, tied_read: np.ndarray, tied_ref: np.ndarray,
                 share: np.ndarray) -> np.ndarray:
    """``genome`` with every tied read given the most abundant (``share``) of its tied references
    (a further tie: the first of them).

    >>> resolve_ties(np.array([0, -1, -1]), np.array([1, 1, 2, 2]), np.array([0, 1, 1, 2]), np.array([.2, .5, .3])).tolist()
    [0, 1, 1]
    """
    out = genome.copy()
    if not len(tied_read):
        return out
    order = np.lexsort((tied_ref, -share[tied_ref], tied_read))  # per read: most abundant first
    r, g = tied_read[order], tied_ref[order]
    first = np.flatnonzero(np.r_[True, r[1:] != r[:-1]])
    out[r[first]] = g[first]
    return out
