"""Interpolated order-k Markov models over ACGT: the bits-per-base baseline every DNA LM must beat.

The model predicts base ``x`` from the ``k`` bases ``c`` before it, for every ``k`` from 0 to
``max_order``, and blends the orders recursively in the form of interpolated (modified)
Kneser–Ney / hierarchical Pitman–Yor smoothing, with raw counts at every order::

    p_k(x | c) = [ n(c,x) - D_k(n(c,x)) + w_k(c) * p_{k-1}(x | c') ] / (n(c) + alpha_k)
    w_k(c)     = alpha_k + sum over the 4 bases y of D_k(n(c,y))
    p_{-1}     = 1/4                              (c' is c without its oldest base)

``n(c,x)`` counts x after c in training, ``n(c)`` sums it over x; ``D_k(n)`` is one of three
discounts (for n = 1, n = 2, n >= 3; 0 for n = 0) and ``alpha_k > 0`` a concentration, so each
order has four weights, and a context never seen passes the lower order through unchanged.
Large ``alpha_k`` means "trust order k only in contexts seen far more than alpha_k times".  The
4 (K+1) weights are fit by L-BFGS (analytic gradient) to minimise the bits per base of a
*validation* set, which must come from the training side of a split, never from the test set:
:meth:`MarkovModel.fit_weights`.

Counting is exact: every (k+1)-mer of the training set, for k = 0..K, in dense ``4**(k+1)``
arrays indexed like :func:`genolm.bio.kmers.kmer_index` (order 12: 4**13 uint32 = 256 MiB; all
orders together 1.33x that).  ``both_strands=True`` also counts the reverse complement of every
sequence.

Bases other than A/C/G/T (N and the IUPAC ambiguity codes; case is ignored) are never guessed:

* training: a (k+1)-mer that contains one is not counted;
* scoring: a non-ACGT base is not scored (its log2 probability is NaN and it is left out of the
  bits per base); an ACGT base whose context reaches back over one is predicted from the orders
  that fit after it (right after an N: order 0), exactly as at the start of a sequence.

Characters that are not nucleotide codes at all raise :class:`GenolmError` (``unknown="error"``),
or are read as N with ``unknown="n"``.

>>> m = MarkovModel(max_order=2, both_strands=False).fit(["ACGTACGTACGTACGT"])
>>> round(float(2 ** m.log2_probs("ACGTA")[-1]), 3)  # 'A' after 'GT': seen 3 times out of 3
0.707
>>> m.evaluate(["ACGNNTA"]).n_scored
5
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from genolm.bio.kmers import KMER_CODE
from genolm.bio.seq import check_unknown
from genolm.errors import GenolmError
from genolm.io.atomic import atomic_file

ALPHABET = "ACGT"
MAX_ORDER = 13  # top table 4**14 uint32 = 1 GiB; the codes of (K+1)-mers must fit 32 bits
FORMAT = "genolm.markov/1"
_FLUSH = 1 << 25  # k-mer occurrences gathered before one round of bincounts (~300 MB of temporaries)
_CHUNK = 1 << 20  # positions scored at a time (bounds the (n, 4) float64 temporaries to ~100 MB)
_LOG_ALPHA = (-7.0, 25.0)  # bounds of log alpha while fitting (e^25: an order switched off)
_LOGIT = 7.0  # bound of the logit of discount_j / j while fitting


@dataclass(frozen=True)
class MarkovScore:
    """Bits per base over the scored bases; ``n_skipped`` non-ACGT bases were not scored."""

    bits_per_base: float
    n_scored: int
    n_skipped: int


# ----------------------------------------------------------------------------- contexts


def encode(seq: str | bytes, unknown: str = "error") -> np.ndarray:
    """(L,) uint8 codes A=0 C=1 G=2 T/U=3, and 4 for N / an IUPAC code (any case).

    >>> encode("ACgtN").tolist()
    [0, 1, 2, 3, 4]
    """
    return KMER_CODE[np.frombuffer(check_unknown(seq, unknown), dtype=np.uint8)]


def reverse_complement_codes(codes: np.ndarray) -> np.ndarray:
    """The codes of the reverse-complement strand (non-ACGT stays non-ACGT).

    >>> reverse_complement_codes(encode("AACN")).tolist()
    [4, 2, 3, 3]
    """
    return np.where(codes < 4, 3 - codes, 4).astype(np.uint8)[::-1]


def contexts(codes: np.ndarray, order: int) -> tuple[np.ndarray, np.ndarray]:
    """For each position i: the last ``order`` bases before it and how many of them are usable.

    Returns ``ctx`` (L,) uint32, base i-1 in the lowest 2 bits and base i-j in bits 2(j-1)..2j-1
    (so ``ctx & (4**k - 1)`` is the order-k context, numbered like a k-mer), and ``depth`` (L,)
    int8: the number of ACGT bases right before i, capped at ``order`` (orders above it are not
    used at i).

    >>> ctx, depth = contexts(encode("ACGNT"), 2)
    >>> ctx.tolist(), depth.tolist()
    ([0, 0, 1, 6, 8], [0, 1, 2, 2, 0])
    """
    n = len(codes)
    bad = codes > 3
    v = np.where(bad, 0, codes).astype(np.uint32)
    ctx = np.zeros(n, dtype=np.uint32)
    for j in range(1, min(order, n) + 1):  # `order` vector passes, not a loop over bases
        ctx[j:] |= v[: n - j] << np.uint32(2 * (j - 1))
    idx = np.arange(n, dtype=np.int64)
    last_bad = np.maximum.accumulate(np.where(bad, idx, -1))  # (L,) last non-ACGT at or before i
    depth = np.zeros(n, dtype=np.int64)
    depth[1:] = idx[1:] - 1 - last_bad[:-1]
    return ctx, np.minimum(depth, order).astype(np.int8)


# ----------------------------------------------------------------------------- the optimiser


def _lbfgs(fg, x, lo, hi, *, max_iter: int = 100, memory: int = 20, tol: float = 1e-10):
    """Minimise ``fg(x) -> (f, grad)`` over the box ``lo <= x <= hi`` by L-BFGS with backtracking
    (steps projected onto the box).  Returns (x, f, evaluations); f never increases.

    >>> x, f, _ = _lbfgs(lambda x: ((x - 3) @ (x - 3), 2 * (x - 3)), np.zeros(2), -5, 2.5)
    >>> x.round(6).tolist(), round(float(f), 6)
    ([2.5, 2.5], 0.5)
    """
    lo, hi = np.broadcast_to(lo, x.shape), np.broadcast_to(hi, x.shape)

    def projected(x, g):  # the gradient without the parts that push against an active bound
        return np.where(((x <= lo) & (g > 0)) | ((x >= hi) & (g < 0)), 0.0, g)

    f, g = fg(x)
    g = projected(x, g)
    evaluations = 1
    S: list[np.ndarray] = []
    Y: list[np.ndarray] = []
    for _ in range(max_iter):
        if not g.any():
            break
        # Two-loop recursion: d = -H g with H the L-BFGS inverse-Hessian estimate.
        q, coef = g.copy(), []
        for s, y in zip(reversed(S), reversed(Y)):
            rho = 1.0 / (y @ s)
            c = rho * (s @ q)
            q -= c * y
            coef.append((rho, c))
        q *= (S[-1] @ Y[-1]) / (Y[-1] @ Y[-1]) if S else 1.0 / np.abs(g).sum()
        for (s, y), (rho, c) in zip(zip(S, Y), reversed(coef)):
            q += s * (c - rho * (y @ q))
        d = -q
        if g @ d >= 0:  # not a descent direction (the box bent it): restart from the gradient
            S, Y, d = [], [], -g / np.abs(g).sum()
        step = 1.0
        while True:
            x_new = np.clip(x + step * d, lo, hi)
            f_new, g_new = fg(x_new)
            evaluations += 1
            if f_new <= f + 1e-4 * (g @ (x_new - x)) or step < 1e-8:
                break
            step *= 0.5
        if not f_new < f:
            break
        g_new = projected(x_new, g_new)
        s, y = x_new - x, g_new - g
        if s @ y > 1e-20:
            S, Y = (S + [s])[-memory:], (Y + [y])[-memory:]
        done = f - f_new < tol
        x, f, g = x_new, f_new, g_new
        if done:
            break
    return x, f, evaluations


# ----------------------------------------------------------------------------- the model


class MarkovModel:
    """Interpolated Markov model of orders 0..``max_order`` over ACGT (see the module docstring).

    >>> m = MarkovModel(max_order=3).fit(["ACGT" * 50, "GGGATTC" * 30])
    >>> m.fit_weights(["ACGTACGTGGGATTCGGGATTC"])["bits_after"] < 1.0
    True
    >>> 0 < m.bits_per_base(["ACGTACGT"]) < 1
    True
    """

    def __init__(self, max_order: int = 12, both_strands: bool = True) -> None:
        if not (isinstance(max_order, (int, np.integer)) and not isinstance(max_order, bool)
                and 0 <= max_order <= MAX_ORDER):
            raise GenolmError("Markov order out of range", expected=f"an integer from 0 to {MAX_ORDER}",
                              found=repr(max_order),
                              hint=f"order {MAX_ORDER} already needs {4 ** (MAX_ORDER + 1) * 4 >> 30} GiB "
                                   "for its count table")
        self.max_order = int(max_order)
        self.both_strands = bool(both_strands)
        # counts[k]: (4**(k+1),) count of each (k+1)-mer = (order-k context, next base).
        self.counts: list[np.ndarray] = [np.zeros(4 ** (k + 1), np.uint32) for k in range(self.max_order + 1)]
        # Per-order weights: alpha (K+1,) > 0, discount (K+1, 3) for counts 1, 2, >=3.
        self.alpha = np.ones(self.max_order + 1)
        self.discount = np.tile([0.5, 1.0, 1.5], (self.max_order + 1, 1))
        self.n_trained = 0  # (K+1)-mer windows and shorter, i.e. ACGT positions counted
        self._tables: dict[int, tuple[np.ndarray, np.ndarray]] = {}  # see _table

    # ------------------------------------------------------------------ counting

    def fit(self, seqs: Iterable[str | bytes], *, unknown: str = "error") -> "MarkovModel":
        """Count the k-mers of ``seqs`` (forgetting earlier counts; weights are kept)."""
        self.counts = [np.zeros_like(c) for c in self.counts]
        self.n_trained = 0
        self._tables = {}
        return self.update(seqs, unknown=unknown)

    def update(self, seqs: Iterable[str | bytes], *, unknown: str = "error") -> "MarkovModel":
        """Add the k-mers of ``seqs`` to the counts (e.g. the validation set, once weights are fit)."""
        if isinstance(seqs, (str, bytes)):
            raise GenolmError("expected a list of sequences", found="a single string",
                              hint="pass [seq]")
        K = self.max_order
        kmers: list[np.ndarray] = []
        depths: list[np.ndarray] = []
        pending = 0
        for seq in seqs:
            fwd = encode(seq, unknown)
            for codes in (fwd, reverse_complement_codes(fwd)) if self.both_strands else (fwd,):
                ctx, depth = contexts(codes, K)
                ok = codes < 4
                # (K+1)-mer ending at i: context in the high bits, base i in the low 2 bits.
                kmers.append(((ctx << np.uint32(2)) | codes.astype(np.uint32))[ok])
                depths.append(depth[ok])
                pending += int(ok.sum())
            if pending >= _FLUSH:
                self._add(np.concatenate(kmers), np.concatenate(depths))
                kmers, depths, pending = [], [], 0
        if pending:
            self._add(np.concatenate(kmers), np.concatenate(depths))
        return self

    def _add(self, kmers: np.ndarray, depth: np.ndarray) -> None:
        """Add (n,) (K+1)-mer codes whose first ``K - depth`` bases are not real (sequence start/N).

        Count arrays are replaced, never changed in place, so a :meth:`with_max_order` view keeps
        the counts it was made with.
        """
        K = self.max_order
        total = self.n_trained + len(kmers)
        dtype = np.uint64 if total >= 2 ** 32 else self.counts[0].dtype
        # Only the top order is bincounted in full: the count of a (k+1)-mer is the sum of the
        # counts of the (k+2)-mers that extend it to the left, plus its occurrences with no base
        # (or a non-ACGT one) to its left, i.e. depth exactly k.
        delta = np.bincount(kmers[depth == K], minlength=4 ** (K + 1))
        new = [None] * (K + 1)
        new[K] = self.counts[K] + delta.astype(dtype)
        for k in range(K - 1, -1, -1):
            edge = kmers[depth == k] & np.uint32(4 ** (k + 1) - 1)
            delta = delta.reshape(4, -1).sum(0) + np.bincount(edge, minlength=4 ** (k + 1))
            new[k] = self.counts[k] + delta.astype(dtype)
        self.counts, self.n_trained, self._tables = new, total, {}

    def with_max_order(self, order: int) -> "MarkovModel":
        """A model of orders 0..``order`` on the same counts (shared, not copied) and weights."""
        if not 0 <= order <= self.max_order:
            raise GenolmError("order above the model's", expected=f"0 to {self.max_order}", found=str(order))
        m = MarkovModel.__new__(MarkovModel)
        m.max_order, m.both_strands, m.n_trained = int(order), self.both_strands, self.n_trained
        m.counts = self.counts[: order + 1]
        m.alpha = self.alpha[: order + 1].copy()
        m.discount = self.discount[: order + 1].copy()
        m._tables = {k: t for k, t in self._tables.items() if k <= order}
        return m

    # ------------------------------------------------------------------ prediction

    def _table(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Per order-k context, made once per count update: its total count n(c) and a byte
        packing the count class (0, 1, 2, >=3) of each of its 4 next bases.  One extra entry at
        the end (n = 0) stands for "no order-k context here" (too close to a start or an N)."""
        if k not in self._tables:
            rows = self.counts[k].reshape(-1, 4)
            n = np.zeros(len(rows) + 1, dtype=rows.dtype)
            n[:-1] = rows.sum(1)
            cls = np.minimum(rows, 3).astype(np.uint8)
            code = np.zeros(len(rows) + 1, dtype=np.uint8)
            code[:-1] = cls[:, 0] | (cls[:, 1] << 2) | (cls[:, 2] << 4) | (cls[:, 3] << 6)
            self._tables[k] = (n, code)
        return self._tables[k]

    def _predict(self, ctx: np.ndarray, depth: np.ndarray, x: np.ndarray | None = None) -> np.ndarray:
        """p(x) (n,) at positions with these contexts, or (n, 4) distributions when ``x`` is None."""
        p = np.full(len(ctx) if x is not None else (len(ctx), 4), 0.25)
        slots = (np.arange(256)[:, None] >> np.arange(0, 8, 2)) & 3  # (256, 4) classes in a code
        for k in range(self.max_order + 1):
            n_tab, code_tab = self._table(k)
            c = ctx & np.uint32(4 ** k - 1)  # (n,) order-k context
            idx = c if not len(depth) or depth.min() >= k else np.where(depth >= k, c, np.uint32(4 ** k))
            n = n_tab[idx].astype(np.float64)
            dz = np.concatenate([[0.0], self.discount[k]])  # discount of count class 0, 1, 2, >=3
            seen = n > 0
            inv = 1.0 / (n + self.alpha[k])
            g = np.where(seen, (self.alpha[k] + dz[slots].sum(1)[code_tab[idx]]) * inv, 1.0)
            if x is not None:
                r = self.counts[k][(c.astype(np.intp) << 2) | x].astype(np.float64)
                p = np.where(seen, (r - dz[np.minimum(r, 3).astype(np.intp)]) * inv, 0.0) + g * p
            else:
                rows = np.stack([self.counts[k][(c.astype(np.intp) << 2) | j] for j in range(4)], 1)
                rows = rows.astype(np.float64)  # (n, 4); four 1-d gathers beat one gather of rows
                a = (rows - dz[np.minimum(rows, 3).astype(np.intp)]) * inv[:, None]
                p = np.where(seen[:, None], a, 0.0) + g[:, None] * p
        return p

    def sample(self, n: int, length: int, *, seed: int = 0) -> list[str]:
        """``n`` sequences of ``length`` bases drawn from the model, all rows one step at a time
        (the first bases from the low orders, as the model predicts the start of a sequence).

        >>> m = MarkovModel(max_order=2, both_strands=False).fit(["ACGT" * 100])
        >>> s = m.sample(20, 40, seed=1)   # ACGT repeats: C follows A, G follows C ...
        >>> sum(a + b in "ACGTA" for x in s for a, b in zip(x[2:], x[3:])) / (20 * 37) > 0.9
        True
        """
        rng = np.random.default_rng(seed)
        ctx = np.zeros(n, np.uint32)
        depth = np.zeros(n, np.int8)
        mask = np.uint32(4 ** self.max_order - 1)
        out = np.empty((n, length), np.uint8)
        for t in range(length):
            cum = np.cumsum(self._predict(ctx, depth), axis=1)
            x = (rng.random(n)[:, None] * cum[:, -1:] >= cum[:, :3]).sum(1).astype(np.uint32)
            out[:, t] = x
            ctx = ((ctx << np.uint32(2)) | x) & mask
            depth = np.minimum(depth + 1, self.max_order).astype(np.int8)
        letters = np.frombuffer(ALPHABET.encode(), np.uint8)
        return [letters[row].tobytes().decode() for row in out]

    def probs(self, seq: str | bytes, *, unknown: str = "error") -> np.ndarray:
        """(L, 4) probability of A, C, G, T at each position given the bases before it.

        Defined at every position, including non-ACGT ones (the prediction the model would make
        there); each row sums to 1.

        >>> MarkovModel(max_order=1).probs("AC").sum(1).tolist()
        [1.0, 1.0]
        """
        ctx, depth = contexts(encode(seq, unknown), self.max_order)
        out = np.empty((len(ctx), 4))
        for lo in range(0, len(ctx), _CHUNK):
            out[lo: lo + _CHUNK] = self._predict(ctx[lo: lo + _CHUNK], depth[lo: lo + _CHUNK])
        return out

    def log2_probs(self, seq: str | bytes, *, unknown: str = "error") -> np.ndarray:
        """(L,) log2 probability of each base given the bases before it; NaN at non-ACGT bases.

        >>> MarkovModel(max_order=1).log2_probs("ANC").tolist()
        [-2.0, nan, -2.0]
        """
        codes = encode(seq, unknown)
        ctx, depth = contexts(codes, self.max_order)
        out = np.full(len(codes), np.nan)
        for lo in range(0, len(codes), _CHUNK):
            sl = slice(lo, lo + _CHUNK)
            c = codes[sl]
            if (c < 4).all():
                out[sl] = np.log2(self._predict(ctx[sl], depth[sl], c.astype(np.intp)))
            else:
                ok = np.flatnonzero(c < 4)
                out[lo + ok] = np.log2(self._predict(ctx[sl][ok], depth[sl][ok], c[ok].astype(np.intp)))
        return out

    def evaluate(self, seqs: Iterable[str | bytes], *, unknown: str = "error") -> MarkovScore:
        """Bits per base of ``seqs`` (each scored from its own start), with the counts of bases."""
        if isinstance(seqs, (str, bytes)):
            raise GenolmError("expected a list of sequences", found="a single string", hint="pass [seq]")
        total, scored, skipped = 0.0, 0, 0
        for seq in seqs:
            lp = self.log2_probs(seq, unknown=unknown)
            ok = ~np.isnan(lp)
            total -= float(lp[ok].sum())
            scored += int(ok.sum())
            skipped += int((~ok).sum())
        return MarkovScore(total / scored if scored else float("nan"), scored, skipped)

    def bits_per_base(self, seqs: Iterable[str | bytes], *, unknown: str = "error") -> float:
        """Mean -log2 p over the scored (ACGT) bases of ``seqs``."""
        return self.evaluate(seqs, unknown=unknown).bits_per_base

    # ------------------------------------------------------------------ weights

    def _validation_stats(self, seqs, max_bases: int, seed: int, unknown: str) -> tuple[list[dict], int]:
        """Per order k, the counts the weights act on at the validation positions where order k is
        seen (has a context of k clean bases that occurred in training).

        Those sets are nested (a context seen implies its suffix seen), so positions are sorted
        by their highest seen order and order k's positions are the first ``m_k``: the fitting
        loop then works on slices, not gathers.
        """
        ctxs, depths, xs = [], [], []
        for seq in seqs:
            codes = encode(seq, unknown)
            ctx, depth = contexts(codes, self.max_order)
            ok = codes < 4
            ctxs.append(ctx[ok])
            depths.append(depth[ok])
            xs.append(codes[ok].astype(np.intp))
        if not xs:
            return [], 0
        ctx, depth, x = np.concatenate(ctxs), np.concatenate(depths), np.concatenate(xs)
        if len(x) > max_bases:  # positions are independent given their contexts: subsample
            keep = np.random.default_rng(seed).choice(len(x), max_bases, replace=False)
            ctx, depth, x = ctx[keep], depth[keep], x[keep]
        top = np.full(len(x), -1, dtype=np.int8)  # highest order seen at each position
        for k in range(self.max_order + 1):
            live = np.flatnonzero(top == k - 1)
            live = live[depth[live] >= k]
            top[live[self._table(k)[0][ctx[live] & np.uint32(4 ** k - 1)] > 0]] = k
        order = np.argsort(-top, kind="stable")
        ctx, x, top = ctx[order], x[order], top[order]
        # (256,) class code of a context's 4 next bases -> N1 + 5 N2 + 25 N3, where Nj is how
        # many of them have count j (j = 3: three or more); (125, 3) that index -> (N1, N2, N3).
        slots = (np.arange(256)[:, None] >> np.arange(0, 8, 2)) & 3
        nj = np.stack([(slots == j).sum(1) for j in (1, 2, 3)], 1)
        to_nj = (nj @ [1, 5, 25]).astype(np.intp)
        stats = []
        for k in range(self.max_order + 1):
            m = int(np.count_nonzero(top >= k))
            n_tab, code_tab = self._table(k)
            c = ctx[:m] & np.uint32(4 ** k - 1)
            r = self.counts[k][(c.astype(np.intp) << 2) | x[:m]].astype(np.float64)
            stats.append(dict(m=m, n=n_tab[c].astype(np.float64), r=r, cls=np.minimum(r, 3).astype(np.intp),
                              nj=to_nj[code_tab[c]]))
        return stats, len(x)

    @staticmethod
    def _loss_grad(alpha, disc, stats, n_pos):
        """Mean -log2 p of the validation bases, and its gradient w.r.t. alpha (K+1,) and disc (K+1, 3).

        Forward: p_k = a_k + g_k p_{k-1} on the first m_k positions (where order k is seen);
        backward: the same recursion in reverse (d p_K / d p_{k-1} = product of the g above k).
        Only elementwise operations, gathers from tiny tables and bincounts: BLAS calls (even
        dot products) can be 10x slower when its threads compete for busy cores.
        """
        # (125, 3) the (N1, N2, N3) of each index of stats["nj"]
        nj_of = np.array([(i % 5, i // 5 % 5, i // 25) for i in range(125)], dtype=np.float64)
        p = np.full(n_pos, 0.25)
        saved = []
        for k, st in enumerate(stats):
            m = st["m"]
            dz = np.concatenate([[0.0], disc[k]])  # discount of count class 0, 1, 2, >=3
            inv = 1.0 / (st["n"] + alpha[k])
            a = (st["r"] - dz[st["cls"]]) * inv
            g = (alpha[k] + (nj_of * disc[k]).sum(1)[st["nj"]]) * inv
            prev = p[:m].copy()
            p[:m] = a + g * prev
            saved.append((inv, a, g, prev))
        loss = -np.log2(p).mean()
        ga, gd = np.zeros_like(alpha), np.zeros_like(disc)
        up = -1.0 / (p * (np.log(2) * n_pos))  # (n_pos,) d loss / d p_K
        for k in range(len(stats) - 1, -1, -1):
            st, m = stats[k], stats[k]["m"]
            inv, a, g, prev = saved[k]
            ui = up[:m] * inv
            ga[k] = np.sum(ui * ((1 - g) * prev - a))
            by_nj = np.bincount(st["nj"], weights=ui * prev, minlength=125)
            gd[k] = (by_nj[:, None] * nj_of).sum(0) - np.bincount(st["cls"], weights=ui, minlength=4)[1:]
            up[:m] *= g
        return loss, ga, gd

    def fit_weights(self, val_seqs: Iterable[str | bytes], *, max_bases: int = 1_000_000,
                    max_iter: int = 100, seed: int = 0, unknown: str = "error") -> dict:
        """Fit ``alpha`` and ``discount`` to minimise bits per base on ``val_seqs`` (L-BFGS).

        ``val_seqs`` must not be in the training counts (otherwise every count looks reliable and
        the weights learn to trust high orders blindly), must not be the test set, and should
        resemble it (see :func:`genolm.bio.splits.drop_near_copies`, and :func:`fit_weights_cv`
        for several folds).  At most ``max_bases`` validation positions are used (a seeded random
        sample).  Starts from the current weights; returns the validation bits per base before
        and after, the number of validation bases and of loss evaluations.
        """
        fit = fit_weights_cv([(self, val_seqs)], max_bases=max_bases, max_iter=max_iter, seed=seed,
                             unknown=unknown)
        self.alpha, self.discount = fit.pop("alpha"), fit.pop("discount")
        return fit

    # ------------------------------------------------------------------ save / load

    def save(self, path: str | os.PathLike) -> None:
        """Write counts and weights to one ``.npz`` at exactly ``path`` (compressed, no pickled
        objects, written atomically)."""
        arrays = {f"counts_{k}": c for k, c in enumerate(self.counts)}
        with atomic_file(path) as tmp, open(tmp, "wb") as fh:
            np.savez_compressed(fh, format=np.array(FORMAT), max_order=np.array(self.max_order),
                                both_strands=np.array(self.both_strands), n_trained=np.array(self.n_trained),
                                alpha=self.alpha, discount=self.discount, **arrays)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "MarkovModel":
        """Read a model written by :meth:`save`."""
        path = Path(path)
        try:
            z = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as err:
            raise GenolmError("not a readable .npz file", file=path, found=str(err),
                              hint="pass a file written by MarkovModel.save") from None
        with z:
            if "format" not in z.files or str(z["format"]) != FORMAT:
                raise GenolmError("not a genolm Markov model", file=path, expected=FORMAT,
                                  found=str(z["format"]) if "format" in z.files else "no format tag")
            try:
                m = cls(int(z["max_order"]), bool(z["both_strands"]))
                m.n_trained = int(z["n_trained"])
                m.alpha, m.discount = z["alpha"].astype(np.float64), z["discount"].astype(np.float64)
                m.counts = [z[f"counts_{k}"] for k in range(m.max_order + 1)]
            except KeyError as err:
                raise GenolmError("Markov model file is missing an array", file=path, found=str(err),
                                  hint="was it written by MarkovModel.save?") from None
        K1 = m.max_order + 1
        shapes = [c.shape for c in m.counts] + [m.alpha.shape, m.discount.shape]
        if shapes != [(4 ** (k + 1),) for k in range(K1)] + [(K1,), (K1, 3)]:
            raise GenolmError("Markov model arrays have the wrong shapes", file=path,
                              expected=f"counts of 4**(k+1) for k = 0..{K1 - 1}, weights for {K1} orders",
                              found=str(shapes), hint="was it written by MarkovModel.save?")
        return m

    def __repr__(self) -> str:
        return (f"MarkovModel(max_order={self.max_order}, both_strands={self.both_strands}, "
                f"n_trained={self.n_trained:,})")


# ----------------------------------------------------------------------------- cross-validated weights


def fit_weights_cv(folds: Sequence[tuple[MarkovModel, Iterable[str | bytes]]], *, max_bases: int = 1_000_000,
                   max_iter: int = 100, seed: int = 0, unknown: str = "error") -> dict:
    """One set of weights for several (model, validation set) folds: minimise the bits per base
    of all validation bases together, each scored by its own fold's counts.

    For an unseen-species test, the folds can leave out one training species at a time (counts
    from the others, validation on it), which is what the test asks of the model.  Every model
    must have the same ``max_order``; the first one's weights are the starting point.  At most
    ``max_bases`` positions per fold (seeded sample).  Returns ``alpha``, ``discount``, the bits
    per base before and after, the number of validation bases and of loss evaluations; the
    models are left unchanged.
    """
    folds = list(folds)
    if not folds:
        raise GenolmError("no folds to fit the weights on", expected="(model, validation sequences) pairs",
                          found="none")
    K1 = folds[0][0].max_order + 1
    if any(m.max_order + 1 != K1 for m, _ in folds):
        raise GenolmError("folds of different orders", expected=f"max_order {K1 - 1} in every fold",
                          found=str([m.max_order for m, _ in folds]))
    data = [m._validation_stats(val, max_bases, seed, unknown) for m, val in folds]
    total = sum(n for _, n in data)
    if total == 0:
        raise GenolmError("no validation bases to fit the weights on", expected="ACGT bases",
                          found="none", hint="pass the validation sequences")
    scale = np.arange(1, 4, dtype=np.float64)  # discount j lives in (0, j)
    # theta = (log alpha (K1,), logit(discount / j) (K1 * 3,)), kept in a box so that no
    # probability reaches 0: alpha in [e^-7, e^25], each discount off the ends of its range.
    lo = np.concatenate([np.full(K1, _LOG_ALPHA[0]), np.full(3 * K1, -_LOGIT)])
    hi = np.concatenate([np.full(K1, _LOG_ALPHA[1]), np.full(3 * K1, _LOGIT)])

    def unpack(theta):
        return np.exp(theta[:K1]), scale / (1 + np.exp(-theta[K1:].reshape(K1, 3)))

    def loss_grad(theta):
        alpha, disc = unpack(theta)
        loss, ga, gd = 0.0, np.zeros(K1), np.zeros((K1, 3))
        for stats, n in data:
            if n:  # each fold's mean, weighted by its share of the bases
                part = MarkovModel._loss_grad(alpha, disc, stats, n)
                loss, ga, gd = loss + part[0] * n / total, ga + part[1] * n / total, gd + part[2] * n / total
        sig = disc / scale
        return loss, np.concatenate([ga * alpha, (gd * scale * sig * (1 - sig)).ravel()])

    start = folds[0][0]
    d0 = np.clip(start.discount / scale, 1e-3, 1 - 1e-3)
    theta0 = np.concatenate([np.log(np.maximum(start.alpha, 1e-300)), np.log(d0 / (1 - d0)).ravel()])
    theta0 = np.clip(theta0, lo, hi)
    before = loss_grad(theta0)[0]
    theta, after, evaluations = _lbfgs(loss_grad, theta0, lo, hi, max_iter=max_iter)
    alpha, discount = unpack(theta)
    return {"alpha": alpha, "discount": discount, "bits_before": float(before), "bits_after": float(after),
            "n_bases": total, "evaluations": evaluations}
