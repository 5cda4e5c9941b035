"""Synonymous recoding: copies of a genome whose proteins are unchanged.

A set of near-identical training genomes (the 134 phiX174 genomes are nearly one strain) teaches a
language model one sequence: it puts its doubt anywhere, and a design sampled from it is either a
copy or a copy with random changes, most of them missense and some of them stops.  The copies made
here show it where a genome may change and stay the same phage at the protein level: a codon may
become another codon of the same amino acid.  Only codons read by exactly one of the reference's
genes are changed (overlapping genes, common in small phages, read a base in two frames), never a
start or stop codon, and never within ``guard`` bases before a gene's start (its ribosome binding
site).  The genes are found in each genome by aligning the reference's proteins to its open reading
frames (:func:`genolm.bio.genome_match.protein_hits`), so copies follow the genome's own frames.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from genolm.bio.codon import genetic_code

COMPLEMENT = str.maketrans("ACGT", "TGCA")


class Site(NamedTuple):
    position: int  # 0-based forward-strand coordinate
    alternatives: str  # forward-strand bases that keep the codon's amino acid


def _synonyms(table: int) -> dict[str, list[tuple[int, str]]]:
    """codon -> [(position in codon, base)] of each single-base change that keeps its amino acid
    (stops and starts are left alone: the caller skips a gene's first and last codon)."""
    code = genetic_code(table)
    aa = dict(zip((a + b + c for a in "TCAG" for b in "TCAG" for c in "TCAG"), code.amino_acids))
    out = {}
    for codon, letter in aa.items():
        if letter == "*":
            continue
        out[codon] = [(j, b) for j in range(3) for b in "ACGT"
                      if b != codon[j] and aa[codon[:j] + b + codon[j + 1:]] == letter]
    return out


def synonymous_sites(genome: str, proteins: dict[str, str], *, table: int = 11, guard: int = 20,
                     min_score: float = 0.5) -> list[Site]:
    """Bases of ``genome`` that a synonymous change may touch, each with its alternatives.

    Genes: every reference protein whose best hit scores ``min_score`` or more (of the protein's
    score against itself), from the hit's first codon to its reading frame's stop."""
    from genolm.bio.genome_match import protein_hits

    n = len(genome)
    cover = np.zeros(n, np.int16)  # genes reading each base; a guard counts as one more
    genes = []
    for name, h in protein_hits(proteins, genome, table).items():
        if h.score < min_score or h.position < 0:
            continue
        codons = max(0, int(round(h.length * len(proteins[name]))))
        if not codons or 3 * codons > n:
            continue
        genes.append((h.position, h.strand, codons))
        # position: the forward coordinate of the first codon's first base read on the gene's strand
        cover[(h.position + h.strand * np.arange(3 * codons)) % n] += 1
        cover[(h.position - h.strand * np.arange(1, guard + 1)) % n] += 1  # the ribosome binding site
    syn = _synonyms(table)
    alts: dict[int, set] = {}
    for start, strand, codons in genes:
        for k in range(1, codons - 1):  # not the start codon, not the stop
            where = [(start + strand * (3 * k + j)) % n for j in range(3)]  # the codon's bases, read 5'->3'
            codon = "".join(genome[p] for p in where)
            if strand == -1:
                codon = codon.translate(COMPLEMENT)
            if any(cover[p] != 1 for p in where) or codon not in syn:
                continue
            for j, b in syn[codon]:
                alts.setdefault(where[j], set()).add(b if strand == 1 else b.translate(COMPLEMENT))
    return [Site(p, "".join(sorted(a))) for p, a in sorted(alts.items())]


def recode(genome: str, sites: list[Site], rate: float, rng: np.random.Generator) -> tuple[str, int]:
    """A copy of ``genome`` with each site changed with probability ``rate`` (to one of its
    alternatives, uniformly), at most one change per codon; and the number of bases changed."""
    s = bytearray(genome.encode())
    changed, last = 0, -3
    for site, u in zip(sites, rng.random(len(sites))):
        if u >= rate or site.position - last < 3:  # two changes in one codon may not be synonymous
            continue
        s[site.position] = ord(site.alternatives[int(rng.integers(len(site.alternatives)))])
        changed, last = changed + 1, site.position
    return s.decode(), changed


def recoded_copies(genome: str, proteins: dict[str, str], copies: int, rate: float, seed: int,
                   *, table: int = 11) -> list[tuple[str, int]]:
    """``copies`` recoded copies of ``genome`` (the same ``seed`` and genome: the same copies)."""
    if copies <= 0:
        return []
    sites = synonymous_sites(genome, proteins, table=table)
    rng = np.random.default_rng(seed)
    return [recode(genome, sites, rate, rng) for _ in range(copies)]

