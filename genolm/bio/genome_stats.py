"""Per-sequence statistics that tell a genome-like sequence from noise: the columns of
``genolm viability``.

All take any case; N and other ambiguity codes are never counted as a base (they break runs,
codons and k-mers).

>>> gc_skew("GGGC"), longest_homopolymer("ACGGGGTTNTT"), round(stop_rate("ATGTAAATG"), 3)
(0.5, 4, 0.071)
>>> js_divergence([1, 0], [0, 1]), js_divergence([1, 1], [2, 2])
(1.0, 0.0)
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from genolm.bio.kmers import KMER_CODE, MAX_DENSE_K, canonical_kmers, check_k, window_codes
from genolm.bio.seq import check_unknown

AMINO_ACIDS = "ACDEFGHIKLMNPQRSTVWY"
_AA_INDEX = np.full(256, -1, np.int64)
for _i, _a in enumerate(AMINO_ACIDS):
    _AA_INDEX[ord(_a)] = _i
# codes (A=0 C=1 G=2 T=3) of the stops of table 11 on the forward strand, and read on the reverse
_STOPS = {(3, 0, 0), (3, 0, 2), (3, 2, 0)}  # TAA TAG TGA
_RC_STOPS = {(3, 3, 0), (1, 3, 0), (3, 1, 0)}  # TTA CTA TCA: a stop on the other strand


def _codes(seq: str | bytes) -> np.ndarray:
    return KMER_CODE[np.frombuffer(check_unknown(seq, "n"), dtype=np.uint8)]


def gc_skew(seq: str | bytes) -> float:
    """(G - C) / (G + C); 0.0 without G or C.  Positive on the leading strand of most bacteria.

    >>> gc_skew("GGCA")
    0.3333333333333333
    """
    c = np.bincount(_codes(seq), minlength=5)
    g_plus_c = int(c[1] + c[2])
    return float((int(c[2]) - int(c[1])) / g_plus_c) if g_plus_c else 0.0


def longest_homopolymer(seq: str | bytes) -> int:
    """Length of the longest run of one base (A, C, G or T; N breaks a run).

    >>> longest_homopolymer("aaAACCN"), longest_homopolymer("NNN")
    (4, 0)
    """
    c = _codes(seq)
    if not len(c):
        return 0
    brk = np.flatnonzero(np.r_[True, c[1:] != c[:-1]])
    runs = np.diff(np.r_[brk, len(c)])
    runs = runs[c[brk] < 4]
    return int(runs.max()) if len(runs) else 0


def stop_rate(seq: str | bytes) -> float:
    """Stop codons (TAA, TAG, TGA; table 11) per codon read, over the six reading frames: every
    complete A/C/G/T triplet counts once per strand.  A random sequence of 50% GC gives 3/64 ~=
    0.047; protein-coding DNA is lower in its coding frame.

    >>> stop_rate("TAA"), stop_rate("TTA")  # TAA forward; TTA is TAA on the reverse strand
    (0.5, 0.5)
    """
    c = _codes(seq)
    if len(c) < 3:
        return 0.0
    a, b, d = c[:-2], c[1:-1], c[2:]
    ok = (a < 4) & (b < 4) & (d < 4)
    code = a.astype(np.int64) * 16 + b * 4 + d
    fwd = np.isin(code, [x * 16 + y * 4 + z for x, y, z in _STOPS])
    rev = np.isin(code, [x * 16 + y * 4 + z for x, y, z in _RC_STOPS])
    n = int(ok.sum())
    return float((fwd & ok).sum() + (rev & ok).sum()) / (2 * n) if n else 0.0


def js_divergence(p: Sequence[float] | np.ndarray, q: Sequence[float] | np.ndarray) -> float:
    """Jensen-Shannon divergence in bits (0: same distribution, 1: disjoint) of two count or
    frequency vectors (each is normalised; an all-zero vector gives NaN)."""
    p, q = np.asarray(p, np.float64), np.asarray(q, np.float64)
    if p.sum() <= 0 or q.sum() <= 0:
        return float("nan")
    p, q = p / p.sum(), q / q.sum()
    m = (p + q) / 2

    def kl(x):
        on = x > 0
        return float((x[on] * np.log2(x[on] / m[on])).sum())

    return max(0.0, (kl(p) + kl(q)) / 2)


def kmer_spectra(seqs: Sequence[str | bytes], k: int) -> np.ndarray:
    """(n_seqs, n_canonical) int64 counts of the canonical k-mers (both strands; k <= 12) of each
    sequence, columns as :func:`genolm.bio.kmers.canonical_kmers`.

    >>> kmer_spectra(["ACGT", "AAAT"], 2).sum(1).tolist()
    [3, 3]
    """
    k = check_k(k, MAX_DENSE_K)
    cols = canonical_kmers(k)
    column = np.full(4 ** k, -1, np.int64)
    column[cols] = np.arange(len(cols))
    out = np.zeros((len(seqs), len(cols)), np.int64)
    for i, s in enumerate(seqs):
        code, ok = window_codes(np.frombuffer(check_unknown(s, "n"), dtype=np.uint8), k, True)
        out[i] = np.bincount(column[code[ok].astype(np.intp)], minlength=len(cols))
    return out


def aa_counts(proteins: Iterable[str]) -> np.ndarray:
    """(20,) counts of the standard amino acids (ACDEFGHIKLMNPQRSTVWY) in ``proteins``.

    >>> aa_counts(["MKK", "AX*"]).nonzero()[0].tolist()
    [0, 8, 10]
    """
    out = np.zeros(len(AMINO_ACIDS), np.int64)
    for p in proteins:
        idx = _AA_INDEX[np.frombuffer(p.encode(), dtype=np.uint8)]
        out += np.bincount(idx[idx >= 0], minlength=len(AMINO_ACIDS))
    return out


def coding_density(length: int, genes: Iterable[tuple[int, int]]) -> float:
    """Fraction of ``length`` bases covered by at least one gene (``(start, end)``, 0-based, half-open).

    >>> coding_density(100, [(0, 30), (20, 50), (90, 100)])
    0.6
    """
    if length <= 0:
        return 0.0
    cover = np.zeros(length + 1, np.int64)
    for start, end in genes:
        cover[max(start, 0)] += 1
        cover[min(end, length)] -= 1
    return float((np.cumsum(cover[:length]) > 0).mean())
