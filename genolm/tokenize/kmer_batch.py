"""Batched k-mer encoding: many records -> one ``<sep>``-separated stream in a fixed number of
numpy passes, with no Python loop over records or positions (only over the K letters of a k-mer).

This is :meth:`KmerTokenizer.encode_records`. It gives exactly the stream, counts and ``stats`` of
the generic record-by-record path (:meth:`Tokenizer.encode_records`), to which it leaves any
batch holding a character outside the alphabet (it returns None), so that the unknown-symbol
policy stays in one place.

Input layout. The R records are joined with no separator into one byte buffer ``buf`` (M bytes);
record r is ``buf[o[r] : o[r] + L[r]]``. The tokenizer splits each record into::

    windows  n[r] = (L - K) // S + 1 of them (0 when L < K), at o[r], o[r] + S, …, K bytes each
    tail     the L - cover letters after the windows, cover = (n - 1) * S + K (0 when n = 0)
    <sep>    one

Window codes. A window's k-mer code has its first base in the most significant bits. Windows are
numbered globally (W in all; record r's are w0[r] .. w0[r] + n[r] - 1):

* non-overlapping (S == K): ``pos`` (W,) holds the window starts (one ``np.repeat`` of a
  per-record offset) and the code is K gathers ``code[pos + j]`` shifted in (K·W element reads);
* overlapping (S < K): windows cover each byte K/S times, so the code of *every* byte position is
  rolled over the buffer once (2K contiguous passes) and the windows' codes are picked out of it:
  by ``pos`` for S > 1, by a (M,) bool mask of window starts for S == 1 (no (W,) int64 arrays).

A window is "bad" when it holds a non-ACGT letter: an or rolled over a 0/1 uint8 byte map (cheap
at any stride), picked out like the codes, and skipped when the buffer is all ACGT. A bad window
becomes ``<nkmer>`` when overlapping, K single-letter tokens (a split block) when not.

Output layout. Record r gives ``count[r] = n + (K - 1) * splits[r] + tail + 1`` tokens: its
window part (n + (K - 1) * splits tokens) then its tail singles and ``<sep>``. Both parts are
placed with (T,) bool masks made by ``np.repeat`` of a True/False pattern with per-record run
lengths, so the stream is two masked assignments: ``stream[is_win] = window tokens`` and
``stream[~is_win] = tail letters and <sep>s``.
"""

from __future__ import annotations

import numpy as np

from genolm.tokenize.vocab import SEP


def _runs(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """Bool mask ``[True] * first[0] + [False] * second[0] + [True] * first[1] + …`` (C speed)."""
    return np.repeat(np.tile(np.array([True, False]), len(first)), np.stack([first, second], 1).ravel())


def _gather(arr: np.ndarray, pos: np.ndarray, k: int, out: np.ndarray, shift: int) -> np.ndarray:
    """(W,) ``arr[pos]`` combined over the K letters of each window: shift-or (codes) or or (flags)."""
    for j in range(k):  # arr[j:] is a view: arr[j:][pos] == arr[pos + j] without adding to pos
        if shift:
            out <<= shift
        out |= arr[j:].take(pos)
    return out


def _roll(arr: np.ndarray, k: int, out: np.ndarray, shift: int) -> np.ndarray:
    """(M - K + 1,) the same for the window at every byte position: 2K contiguous passes."""
    m = out.size
    for j in range(k):
        if shift:
            out <<= shift
        out |= arr[j: j + m]
    return out


def encode_records(tok, seqs: list[str]) -> tuple[np.ndarray, np.ndarray, None] | None:
    """``(stream, tokens per record incl. <sep>, None)`` for a KmerTokenizer ``tok``, or None when
    some record is not ASCII text or holds a letter outside the alphabet (use the generic path)."""
    try:
        data = "".join(seqs).encode("ascii")
    except (TypeError, UnicodeEncodeError):  # bytes records, or characters no alphabet has
        return None
    rest = data.translate(None, tok._acgt)  # the non-ACGT letters: usually none (one C pass)
    if rest and rest.translate(None, tok.alphabet.allowed):
        return None  # an unknown character somewhere: the policy applies record by record
    k, s, R = tok.k, tok.stride, len(seqs)
    buf = np.frombuffer(data, np.uint8)                     # (M,)
    L = np.fromiter(map(len, seqs), np.int64, R)            # (R,) record lengths (ASCII: bytes)
    o = np.cumsum(L) - L                                    # (R,) record starts in buf
    n = np.where(L >= k, (L - k) // s + 1, 0)               # (R,) windows per record
    cover = np.where(n > 0, (n - 1) * s + k, 0)             # (R,) letters under some window
    tail = L - cover                                        # (R,) tail letters
    w0 = np.cumsum(n) - n                                   # (R,) global index of the first window
    W = int(n.sum())

    # ---- window codes and bad windows: ids (W,), bad (W,) bool or None ----
    code = np.frombuffer(data.translate(tok._code_table), np.uint8)  # (M,) A C G T -> 0 1 2 3
    flag = np.frombuffer(data.translate(tok._bad_table), np.uint8) if rest else None  # 1 = not ACGT
    m = max(buf.size - k + 1, 0)                            # byte positions a window can start at
    if s == 1 and tok.overlapping:  # window starts as a bool mask: the first n bytes of each record
        pos, sel = None, _runs(n, L - n)[:m]                # (m,)
    else:
        pos, sel = np.arange(W) * s + np.repeat(o - w0 * s, n), None  # (W,) o[r] + (w - w0[r]) * S
    pick = (lambda a: a.take(pos)) if sel is None else (lambda a: a[sel])  # (m,) -> (W,)
    if not W:
        kcode = np.zeros(0, tok._code_dtype)
    elif tok.overlapping:
        kcode = pick(_roll(code, k, np.zeros(m, tok._code_dtype), 2))
    else:
        kcode = _gather(code, pos, k, np.zeros(W, tok._code_dtype), 2)
    # uint8 or-ing is cheap enough to roll over every position even for non-overlapping windows.
    bad = pick(_roll(flag, k, np.zeros(m, np.uint8), 0)).view(bool) if rest else None  # (W,)
    ids = tok._code_to_id.take(kcode)                       # (W,)

    # ---- window part of the output: wtok (W + (K - 1) * splits,) ----
    splits = np.zeros(R, np.int64)                          # (R,) split blocks per record
    wtok = ids
    if bad is not None and tok.overlapping:
        ids[bad] = tok.nkmer_id
        tok.stats["nkmer"] += int(bad.sum())
    elif bad is not None and bad.any():                     # split blocks: K single tokens each
        split = np.flatnonzero(bad)                         # (b,) their window indices
        tok.stats["split"] += split.size
        before = np.concatenate([[0], np.cumsum(bad)])      # (W + 1,) bad windows before window w
        splits = before[w0 + n] - before[w0]
        width = np.where(bad, k, 1)                         # (W,) output slots per window
        wtok = np.repeat(ids, width)
        letters = np.arange(k)                              # (K,)
        start = pos[split, None]                            # (b, 1) their first bytes
        slot = (np.cumsum(width) - width)[split, None]      # (b, 1)
        wtok[(slot + letters).ravel()] = tok._single.take(buf[(start + letters).ravel()])

    # ---- assemble: per record [window part][tail singles, <sep>] ----
    count = n + (k - 1) * splits + tail + 1                 # (R,) tokens per record, with <sep>
    stream = np.empty(int(count.sum()), tok.dtype)          # (T,)
    is_win = _runs(count - tail - 1, tail + 1)              # (T,) bool: slot of the window part
    stream[is_win] = wtok
    if int(tail.sum()):
        after = np.full(int(tail.sum()) + R, SEP, tok.dtype)  # (Tt + R,) tail letters, <sep>, …
        after[_runs(tail, np.ones(R, np.int64))] = tok._single.take(buf[~_runs(cover, tail)])
        stream[~is_win] = after
    else:
        stream[~is_win] = SEP
    return stream, count, None
