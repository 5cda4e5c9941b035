"""Exact k-mer spectra, vectorised: 2-bit base codes rolled into one integer per window.

A k-mer's index is its base-4 number with A=0, C=1, G=2, T/U=3 (lexicographic order, so index 0
is AAA...A).  Windows that contain any base other than A/C/G/T/U (N, IUPAC codes, soft-masked
bases are fine: case is ignored) are skipped, never guessed.  ``canonical=True`` counts a k-mer
and its reverse complement together, under the smaller of the two indices.

>>> kmer_counts("ACGTN", 2).nonzero()[0].tolist()  # AC, CG, GT (GT-N is skipped)
[1, 6, 11]
>>> kmer_counts_dict("AAAT", 2, canonical=True)
{'AA': 2, 'AT': 1}
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from genolm.bio.seq import check_unknown
from genolm.errors import GenolmError

MAX_DENSE_K = 12  # 4**12 counters = 128 MiB of int64; larger k: use kmer_counts_dict
MAX_K = 31  # 2k bits must fit an unsigned 64-bit integer
ALPHABET = "ACGT"

# (256,) uint8: byte -> 2-bit code (A=0 C=1 G=2 T/U=3), 4 for anything that breaks a window.
KMER_CODE = np.full(256, 4, dtype=np.uint8)
for _i, _bases in enumerate(("Aa", "Cc", "Gg", "TtUu")):
    for _b in _bases:
        KMER_CODE[ord(_b)] = _i


def check_k(k: int, limit: int) -> int:
    if isinstance(k, (int, np.integer)) and not isinstance(k, bool) and 1 <= k <= limit:
        return int(k)
    dense = limit == MAX_DENSE_K and isinstance(k, int) and MAX_DENSE_K < k <= MAX_K
    raise GenolmError("k-mer length out of range", expected=f"an integer from 1 to {limit}",
                      found=repr(k), hint="use kmer_counts_dict for k above 12" if dense else None)


def kmer_codes(seq: str | bytes, k: int, *, canonical: bool = False, unknown: str = "error"
               ) -> np.ndarray:
    """(n_windows,) uint64 index of every k-mer window made only of A/C/G/T/U, in sequence order.

    >>> kmer_codes("ACGT", 3).tolist(), kmer_codes("ACGT", 3, canonical=True).tolist()
    ([6, 27], [6, 6])
    """
    k = check_k(k, MAX_K)
    codes, valid = window_codes(np.frombuffer(check_unknown(seq, unknown), dtype=np.uint8), k, canonical)
    return codes[valid]


def window_codes(raw: np.ndarray, k: int, canonical: bool) -> tuple[np.ndarray, np.ndarray]:
    """(n_windows,) uint64 index of every k-mer window of the bytes ``raw``, and whether the
    window is made only of A/C/G/T/U (the others' indices mean nothing)."""
    c = KMER_CODE[raw]
    n = len(c) - k + 1
    if n <= 0:
        return np.zeros(0, dtype=np.uint64), np.zeros(0, dtype=bool)
    bad = c > 3
    cum = np.concatenate([[0], np.cumsum(bad)])  # (L+1,) non-ACGT bases before each offset
    valid = cum[k:] - cum[:-k] == 0  # (n,) windows without a non-ACGT base
    v = np.where(bad, 0, c).astype(np.uint64)
    fwd = np.zeros(n, dtype=np.uint64)
    for j in range(k):  # k vector passes, not a loop over bases
        fwd = (fwd << np.uint64(2)) | v[j: j + n]
    if canonical:
        # Reverse complement: complement is 3 - code, and base j lands at position k-1-j.
        rc = np.zeros(n, dtype=np.uint64)
        for j in range(k):
            rc |= (np.uint64(3) - v[j: j + n]) << np.uint64(2 * j)
        fwd = np.minimum(fwd, rc)
    return fwd, valid


def canonical_kmers(k: int) -> np.ndarray:
    """Sorted indices of the canonical k-mers (a k-mer no larger than its reverse complement):
    136 for k = 4, the columns of a canonical profile.

    >>> len(canonical_kmers(4)), [kmer_string(int(i), 2) for i in canonical_kmers(2)][:4]
    (136, ['AA', 'AC', 'AG', 'AT'])
    """
    k = check_k(k, MAX_DENSE_K)
    idx = np.arange(4 ** k, dtype=np.uint64)
    rc = np.zeros_like(idx)
    for j in range(k):
        rc |= (3 - ((idx >> np.uint64(2 * (k - 1 - j))) & np.uint64(3))) << np.uint64(2 * j)
    return np.flatnonzero(idx <= rc)


def kmer_profiles(seqs, k: int = 4, *, canonical: bool = True, unknown: str = "error",
                  chunk: int = 65536) -> np.ndarray:
    """(n_seqs, n_kmers) float32 k-mer frequencies of many sequences (each row sums to 1, or is
    all zero for a sequence without a k-mer of A/C/G/T): the composition signal of metagenome
    binning (tetranucleotide frequencies for k = 4).  Columns: :func:`canonical_kmers` with
    ``canonical`` (reverse-complement strands get the same profile), else all 4**k k-mers.

    >>> p = kmer_profiles(["ACGT", "AAAA", "NN"], 2)
    >>> p.shape, p[1].max(), float(p[2].sum())
    ((3, 10), np.float32(1.0), 0.0)
    """
    k = check_k(k, MAX_DENSE_K)
    cols = canonical_kmers(k) if canonical else np.arange(4 ** k)
    column = np.full(4 ** k, -1, dtype=np.int64)
    column[cols] = np.arange(len(cols))
    out = np.zeros((len(seqs), len(cols)), np.float32)
    for lo in range(0, len(seqs), chunk):
        part = seqs[lo: lo + chunk]
        # One pass over the part, joined by N (no window crosses two sequences).
        joined = b"N".join(check_unknown(s, unknown) for s in part)
        code, ok = window_codes(np.frombuffer(joined, dtype=np.uint8), k, canonical)
        valid = np.flatnonzero(ok)
        if not len(valid):
            continue
        starts = np.cumsum([0] + [len(s) + 1 for s in part[:-1]])
        owner = np.searchsorted(starts, valid, side="right") - 1
        counts = np.bincount(owner * len(cols) + column[code[valid].astype(np.intp)],
                             minlength=len(part) * len(cols)).reshape(len(part), len(cols))
        total = counts.sum(1, keepdims=True)
        out[lo: lo + len(part)] = counts / np.maximum(total, 1)
    return out


def clr(profiles: np.ndarray, pseudocount: float | None = None) -> np.ndarray:
    """Centred log-ratio of composition rows: log(p + c) minus the row's mean log, so distances
    compare ratios of k-mer frequencies (Aitchison geometry).  ``pseudocount`` defaults to half
    the smallest non-zero frequency.

    >>> x = clr(np.array([[0.5, 0.25, 0.25]]), 0.0)
    >>> bool(abs(x.sum()) < 1e-6), bool(x[0, 0] > x[0, 1])
    (True, True)
    """
    p = np.asarray(profiles)
    if pseudocount is None:
        pseudocount = float(np.where(p > 0, p, np.inf).min(initial=np.inf)) / 2
        pseudocount = pseudocount if np.isfinite(pseudocount) else 1.0
    out = np.empty(p.shape, np.float32)
    for lo in range(0, len(p), 65536):  # float64 per block of rows: bounded memory for millions of reads
        logs = np.log(np.asarray(p[lo: lo + 65536], np.float64) + pseudocount)
        out[lo: lo + 65536] = logs - logs.mean(1, keepdims=True)
    return out


def kmer_counts(seq: str | bytes, k: int, *, canonical: bool = False, unknown: str = "error"
                ) -> np.ndarray:
    """(4**k,) int64 count of each k-mer (k <= 12), indexed as in :func:`kmer_index`.

    >>> counts = kmer_counts("AAAAC", 3)
    >>> int(counts[kmer_index("AAA")]), int(counts[kmer_index("AAC")]), int(counts.sum())
    (2, 1, 3)
    """
    k = check_k(k, MAX_DENSE_K)
    codes = kmer_codes(seq, k, canonical=canonical, unknown=unknown)
    return np.bincount(codes.astype(np.intp), minlength=4 ** k).astype(np.int64)


def kmer_counts_dict(seq: str | bytes, k: int, *, canonical: bool = False, unknown: str = "error"
                     ) -> dict[str, int]:
    """``{kmer: count}`` of the k-mers present (any k up to 31), sorted by k-mer.

    >>> kmer_counts_dict("ACGTTN", 4)
    {'ACGT': 1, 'CGTT': 1}
    """
    codes, counts = np.unique(kmer_codes(seq, k, canonical=canonical, unknown=unknown),
                              return_counts=True)
    return {kmer_string(int(c), k): int(n) for c, n in zip(codes, counts)}


def kmer_index(kmer: str) -> int:
    """Index of a k-mer (A=0, C=1, G=2, T/U=3, most significant base first).

    >>> kmer_index("AAA"), kmer_index("ACG"), kmer_index("ttt")
    (0, 6, 63)
    """
    codes = KMER_CODE[np.frombuffer(kmer.encode("latin-1", errors="replace"), dtype=np.uint8)]
    if (codes > 3).any() or not 1 <= len(kmer) <= MAX_K:
        raise GenolmError("not a k-mer of A/C/G/T", expected=f"1 to {MAX_K} of A, C, G, T, U",
                          found=repr(kmer))
    index = 0
    for c in codes.tolist():  # at most 31 bases
        index = index * 4 + c
    return index


def kmer_string(index: int, k: int) -> str:
    """The k-mer of an index (inverse of :func:`kmer_index`).

    >>> kmer_string(6, 3)
    'ACG'
    """
    return "".join(ALPHABET[(index >> (2 * (k - 1 - j))) & 3] for j in range(k))


def kmer_coverage(seqs: Sequence[str], k: int = 21, chunk: int = 50_000) -> np.ndarray:
    """Per sequence, the median number of times its canonical k-mers occur in all of ``seqs``: the
    depth of its genome in the sample (a read from a genome at 30x shares its k-mers with ~30
    other reads; sequencing errors make k-mers seen once, which the median passes over).  0 for a
    sequence without a whole k-mer.  Memory: ~12 bytes per k-mer of the input (k-mers are hashed
    to 32 bits; a collision only adds counts).

    >>> kmer_coverage(["ACGTACGTAAAC", "ACGTACGTAAAC", "GTTTACGTACGT", "CCCCGGGGATAT"], k=8).tolist()
    [3.0, 3.0, 3.0, 1.0]
    """
    k = check_k(k, MAX_K)

    def hashed(part):  # (32-bit hash of each whole k-mer, its sequence's index in part)
        joined = b"N".join(check_unknown(s, "n") for s in part)  # no k-mer spans two sequences
        code, ok = window_codes(np.frombuffer(joined, dtype=np.uint8), k, True)
        where = np.flatnonzero(ok)
        starts = np.cumsum([0] + [len(s) + 1 for s in part[:-1]])
        h = ((code[where] * np.uint64(0x9E3779B97F4A7C15)) >> np.uint64(32)).astype(np.uint32)
        return h, np.searchsorted(starts, where, side="right") - 1

    parts = [hashed(seqs[lo: lo + chunk])[0] for lo in range(0, len(seqs), chunk)]
    every = np.concatenate(parts) if parts else np.zeros(0, np.uint32)
    del parts
    every.sort()
    first = np.flatnonzero(np.r_[True, every[1:] != every[:-1]]) if len(every) else np.zeros(0, np.int64)
    distinct = every[first]
    counts = np.diff(np.r_[first, len(every)]).astype(np.uint32)
    del every, first
    out = np.zeros(len(seqs), np.float64)
    for lo in range(0, len(seqs), chunk):
        h, row = hashed(seqs[lo: lo + chunk])
        c = counts[np.searchsorted(distinct, h)]
        order = np.lexsort((c, row))  # by sequence, then count
        c, row = c[order], row[order]
        begin = np.flatnonzero(np.r_[True, row[1:] != row[:-1]]) if len(row) else np.zeros(0, np.int64)
        size = np.diff(np.r_[begin, len(row)])
        lo_mid, hi_mid = begin + (size - 1) // 2, begin + size // 2
        out[lo + row[begin]] = (c[lo_mid].astype(np.float64) + c[hi_mid]) / 2
    return out
