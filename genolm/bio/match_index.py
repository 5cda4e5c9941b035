"""Longest exact match of a sequence anywhere in a corpus, on either strand, through a k-mer index.

Memorisation test for generated sequences ("does this 5 kb window copy 200 bp of the training
data?"): every k-mer of the corpus is stored with its position, sorted.  A query's k-mers are
looked up on both strands; hits on one diagonal (corpus position - query position) at
consecutive query positions are one exact match of ``run + k - 1`` bases.  Matches shorter than
``k`` are not seen (reported as 0).  Records are laid out with a gap of ``k`` positions between
them, so no match spans two records.  Cost: one sort of the corpus k-mers (12 bytes each: a
uint64 code and a uint32 position), then a binary search per query k-mer, never a scan.

>>> idx = MatchIndex.build(["GGGGATTACAGGCTTTTT", "CCCCCCCC"], k=4)
>>> idx.longest_match("CCATTACAGGCCC")       # ATTACAGGC: 9 bases of record 0, from its base 4
Match(length=9, query_start=2, strand=1, record=0, record_start=4)
>>> idx.longest_match("AAGCCTGTAATAA")       # its reverse complement holds ATTACAGGCTT
Match(length=11, query_start=2, strand=-1, record=0, record_start=4)
>>> round(idx.shared_fraction("ATTACAGGAAAAAA"), 3)  # 5 4-mers as they are, AAAA (x3) as TTTT
0.727
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

import numpy as np

from genolm.bio.kmers import MAX_K, check_k, window_codes
from genolm.bio.seq import check_unknown, reverse_complement
from genolm.errors import GenolmError


class Match(NamedTuple):
    """An exact match: ``length`` bases from ``query_start`` of the query (on ``strand``: -1 means
    its reverse complement, and query_start counts on that) equal the corpus record ``record`` from
    ``record_start``.  ``length`` 0: no match of ``k`` bases or more."""

    length: int
    query_start: int
    strand: int
    record: int
    record_start: int


NO_MATCH = Match(0, -1, 0, -1, -1)


class MatchIndex:
    """Sorted k-mer codes of a corpus (``codes``) and their positions (``pos``, on the concatenated
    layout; ``offsets[r]`` is where record ``r`` starts)."""

    def __init__(self, k: int, codes: np.ndarray, pos: np.ndarray, offsets: np.ndarray) -> None:
        self.k, self.codes, self.pos, self.offsets = k, codes, pos, offsets

    @classmethod
    def build(cls, seqs: Iterable[str | bytes], k: int = 32) -> "MatchIndex":
        """Index every k-mer of ``seqs`` made only of A/C/G/T (k <= 32; N and other codes break k-mers)."""
        k = check_k(k, MAX_K)
        codes, pos, offsets, at = [], [], [], 0
        for s in seqs:
            raw = np.frombuffer(check_unknown(s, "n"), dtype=np.uint8)
            c, ok = window_codes(raw, k, False)
            where = np.flatnonzero(ok)
            codes.append(c[where])
            pos.append((where + at).astype(np.int64))
            offsets.append(at)
            at += len(raw) + k
        if at >= 2 ** 32:
            raise GenolmError("the corpus is too large for one match index", found=f"{at:,} positions",
                              expected="under 4.29 billion bases", hint="index the training data in parts")
        codes = np.concatenate(codes) if codes else np.zeros(0, np.uint64)
        pos = np.concatenate(pos).astype(np.uint32) if pos else np.zeros(0, np.uint32)
        order = np.argsort(codes, kind="stable")
        return cls(k, codes[order], pos[order], np.asarray(offsets, np.int64))

    def __len__(self) -> int:
        return len(self.codes)

    def _hits(self, seq: str | bytes) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """For each k-mer of ``seq`` (valid ones only): query offset, first and end row in the index."""
        c, ok = window_codes(np.frombuffer(check_unknown(seq, "n"), dtype=np.uint8), self.k, False)
        q = np.flatnonzero(ok)
        c = c[q]
        return q, np.searchsorted(self.codes, c, "left"), np.searchsorted(self.codes, c, "right")

    def longest_match(self, seq: str | bytes, max_occurrences: int = 1000) -> Match:
        """The longest exact match of ``seq`` (either strand) in the corpus; a k-mer found more than
        ``max_occurrences`` times (a low-complexity repeat) is looked at in its first that many places."""
        best = NO_MATCH
        for strand, s in ((1, seq), (-1, reverse_complement(check_unknown(seq, "n")))):
            q, lo, hi = self._hits(s)
            n = np.minimum(hi - lo, max_occurrences)
            if not n.sum():
                continue
            qpos = np.repeat(q, n)
            rows = np.repeat(lo, n) + (np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n))
            diag = self.pos[rows].astype(np.int64) - qpos
            order = np.lexsort((qpos, diag))
            qpos, diag = qpos[order], diag[order]
            # a run: same diagonal, query offsets one apart
            brk = np.r_[True, (diag[1:] != diag[:-1]) | (qpos[1:] != qpos[:-1] + 1)]
            starts = np.flatnonzero(brk)
            runs = np.diff(np.r_[starts, len(qpos)])
            i = int(np.argmax(runs))
            length = int(runs[i]) + self.k - 1
            if length > best.length:
                q0, d = int(qpos[starts[i]]), int(diag[starts[i]])
                rec = int(np.searchsorted(self.offsets, q0 + d, "right") - 1)
                best = Match(length, q0, strand, rec, q0 + d - int(self.offsets[rec]))
        return best

    def shared_fraction(self, seq: str | bytes) -> float:
        """Fraction of the k-mers of ``seq`` found in the corpus on either strand (0.0 without k-mers)."""
        data = check_unknown(seq, "n")
        q, lo, hi = self._hits(data)
        if not len(q):
            return 0.0
        rq, rlo, rhi = self._hits(reverse_complement(data))
        on_rc = np.zeros(len(data), bool)
        on_rc[rq] = rhi > rlo
        # the k-mer at offset i is the reverse complement of the one at L - k - i on the other strand
        return float(((hi > lo) | on_rc[len(data) - self.k - q]).mean())

