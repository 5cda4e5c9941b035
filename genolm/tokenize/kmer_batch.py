"""Batched k-mer encoding: many records -> one ``<sep>``-separated stream in a fixed number of
numpy passes, with no Python loop over records or positions (only over the K letters of a k-mer).

This is :meth:`KmerTokenizer.encode_records`; it gives exactly the stream of the generic
record-by-record path (:meth:`Tokenizer.encode_records`), which it leaves to the caller whenever a
record holds a character outside the alphabet (returning None), so that the unknown-symbol policy
stays in one place.

Layout. The R records are joined, with no separator, into one byte buffer ``buf`` (M bytes);
record r is ``buf[o[r] : o[r] + L[r]]``. Per record the tokenizer sees::

    windows  n[r] = (L - K) // S + 1 of them (0 when L < K), at o[r], o[r] + S, …, K bytes each
    tail     the bytes from c[r] = o[r] + (n - 1) * S + K (o[r] when n = 0) to the record end
    <sep>    one

Windows are numbered globally (W in all; record r's are w0[r] .. w0[r] + n[r] - 1) and ``pos``
(W,) holds their first bytes, made by one ``np.repeat`` of a per-record offset. A window's k-mer
code is K gathers ``code[pos + j]`` shifted in; it is "bad" when one of its letters is not ACGT
(K gathers of a 0/1 byte map; skipped when the whole buffer is ACGT). Bad windows become
``<nkmer>`` when overlapping, and K single-letter tokens when not (a split block).

Output. Record r produces ``count[r] = n + (K - 1) * bad[r] + tail + 1`` tokens (the K - 1 term
for split blocks only) and starts at ``out0[r]``, the exclusive cumulative sum of the counts. The
stream is pre-filled with ``<sep>``; window tokens are scattered to ``out0 + their index in the
record + (K - 1) * split blocks before them in the record``, the tail singles right after the
record's windows, and the record's last slot keeps its ``<sep>``.
"""

from __future__ import annotations

import numpy as np

from genolm.tokenize.vocab import SEP


def _gather_or(arr: np.ndarray, pos: np.ndarray, k: int, out: np.ndarray, shift: int) -> np.ndarray:
    """out = arr[pos] (shifted) | arr[pos + 1] (shifted) | … over the K letters of each window."""
    for j in range(k):  # arr[j:] is a view, so arr[j:][pos] == arr[pos + j] with no index add
        if shift:
            out <<= shift
        out |= arr[j:].take(pos)
    return out


def encode_records(tok, seqs: list[str]) -> tuple[np.ndarray, np.ndarray, None] | None:
    """``(stream, tokens per record incl. <sep>, None)`` for a KmerTokenizer ``tok``, or None when
    some record is not ASCII text or holds a letter outside the alphabet (use the generic path)."""
    try:
        data = "".join(seqs).encode("ascii")
    except (TypeError, UnicodeEncodeError):  # bytes records, or letters no alphabet has
        return None
    rest = data.translate(None, tok._acgt)  # the non-ACGT letters: usually none, one C pass
    if rest and rest.translate(None, tok.alphabet.allowed):
        return None  # an unknown character somewhere: the policy applies record by record
    k, s = tok.k, tok.stride
    L = np.fromiter(map(len, seqs), np.int64, len(seqs))  # (R,) record lengths (ASCII: bytes)
    o = np.cumsum(L) - L                                    # (R,) record starts in buf
    n = np.where(L >= k, (L - k) // s + 1, 0)               # (R,) windows per record
    w0 = np.cumsum(n) - n                                   # (R,) global index of the first window
    W = int(n.sum())
    pos = np.arange(W) * s + np.repeat(o - w0 * s, n)       # (W,) window starts: o[r] + (w - w0[r]) * S
    code = np.frombuffer(data.translate(tok._code_table), np.uint8)  # (M,) A C G T -> 0 1 2 3
    ids = tok._code_to_id[_gather_or(code, pos, k, np.zeros(W, tok._code_dtype), 2)]  # (W,)
    c = np.where(n > 0, o + (n - 1) * s + k, o)             # (R,) first tail byte
    tail = o + L - c                                        # (R,) tail letters
    split = None                                            # non-overlapping bad blocks, or None
    extra = np.zeros(len(seqs), np.int64)                   # (R,) K - 1 slots per split block
    if rest:
        flag = np.frombuffer(data.translate(tok._bad_table), np.uint8)  # (M,) 1 = not ACGT
        bad = _gather_or(flag, pos, k, np.zeros(W, np.uint8), 0).view(bool)  # (W,)
        if tok.overlapping:
            ids[bad] = tok.nkmer_id
            tok.stats["nkmer"] += int(bad.sum())
        else:
            before = np.concatenate([[0], np.cumsum(bad)])  # (W + 1,) bad blocks before window w
            extra = (k - 1) * (before[w0 + n] - before[w0])
            split = np.flatnonzero(bad)                     # (b,) split blocks
            tok.stats["split"] += split.size
    count = n + extra + tail + 1                            # (R,) tokens per record, with <sep>
    out0 = np.cumsum(count) - count                         # (R,) first output slot per record
    stream = np.full(int(count.sum()), SEP, tok.dtype)      # (T,)
    wout = np.arange(W) + np.repeat(out0 - w0, n)           # (W,) output slot of each window
    if split is None:
        stream[wout] = ids
    else:  # shift each block by K - 1 per split block before it in its record
        wout += (k - 1) * (before[:W] - np.repeat(before[w0], n))
        keep = np.ones(W, bool)
        keep[split] = False
        stream[wout[keep]] = ids[keep]
        letters = np.arange(k)                              # (K,)
        src = (pos[split, None] + letters).ravel()          # (b*K,) bytes of the split blocks
        stream[(wout[split, None] + letters).ravel()] = tok._single[np.frombuffer(data, np.uint8)[src]]
    n_tail = int(tail.sum())
    if n_tail:  # tail letter t of record r: byte c[r] + t -> slot out0[r] + windows' slots + t
        t0 = np.cumsum(tail) - tail                         # (R,) tail letters before record r
        t = np.arange(n_tail)                               # (Tt,)
        src = t + np.repeat(c - t0, tail)
        stream[t + np.repeat(out0 + n + extra - t0, tail)] = tok._single[np.frombuffer(data, np.uint8)[src]]
    return stream, count, None
