"""Building a prepared corpus: one sequence file -> token parts per split -> shards.

Work is done in batches of records (a few MB of bases), not record by record: each batch is split
into train/validation records, and each side is checked, tokenized and given its ``<sep>``
separators in one vectorised call (``Tokenizer.encode_records``; for single-letter tokens one
``bytes.translate`` over the joined records).  That keeps the per-record Python cost small enough
for short reads, where records number in the millions.
"""

from __future__ import annotations

import itertools
import operator
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

# A file's part of at least this many tokens becomes a shard by itself (renamed, not copied);
# smaller parts are packed together so that many small files do not make many small shards.
ADOPT_TOKENS = 1 << 20


@dataclass
class PartRecords:
    """The records one file put into one split: ids and (start, tokens, bases) arrays."""

    ids: list[str] = field(default_factory=list)
    starts: list[np.ndarray] = field(default_factory=list)
    n_tokens: list[np.ndarray] = field(default_factory=list)
    n_bases: list[np.ndarray] = field(default_factory=list)
    base_offsets: list[np.ndarray] = field(default_factory=list)  # where each part starts in its record

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        cat = lambda xs: np.concatenate(xs) if xs else np.zeros(0, np.int64)  # noqa: E731
        return cat(self.starts), cat(self.n_tokens), cat(self.n_bases), cat(self.base_offsets)


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
    turned: int = 0  # --rotate-to: records turned to another start or strand
    reversed: int = 0  # ... of which read on the other strand
    unplaced: int = 0  # ... sharing no k-mer with the reference (left as they were)
    recoded: list = field(default_factory=list)  # --synonymous-copies: bases changed in each copy


def split_of(ids: list[str], salt: bytes, val_fraction: float) -> np.ndarray:
    """(n,) bool: True for records held out for validation — a seeded hash of file and id, so the
    same record always lands on the same side, whatever else is in the corpus."""
    # crc32(salt + id) == crc32(id, crc32(salt)): the salt is hashed once, and map() keeps the
    # per-record work in C (this runs once per read, millions of times).
    hashes = np.fromiter(map(zlib.crc32, map(str.encode, ids), itertools.repeat(zlib.crc32(salt))),
                         np.uint64, len(ids))
    return _mix(hashes) < int(val_fraction * 2**32)


def _mix(h: np.ndarray) -> np.ndarray:
    """MurmurHash3's 32-bit finaliser over uint64 holding 32-bit values.  CRC32 is linear, so ids
    that differ in a few characters (EF380014.1, EF380023.1, …) got correlated top bits, and a
    5% split of 134 such genomes held out none of them one seed in four; the finaliser's
    multiplications spread every input bit over the output."""
    mask = np.uint64(0xFFFFFFFF)
    h = h ^ (h >> np.uint64(16))
    h = (h * np.uint64(0x85EBCA6B)) & mask
    h = h ^ (h >> np.uint64(13))
    h = (h * np.uint64(0xC2B2AE35)) & mask
    return h ^ (h >> np.uint64(16))


def tokenize_file(index: int, path: str | os.PathLike, tok: Tokenizer, tmp: str | os.PathLike,
                  *, seed: int, val_fraction: float, split: str = "record", progress=None,
                  rotate_to: str | None = None, recode: tuple | None = None) -> FileResult:
    """Tokenize every record of ``path`` into ``tmp/{index}.{split}.bin`` part files;
    ``progress(n)`` hears of every n bytes of the file read.

    ``split="record"``: whole records go to train or validation by a seeded hash of their id.
    ``split="region"``: every record is cut in two — its first (1 - val_fraction) of bases train,
    the rest validates (an "unseen region" of every genome).
    ``rotate_to`` (a reference genome's bases): every record is a circular genome, turned to the
    strand and first base where the reference starts (:func:`genolm.bio.circular.in_register`).
    ``recode`` (reference proteins, copies, rate): every training genome is followed by ``copies``
    synonymously recoded copies of it (:mod:`genolm.bio.recode`), seeded by ``seed`` and its id;
    validation genomes get none.
    """
    path = Path(path)
    res = FileResult(index, {s: os.path.join(tmp, f"{index}.{s}.bin") for s in SPLITS},
                     {s: PartRecords() for s in SPLITS})
    res.compression = detect_compression(path)
    res.format = sniff_format(path, res.compression)
    salt = f"{seed}:{path.name}:".encode()
    offsets = dict.fromkeys(SPLITS, 0)
    replaced0 = tok.stats.get("replaced", 0)
    handles = {s: open(res.parts[s], "wb", buffering=0) for s in SPLITS}  # big writes: no extra copy
    try:
        for batch in read_batches(path, progress=progress):
            if rotate_to is not None:
                batch = _rotate(batch, rotate_to, res)
            res.n_records += len(batch.ids)
            res.n_bases += sum(map(len, batch.seqs))
            is_val = split_of(batch.ids, salt, val_fraction) if split == "record" else None
            if recode is not None:
                if tok.unknown == "error":  # a bad letter is reported at its record's number in the file
                    for j, seq in enumerate(batch.seqs):
                        if tok.check(seq) >= 0:
                            raise alphabet_error(path, res.format, batch.first + j, batch.ids[j], seq, tok.alphabet)
                batch, is_val = _add_recoded(batch, is_val, recode, seed, res)
            bases = np.fromiter(map(len, batch.seqs), np.int64, len(batch.seqs))  # (n,)
            parts = (_region_parts(batch, bases, val_fraction) if split == "region"
                     else _record_parts(batch, bases, is_val))
            for name, sub, pick, sub_bases, base_offset in parts:
                stream, n_tok, kept = _encode(tok, sub, pick, batch, path, res.format)
                ids = sub.ids
                if kept is not None:
                    res.skipped += int((~kept).sum())
                    ids = list(itertools.compress(ids, kept))
                    sub_bases, base_offset = sub_bases[kept], base_offset[kept]
                if not ids:
                    continue
                _write_all(handles[name], stream)
                rec = res.records[name]
                rec.ids.extend(ids)
                rec.starts.append(offsets[name] + np.cumsum(n_tok) - n_tok)
                rec.n_tokens.append(n_tok)
                rec.n_bases.append(sub_bases)
                rec.base_offsets.append(base_offset)
                offsets[name] += int(n_tok.sum())
    finally:
        for fh in handles.values():
            fh.close()
    res.replaced = tok.stats.get("replaced", 0) - replaced0
    return res


def _rotate(batch: Batch, ref: str, res: FileResult) -> Batch:
    """The batch's circular genomes turned to ``ref``'s strand and start; ``res`` counts them."""
    from genolm.bio.circular import in_register

    seqs = []
    for seq in batch.seqs:
        turned, start = in_register(seq, ref)
        res.unplaced += start.votes == 0
        res.turned += turned != seq
        res.reversed += start.strand == -1
        seqs.append(turned)
    return batch._replace(seqs=seqs)


def _add_recoded(batch: Batch, is_val: np.ndarray, recode: tuple, seed: int, res: FileResult):
    """The batch with each training genome followed by its recoded copies (``id~synonymous1``, …)."""
    from genolm.bio.recode import recoded_copies

    proteins, copies, rate = recode
    ids, seqs, val = [], [], []
    for rid, seq, v in zip(batch.ids, batch.seqs, is_val.tolist()):
        ids.append(rid), seqs.append(seq), val.append(v)
        if v:
            continue
        for k, (copy, changed) in enumerate(recoded_copies(seq.upper(), proteins, copies, rate,
                                                           [seed, zlib.crc32(rid.encode())]), 1):
            ids.append(f"{rid}~synonymous{k}"), seqs.append(copy), val.append(False)
            res.recoded.append(changed)
    return batch._replace(ids=ids, seqs=seqs), np.array(val, bool)


def _record_parts(batch: Batch, bases: np.ndarray, is_val: np.ndarray):
    """(split, sub-batch, indices in batch or None, bases, base offsets) for whole records."""
    mixed = bool(is_val.any()) and not is_val.all()
    for name, want in (("train", False), ("val", True)):
        if not mixed and bool(is_val[0]) != want:
            continue
        if not mixed:
            yield name, batch, None, bases, np.zeros(len(bases), np.int64)
            continue
        # this split's records (reads: nearly every batch; genomes: rarely)
        pick = np.flatnonzero(is_val == want)
        take = operator.itemgetter(*pick.tolist())
        sub = Batch(batch.first, _as_list(take(batch.ids)), _as_list(take(batch.seqs)))
        yield name, sub, pick, bases[pick], np.zeros(len(pick), np.int64)


def _region_parts(batch: Batch, bases: np.ndarray, val_fraction: float):
    """The head of every record for training, its tail for validation."""
    cut = bases - np.round(bases * val_fraction).astype(np.int64)  # (n,) first validation base
    pick = np.flatnonzero(cut > 0)  # records with a head
    if len(pick) == len(cut):
        yield "train", Batch(batch.first, batch.ids, [s[:c] for s, c in zip(batch.seqs, cut.tolist())]), \
            None, cut, np.zeros(len(cut), np.int64)
    elif len(pick):
        sub = Batch(batch.first, [batch.ids[i] for i in pick], [batch.seqs[i][:cut[i]] for i in pick])
        yield "train", sub, pick, cut[pick], np.zeros(len(pick), np.int64)
    pick = np.flatnonzero(cut < bases)  # records with a tail
    if len(pick):
        sub = Batch(batch.first, [batch.ids[i] for i in pick], [batch.seqs[i][cut[i]:] for i in pick])
        yield "val", sub, pick, bases[pick] - cut[pick], cut[pick]


def _as_list(picked) -> list:
    """itemgetter gives a bare item for one index, a tuple for several."""
    return list(picked) if isinstance(picked, tuple) else [picked]


def _write_all(fh, arr: np.ndarray) -> None:
    """Write an array through an unbuffered file, looping over short writes."""
    view = memoryview(arr).cast("B")
    while view:
        view = view[fh.write(view):]


def _encode(tok: Tokenizer, sub: Batch, pick, batch: Batch, path: Path, fmt: str):
    """``tok.encode_records`` on a (sub-)batch; a character outside the alphabet under
    ``unknown="error"`` becomes the reader's exact error (file, line, record)."""
    try:
        return tok.encode_records(sub.seqs)
    except GenolmError:
        pass
    for j, seq in enumerate(sub.seqs):
        if tok.check(seq) >= 0:
            index = batch.first + (int(pick[j]) if pick is not None else j)
            raise alphabet_error(path, fmt, index, sub.ids[j], seq, tok.alphabet)
    raise GenolmError("tokenizer rejected a batch", file=path)  # pragma: no cover - defensive


def append_parts(res: FileResult, writers: dict[str, ShardWriter], dtype) -> dict[str, dict]:
    """Copy one file's part files into the shards, whole records per shard; return the record
    rows (shard, start in shard, tokens, bases, ids) per split, and delete the parts."""
    rows = {}
    for split in SPLITS:
        rec = res.records[split]
        starts, n_tok, n_bases, base_offsets = rec.arrays()
        if not len(starts):
            os.unlink(res.parts[split])
            continue
        total = int(n_tok.sum())
        w = writers[split]
        if ADOPT_TOKENS <= total <= w.max_tokens:
            # A large part becomes a shard as it is: renamed, not copied.
            shard = np.full(len(starts), w.adopt(res.parts[split], total), np.int32)
            rows[split] = {"shard": shard, "start": starts, "n_tokens": n_tok, "n_bases": n_bases,
                           "base_offset": base_offsets, "record_id": rec.ids}
            continue
        part = np.memmap(res.parts[split], dtype=dtype, mode="r")
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
                       "base_offset": base_offsets, "record_id": rec.ids}
    return rows
