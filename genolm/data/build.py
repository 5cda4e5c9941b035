"""Building a prepared corpus: one sequence file -> token parts per split -> shards.

Work is done in batches of records (a few MB of bases), not record by record: a batch is checked
and tokenized in one vectorised pass, separators are inserted with one ``np.insert``, and the
train/validation split is applied with one boolean mask.  That keeps the per-record Python cost
small enough for short reads, where records number in the millions.
"""

from __future__ import annotations

import os
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from genolm.data.shards import SPLITS, ShardWriter
from genolm.errors import GenolmError
from genolm.io.compression import detect_compression
from genolm.io.seqio import Batch, alphabet_error, read_batches, sniff_format
from genolm.tokenize import Tokenizer


@dataclass
class PartRecords:
    """The records one file put into one split: ids and (start, tokens, bases) arrays."""

    ids: list[str] = field(default_factory=list)
    starts: list[np.ndarray] = field(default_factory=list)
    n_tokens: list[np.ndarray] = field(default_factory=list)
    n_bases: list[np.ndarray] = field(default_factory=list)

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        cat = lambda xs: np.concatenate(xs) if xs else np.zeros(0, np.int64)  # noqa: E731
        return cat(self.starts), cat(self.n_tokens), cat(self.n_bases)


@dataclass
class FileResult:
    """What tokenizing one input file produced (returned from worker processes)."""

    index: int
    parts: dict[str, str]  # split -> part file of tokens (records end to end, each + <sep>)
    records: dict[str, PartRecords]
    n_records: int = 0
    n_bases: int = 0
    skipped: int = 0
    replaced: int = 0
    format: str = ""
    compression: str | None = None


def split_of(ids: list[str], salt: bytes, val_fraction: float) -> np.ndarray:
    """(n,) bool: True for records held out for validation — a seeded hash of file and id, so the
    same record always lands on the same side, whatever else is in the corpus."""
    threshold = int(val_fraction * 2**32)
    return np.fromiter((zlib.crc32(salt + i.encode()) < threshold for i in ids), bool, len(ids))


def tokenize_file(index: int, path: str | os.PathLike, tok: Tokenizer, tmp: str | os.PathLike,
                  *, seed: int, val_fraction: float) -> FileResult:
    """Tokenize every record of ``path`` into ``tmp/{index}.{split}.bin`` part files."""
    path = Path(path)
    sep = tok.token_to_id("<sep>")
    res = FileResult(index, {s: os.path.join(tmp, f"{index}.{s}.bin") for s in SPLITS},
                     {s: PartRecords() for s in SPLITS})
    res.compression = detect_compression(path)
    res.format = sniff_format(path, res.compression)
    salt = f"{seed}:{path.name}:".encode()
    offsets = dict.fromkeys(SPLITS, 0)
    replaced0 = tok.stats.get("replaced", 0) if hasattr(tok, "stats") else 0
    handles = {s: open(res.parts[s], "wb", buffering=1 << 22) for s in SPLITS}
    try:
        for batch in read_batches(path):
            res.n_records += len(batch.ids)
            tokens, tok_lens, bases, keep = _encode(tok, batch, path, res.format)
            ids = batch.ids if keep is None else [i for i, k in zip(batch.ids, keep) if k]
            res.skipped += len(batch.ids) - len(ids)
            res.n_bases += sum(map(len, batch.seqs))
            if not ids:
                continue
            # <sep> after every record: (sum(tok_lens) + n,) tokens.
            stream = np.insert(tokens, np.cumsum(tok_lens), np.asarray(sep, tokens.dtype))
            per_rec = tok_lens + 1
            is_val = split_of(ids, salt, val_fraction)
            for split, sel in (("train", ~is_val), ("val", is_val)):
                if not sel.any():
                    continue
                part = stream if sel.all() else stream[np.repeat(sel, per_rec)]
                handles[split].write(part.tobytes())
                n_tok = per_rec[sel]
                rec = res.records[split]
                rec.ids.extend(ids if sel.all() else [i for i, s in zip(ids, sel) if s])
                rec.starts.append(offsets[split] + np.cumsum(n_tok) - n_tok)
                rec.n_tokens.append(n_tok)
                rec.n_bases.append(bases[sel])
                offsets[split] += int(n_tok.sum())
    finally:
        for fh in handles.values():
            fh.close()
    if hasattr(tok, "stats"):
        res.replaced = tok.stats.get("replaced", 0) - replaced0
    return res


def _encode(tok: Tokenizer, batch: Batch, path: Path, fmt: str):
    """(tokens, tokens per record, bases per record, kept mask or None) for one batch."""
    bases = np.fromiter(map(len, batch.seqs), np.int64, len(batch.seqs))
    try:
        if getattr(tok, "positionwise", False):
            # One token per base: encoding the concatenation = concatenating the encodings.
            try:
                tokens = tok.encode("".join(batch.seqs).encode("ascii"))
            except UnicodeEncodeError:
                tokens = None if tok.unknown == "skip" else _raise_bad(tok, batch, path, fmt)
            if tokens is not None:
                return tokens, bases, bases, None
        encoded = tok.encode_batch(batch.seqs)
    except GenolmError:
        _raise_bad(tok, batch, path, fmt)
    keep = np.array([e is not None for e in encoded], bool)
    kept = [e for e in encoded if e is not None]
    tok_lens = np.fromiter(map(len, kept), np.int64, len(kept))
    tokens = np.concatenate(kept) if kept else np.zeros(0, tok.dtype)
    return tokens, tok_lens, bases[keep], (None if keep.all() else keep)


def _raise_bad(tok: Tokenizer, batch: Batch, path: Path, fmt: str):
    """Find the record with a character outside the alphabet and raise its exact error."""
    for i, seq in enumerate(batch.seqs):
        try:
            bad = tok.alphabet.first_invalid(seq.encode("ascii"))
        except UnicodeEncodeError:
            bad = 0
        if bad >= 0:
            raise alphabet_error(path, fmt, batch.first + i, batch.ids[i], seq, tok.alphabet)
    raise GenolmError("tokenizer rejected a batch", file=path)  # pragma: no cover - defensive


def append_parts(res: FileResult, writers: dict[str, ShardWriter], dtype) -> dict[str, dict]:
    """Copy one file's part files into the shards, whole records per shard; return the record
    rows (shard, start in shard, tokens, bases, ids) per split, and delete the parts."""
    rows = {}
    for split in SPLITS:
        rec = res.records[split]
        starts, n_tok, n_bases = rec.arrays()
        if not len(starts):
            os.unlink(res.parts[split])
            continue
        part = np.memmap(res.parts[split], dtype=dtype, mode="r")
        w = writers[split]
        ends = starts + n_tok
        shard = np.zeros(len(starts), np.int32)
        new_start = np.zeros(len(starts), np.int64)
        i = 0
        while i < len(starts):
            room = w.room() if n_tok[i] <= w.room() else w.max_tokens  # else add() opens a new shard
            # Whole records i..j-1 that fit in the room (at least one: a huge record gets its own).
            j = max(i + 1, int(np.searchsorted(ends, starts[i] + room, side="right")))
            s, at = w.add(part[starts[i]: ends[j - 1]])
            shard[i:j] = s
            new_start[i:j] = at + starts[i:j] - starts[i]
            i = j
        del part
        os.unlink(res.parts[split])
        rows[split] = {"shard": shard, "start": new_start, "n_tokens": n_tok, "n_bases": n_bases,
                       "record_id": rec.ids}
    return rows
