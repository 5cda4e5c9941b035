"""The one likelihood of sequences under a causal model: nats and bases of every sequence, from
which bits per base follow for any tokenizer.

A sequence (token ids) is scored after a prefix (the record separator, or condition tokens) in
windows of the model's length, each window starting again after the prefix; with a complement
table both strands are scored and averaged.  Every target token counts for the bases it stands
for (``tok.advance``: 1 for a letter, 6 for a 6-mer, a BPE piece's length; see
``genolm.train.losses.scored_nats``), so bits per base mean the same with every tokenizer.  A
``weight`` table can leave tokens out (an ambiguous N) by giving them weight 0.

Used by ``genolm env condition`` / ``env explain`` (nats under each condition), ``genolm
viability --model`` and ``genolm evolve`` (bits per base of candidates).
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import torch

from genolm.errors import GenolmError
from genolm.infer.embedding import pad_rows
from genolm.io.progress import progress as progress_bar
from genolm.tokenize import PAD, SEP
from genolm.train.distributed import autocast
from genolm.train.losses import clm_targets, scored_nats


def nats_and_bases(model, tok, rows: Sequence[np.ndarray], jobs: list[tuple[int, Sequence[int]]], *,
                   window: int, batch_size: int, device: str, table: np.ndarray | None = None,
                   weight: np.ndarray | None = None, dtype="auto", progress: bool = False
                   ) -> tuple[np.ndarray, np.ndarray]:
    """(nats, bases) of each job (i, prefix ids): ``rows[i]`` scored after the prefix, in windows of
    ``window`` tokens (prefix included), averaged over both strands when ``table`` (the token
    complement) is given.  ``weight`` (vocabulary,): bases per token, 0 = not scored (default:
    ``tok.advance``).  ``dtype``: the precision (see ``genolm.train.distributed.autocast``)."""
    weight = torch.as_tensor(tok.advance if weight is None else weight, dtype=torch.float64)
    strands = [rows] if table is None else [rows, [table[r][::-1] for r in rows]]
    entries = []  # (length, job, strand rows, start, prefix)
    for j, (i, pre) in enumerate(jobs):
        span = window - len(pre)
        if span < 1:
            raise GenolmError("the window is not longer than the prefix", found=str(window))
        for s in strands:
            for lo in range(0, len(s[i]), span):
                entries.append((min(span, len(s[i]) - lo), j, s[i], lo, pre))
    entries.sort(key=lambda e: -e[0])  # similar lengths batch together: little padding
    nats, bases = np.zeros(len(jobs)), np.zeros(len(jobs))
    bar = progress_bar(len(entries), "score", "window", enabled=progress)
    model.eval()
    with torch.no_grad():
        for lo in range(0, len(entries), batch_size):
            part = entries[lo: lo + batch_size]
            ids, _ = pad_rows([np.r_[pre, r[start: start + n]] for n, _, r, start, pre in part], PAD, "cpu")
            with autocast(device, dtype):
                logits = model(ids.to(device))
            row_nats, row_bases = scored_nats(logits, clm_targets(ids, tok.first_symbol_id).to(device), weight)
            which = [e[1] for e in part]
            np.add.at(nats, which, row_nats.cpu().numpy())
            np.add.at(bases, which, row_bases.cpu().numpy())
            bar.update(len(part))
    bar.close()
    return nats / len(strands), bases / len(strands)


def sequence_nats(model, tok, rows, jobs, *, window: int, batch_size: int, table, device: str,
                  progress: bool = False) -> np.ndarray:
    """Nats of each job (i, prefix ids): :func:`nats_and_bases`' first half."""
    return nats_and_bases(model, tok, rows, jobs, window=window, batch_size=batch_size, device=device,
                          table=table, progress=progress)[0]


def bits_per_base(model, tok, rows: Sequence[np.ndarray], *, device: str, batch_size: int = 32,
                  window: int | None = None, weight: np.ndarray | None = None, dtype="auto",
                  progress: bool = False) -> np.ndarray:
    """Bits per base of each row of token ids (a record, without its separator), scored after
    the record separator in windows of the model's length.

    >>> from genolm.model import build_model, config_for
    >>> from genolm.tokenize import get_tokenizer
    >>> tok = get_tokenizer("kmer:3")
    >>> model = build_model(config_for("debug", vocab_size=tok.vocab_size))
    >>> bits = bits_per_base(model, tok, [tok.encode("ACGTACGTAC")], device="cpu")
    >>> bits.shape, bool(bits[0] > 0)
    ((1,), True)
    """
    window = window or model.config.max_len
    nats, bases = nats_and_bases(model, tok, rows, [(i, (SEP,)) for i in range(len(rows))], window=window,
                                 batch_size=batch_size, device=device, weight=weight, dtype=dtype,
                                 progress=progress)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(bases > 0, nats / np.maximum(bases, 1e-12) / math.log(2), np.nan)


def letters_only(tok, letters: str = "ACGT") -> np.ndarray:
    """A ``weight`` table that scores only these one-letter tokens (a base each): ambiguous
    letters (N, R, Y, ...) are read as context but not scored."""
    weight = np.zeros(tok.vocab_size)
    weight[[tok.token_to_id(c) for c in letters]] = 1.0
    return weight
