"""Circular genomes: read features around the origin, and rotate a genome to a reference's start.

A circular genome has no natural first base: a phage assembled or generated from another point
of its circle is the same phage.  :func:`align_start` finds the rotation (and strand) that puts
a genome in register with a reference, by the offsets at which they share k-mers, so that
positions, gene order and identity can be compared base for base.

>>> import random
>>> random.seed(1)
>>> ref = "".join(random.choice("ACGT") for _ in range(300))
>>> genome = rotate(ref, 50)
>>> start = align_start(genome, ref, k=8)
>>> start.strand, rotate(genome, start.offset) == ref
(1, True)
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from genolm.bio.kmers import kmer_codes
from genolm.bio.seq import reverse_complement
from genolm.errors import GenolmError


class Start(NamedTuple):
    """``rotate(genome on strand, offset)`` starts where the reference does; ``votes``: the k-mers
    that agree on it (0: nothing shared, the genome is left as it is)."""

    offset: int
    strand: int  # 1, or -1 for the reverse complement
    votes: int


def rotate(seq: str, offset: int) -> str:
    """``seq`` read from ``offset`` around the origin (``offset`` may be negative).

    >>> rotate("ABCDE", 2), rotate("ABCDE", -1)
    ('CDEAB', 'EABCD')
    """
    if not seq:
        return seq
    offset %= len(seq)
    return seq[offset:] + seq[:offset]


def _offsets(seq: str, ref: str, k: int) -> tuple[int, int]:
    """The most common (position in seq − position in ref) over k-mers unique in ref, and its count."""
    rc = kmer_codes(ref, k, unknown="n")
    uniq, first, counts = np.unique(rc, return_index=True, return_counts=True)
    keep = counts == 1
    uniq, pos_ref = uniq[keep], first[keep]
    sc = kmer_codes(seq, k, unknown="n")
    if not len(uniq) or not len(sc):
        return 0, 0
    where = np.searchsorted(uniq, sc)
    where[where == len(uniq)] = 0
    hit = uniq[where] == sc
    if not hit.any():
        return 0, 0
    # kmer_codes drops windows with unknown letters; positions are then approximate, as the votes are
    diff = (np.flatnonzero(hit) - pos_ref[where[hit]]) % len(seq)
    best = np.bincount(diff)
    return int(best.argmax()), int(best.max())


def align_start(seq: str, ref: str, k: int = 16, strands: bool = True) -> Start:
    """The rotation (and strand) of the circular ``seq`` that starts where ``ref`` starts."""
    if k < 4:
        raise GenolmError("k-mers for aligning genome starts must be at least 4 long", found=str(k))
    seq, ref = seq.upper(), ref.upper()
    offset, votes = _offsets(seq, ref, k)
    best = Start(offset, 1, votes)
    if strands:
        offset, votes = _offsets(reverse_complement(seq, unknown="n"), ref, k)
        if votes > best.votes:
            best = Start(offset, -1, votes)
    return best if best.votes else Start(0, 1, 0)


def in_register(seq: str, ref: str, k: int = 16) -> tuple[str, Start]:
    """``seq`` on the strand and from the base where ``ref`` starts (unchanged when they share nothing)."""
    start = align_start(seq, ref, k)
    oriented = seq if start.strand == 1 else reverse_complement(seq, unknown="n")
    return rotate(oriented, start.offset), start


def feature_sequence(genome: str, start: int, end: int, strand: str | int) -> str:
    """The bases from ``start`` to ``end`` (1-based, inclusive, as in GFF; ``end`` may run past
    the genome's end) on ``strand``, read around the origin of the circular ``genome``.

    >>> feature_sequence("AACCGGTT", 7, 10, "+"), feature_sequence("AACCGGTT", 1, 3, "-")
    ('TTAA', 'GTT')
    """
    n, length = len(genome), end - start + 1
    if not 0 < length <= n:
        raise GenolmError("a feature must lie within one turn of its genome", expected=f"1 to {n:,} bases",
                          found=f"{start}..{end}")
    lo = (start - 1) % n
    seq = (genome + genome)[lo: lo + length]
    return seq if strand in ("+", 1) else reverse_complement(seq, unknown="n")
