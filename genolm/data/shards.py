"""Token shards on disk: what ``genolm prepare`` writes and training reads.

Layout of a prepared corpus directory::

    manifest.json        tokenizer, inputs, samples, splits, counts, options (see prepare)
    tokenizer.json       the tokenizer, loadable with genolm.tokenize.load_tokenizer
    train/000000.bin     raw token ids (dtype in the manifest), records end to end, each
    train/000001.bin     followed by <sep>; memory-mapped by readers, never loaded whole
    val/000000.bin
    records.parquet      one row per record (or record part, with --split region): split, shard,
                         start, n_tokens, n_bases, base_offset, file, record_id, sample_id —
                         where every token came from

A training window is ``window`` consecutive tokens of one shard, starting every ``stride`` tokens
(so windows over a long genome overlap when stride < window, and short reads are packed several
to a window, separated by <sep>).  Windows never cross a shard; the order is a permutation drawn
from the seed, so a run can be reproduced exactly.

>>> import tempfile, numpy as np, pathlib
>>> root = pathlib.Path(tempfile.mkdtemp())
>>> w = ShardWriter(root, "train", np.uint8, max_tokens=8)
>>> w.add(np.arange(6, dtype=np.uint8)); w.add(np.arange(6, dtype=np.uint8))
(0, 0)
(1, 0)
>>> [s["tokens"] for s in w.close()]
[6, 6]
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from genolm.errors import GenolmError

MANIFEST = "manifest.json"
TOKENIZER = "tokenizer.json"
RECORDS = "records.parquet"
SPLITS = ("train", "val")


class ShardWriter:
    """Append token arrays to ``root/split/NNNNNN.bin`` files of at most ``max_tokens`` tokens.

    A record is never cut across two shards (a record longer than ``max_tokens`` gets a shard of
    its own), so every window stays inside one record's neighbourhood of the stream.
    """

    def __init__(self, root: Path, split: str, dtype, max_tokens: int) -> None:
        self.dir = Path(root) / split
        self.split = split
        self.dtype = np.dtype(dtype)
        self.max_tokens = int(max_tokens)
        self.shards: list[dict] = []
        self._fh = None
        self._n = 0

    def room(self) -> int:
        """Tokens that still fit in the current shard (a full shard's worth if none is open)."""
        return self.max_tokens if self._fh is None else max(self.max_tokens - self._n, 0)

    def add(self, tokens: np.ndarray) -> tuple[int, int]:
        """Write ``tokens``; return (shard index, start offset in that shard)."""
        if self._fh is None or (self._n and self._n + len(tokens) > self.max_tokens):
            self._roll()
        start = self._n
        self._fh.write(np.ascontiguousarray(tokens, dtype=self.dtype).tobytes())
        self._n += len(tokens)
        return len(self.shards) - 1, start

    def adopt(self, path: str | os.PathLike, n_tokens: int) -> int:
        """Make the token file ``path`` (on the same file system) a shard of its own, by renaming
        it; return its shard index.  The shard being filled, if any, is closed first."""
        self._finish()
        self.dir.mkdir(parents=True, exist_ok=True)
        name = f"{len(self.shards):06d}.bin"
        os.replace(path, self.dir / name)
        self.shards.append({"file": f"{self.split}/{name}", "tokens": int(n_tokens)})
        return len(self.shards) - 1

    def _roll(self) -> None:
        self._finish()
        self.dir.mkdir(parents=True, exist_ok=True)
        name = f"{len(self.shards):06d}.bin"
        self._fh = open(self.dir / name, "wb", buffering=1 << 22)
        self.shards.append({"file": f"{self.split}/{name}", "tokens": 0})
        self._n = 0

    def _finish(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self.shards[-1]["tokens"] = self._n
            self._fh = None

    def close(self) -> list[dict]:
        self._finish()
        return self.shards


@dataclass
class TokenWindows:
    """Fixed-length windows over one split of a prepared corpus, as a map-style dataset.

    ``windows[i]`` is a (window,) array of token ids; ``order`` is the seeded shuffle.
    """

    shards: list[np.ndarray]
    window: int
    stride: int
    seed: int = 0
    shuffle: bool = True

    def __post_init__(self) -> None:
        if self.window < 1 or self.stride < 1:
            raise GenolmError("window and stride must be positive", found=f"{self.window}, {self.stride}")
        counts = [max(0, (len(s) - self.window) // self.stride + 1) for s in self.shards]
        self._cum = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        n = int(self._cum[-1])
        self.order = (np.random.default_rng(self.seed).permutation(n) if self.shuffle
                      else np.arange(n))

    def __len__(self) -> int:
        return len(self.order)

    def position(self, i: int) -> tuple[int, int]:
        """(shard, token offset) of the i-th window in shuffled order."""
        return self._where(int(self.order[i]))

    def _where(self, j: int) -> tuple[int, int]:
        shard = int(np.searchsorted(self._cum, j, side="right") - 1)
        return shard, (j - int(self._cum[shard])) * self.stride

    def at(self, j: int) -> np.ndarray:
        """The j-th window in file order (samplers that shuffle by themselves use this)."""
        shard, offset = self._where(j)
        return np.asarray(self.shards[shard][offset: offset + self.window])

    def __getitem__(self, i: int) -> np.ndarray:
        shard, offset = self.position(i)
        return np.asarray(self.shards[shard][offset: offset + self.window])


class PreparedCorpus:
    """Read side of a prepared directory: manifest, tokenizer, memory-mapped shards, records."""

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root)
        if not self.root.exists():
            raise GenolmError("no such corpus directory", file=self.root,
                              hint="run 'genolm prepare INPUT... --out DIR' first, then give DIR")
        if not self.root.is_dir():
            raise GenolmError("this is a file, not a corpus directory made by 'genolm prepare'", file=self.root,
                              hint=f"run 'genolm prepare {self.root} --out corpus' first, then give --data corpus")
        try:
            self.manifest = json.loads((self.root / MANIFEST).read_text())
        except FileNotFoundError:
            raise GenolmError("not a prepared corpus (no manifest.json)", file=self.root,
                              hint="run 'genolm prepare INPUT... --out DIR' first") from None
        self.dtype = np.dtype(self.manifest["dtype"])
        self._records = None

    @property
    def tokenizer(self):
        from genolm.tokenize import load_tokenizer  # noqa: layering: data may use tokenize

        return load_tokenizer(self.root / TOKENIZER)

    def shards(self, split: str) -> list[np.ndarray]:
        out = []
        for entry in self.manifest["splits"][split]["shards"]:
            path = self.root / entry["file"]
            out.append(np.memmap(path, dtype=self.dtype, mode="r") if entry["tokens"]
                       else np.zeros(0, self.dtype))
        return out

    def windows(self, split: str = "train", window: int | None = None, stride: int | None = None,
                *, seed: int | None = None, shuffle: bool = True) -> TokenWindows:
        window = window or self.manifest["window"]
        stride = stride or self.manifest["stride"]
        seed = self.manifest["seed"] if seed is None else seed
        return TokenWindows(self.shards(split), window, stride, seed, shuffle)

    @property
    def records(self):
        """The records table as a pyarrow Table (loaded on first use)."""
        if self._records is None:
            import pyarrow.parquet as pq

            self._records = pq.read_table(self.root / RECORDS)
        return self._records

    def locate(self, split: str, shard: int, offset: int, length: int) -> list[dict]:
        """Which records, and which of their bases, the tokens ``[offset, offset+length)`` of a
        shard come from: a list of ``{record_id, file, base_start, base_end, token_start,
        token_end}`` (token positions relative to the window)."""
        import pyarrow.compute as pc

        t = self.records
        t = t.filter(pc.and_(pc.equal(t["split"], split), pc.equal(t["shard"], shard)))
        starts = t["start"].to_numpy()
        order = np.argsort(starts)
        starts = starts[order]
        n_tok = t["n_tokens"].to_numpy()[order]
        ids = t["record_id"].to_numpy(zero_copy_only=False)[order]
        files = t["file"].to_numpy()[order]
        base0 = t["base_offset"].to_numpy()[order]
        advance = self.tokenizer.advance
        data = self.shards(split)[shard]
        out = []
        i = max(0, int(np.searchsorted(starts, offset, side="right")) - 1)
        end = offset + length
        while i < len(starts) and starts[i] < end:
            lo, hi = max(offset, starts[i]), min(end, starts[i] + n_tok[i])
            if lo < hi:
                base_start = int(base0[i]) + int(advance[np.asarray(data[starts[i]: lo])].sum())
                base_end = base_start + int(advance[np.asarray(data[lo:hi])].sum())
                out.append({"record_id": ids[i], "file": int(files[i]), "base_start": base_start,
                            "base_end": base_end, "token_start": lo - offset, "token_end": hi - offset})
            i += 1
        return out
