"""Lookup-table tokenizers: ``char``, ``aa``, ``kmer:K[:S]`` and ``codon``.

All of them work on bytes with 256-entry tables, vectorised over the whole sequence: a char is one
``bytes.translate`` call; a k-mer is built from 2-bit base codes (A=0 C=1 G=2 T/U=3) shifted and
or-ed K times over strided views, so there is no Python loop over characters.

K-mer vocabulary (after the 71 reserved ids): the single-nucleotide tokens (A C G T, then the
IUPAC codes N R Y …; the same ids as ``char``), then all 4^K k-mers in ACGT order, then
``<nkmer>`` for overlapping strides only.

>>> tok = Tokenizer.from_spec("kmer:3")
>>> tok.decode(tok.encode("ACGTAnG"))   # ACG, TAN holds N -> T A N singles, G tail single
'ACGTANG'
"""

from __future__ import annotations

import itertools

import numpy as np

from genolm.errors import GenolmError
from genolm.tokenize import kmer_batch
from genolm.tokenize.vocab import N_CONDITIONS, SEP, Tokenizer, reserved_tokens, spec_ints

MAX_K = 10  # 4**10 ≈ 1M k-mers; beyond that the embedding table, not the tokenizer, is the problem
NKMER = "<nkmer>"


class _NoParams:
    """Spec and save-file handling of the kinds that take no parameters (``char``, ``codon``)."""

    @classmethod
    def _from_spec_args(cls, spec, args, alphabet, **kw):
        spec_ints(spec, args, (), 0)
        return cls(alphabet or "dna", **kw)

    @classmethod
    def _from_saved(cls, d):
        return cls(d["alphabet"], case=d["case"], unknown=d["unknown"], n_conditions=d["n_conditions"])


class CharTokenizer(_NoParams, Tokenizer):
    """One token per nucleotide (or residue, with ``alphabet="protein"``), IUPAC codes included.

    ``case="keep"`` gives lowercase (soft-masked) letters their own tokens, after the uppercase ones.

    >>> tok = CharTokenizer("dna")
    >>> tok.encode("ACGTn").tolist()
    [71, 72, 73, 74, 75]
    """

    kind = "char"
    positionwise = True  # one token per letter: encode(a + b) == encode(a) ++ encode(b)

    def __init__(self, alphabet="dna", *, case: str = "fold", unknown: str = "error",
                 n_conditions: int = N_CONDITIONS) -> None:
        super().__init__(alphabet, case=case, unknown=unknown, n_conditions=n_conditions)
        symbols = list(self.alphabet.symbols)
        if case == "keep":
            symbols += [s.lower() for s in symbols if s.lower() != s]
        self.tokens = reserved_tokens(n_conditions) + symbols
        self.advance = np.zeros(self.vocab_size, np.int32)
        self.advance[self.first_symbol_id:] = 1
        lut = np.zeros(256, np.int64)  # bytes outside the alphabet never reach the table
        for i, s in enumerate(symbols, start=self.first_symbol_id):
            lut[ord(s)] = i
            if case == "fold":
                lut[ord(s.lower())] = i
        self._lut = lut.astype(self.dtype)
        # translate() maps bytes to bytes at memcpy-like speed: usable while ids fit in a byte.
        self._table = bytes(self._lut.tolist()) if self.dtype == np.uint8 else None
        if self._table is not None:  # the same with newline -> <sep>, for encode_records
            sep_lut = self._lut.copy()
            sep_lut[ord("\n")] = SEP
            self._sep_table = bytes(sep_lut.tolist())
        self._symbol_bytes = np.frombuffer("".join(t if len(t) == 1 else "?" for t in self.tokens)
                                         .encode("latin-1"), np.uint8)

    def _encode_clean(self, data: bytes) -> np.ndarray:
        if self._table is not None:
            # bytearray so the returned array is writable, like every other encode result.
            return np.frombuffer(bytearray(data.translate(self._table)), np.uint8)
        return self._lut[np.frombuffer(data, np.uint8)]

    def _decode_symbols(self, ids: np.ndarray) -> str:
        return self._symbol_bytes[ids].tobytes().decode("latin-1")

    def encode_records(self, seqs: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """Fast path of :meth:`Tokenizer.encode_records`: join the records with newlines and map
        letters and newlines (-> ``<sep>``) to ids in one C-speed pass, no per-record work."""
        if self._table is None:
            return super().encode_records(seqs)
        try:
            blob = "\n".join(seqs + [""]).encode("ascii")  # a newline after every record
        except UnicodeEncodeError:
            return super().encode_records(seqs)
        # Letters outside the alphabet map to 0 (<pad>, which no letter maps to): one translate
        # both encodes and, with a memchr-speed search for 0, checks.
        ids = blob.translate(self._sep_table)
        if b"\x00" in ids:  # an unknown letter somewhere: apply the policy record by record
            return super().encode_records(seqs)
        n = np.fromiter(map(len, seqs), np.int64, len(seqs)) + 1
        return np.frombuffer(ids, np.uint8), n, None


class AaTokenizer(CharTokenizer):
    """Amino acids: ``char`` over the protein alphabet (20 residues + B Z J U O X *).

    >>> AaTokenizer().encode("MK*").tolist()
    [81, 79, 97]
    """

    kind = "aa"

    def __init__(self, alphabet="protein", **kw) -> None:
        if alphabet not in ("protein", None) and getattr(alphabet, "name", None) != "protein":
            raise GenolmError("the aa tokenizer reads protein", expected="alphabet protein",
                              found=repr(alphabet), hint="use char or codon for nucleotides")
        super().__init__("protein", **kw)

    @classmethod
    def _from_spec_args(cls, spec, args, alphabet, **kw):
        spec_ints(spec, args, (), 0)
        return cls(alphabet, **kw)


class KmerTokenizer(Tokenizer):
    """K-mers with stride S (``kmer:6`` = non-overlapping, ``kmer:6:1`` = overlapping, DNABERT).

    Non-overlapping (S == K) is lossless: a block holding a non-ACGT letter is emitted as K
    single-nucleotide tokens, and a tail shorter than K as single tokens (Nucleotide Transformer).
    ``advance`` is K for k-mers and 1 for singles, so its sum over the ids is the sequence length.

    Overlapping (S < K) emits one token per window starting at 0, S, 2S, …; a window holding a
    non-ACGT letter becomes ``<nkmer>`` (counted in ``stats["nkmer"]``) and decodes as N's, so
    decoding is lossless only for ACGT sequences. Letters after the last window (fewer than S) and
    sequences shorter than K are emitted as single tokens. Decoding takes the first window whole
    and the last S letters of each following window. ``advance`` is S for a window: the exclusive
    cumulative sum gives each window's start; the tail singles follow the last window's end.

    >>> tok = KmerTokenizer(3, 1)
    >>> tok.decode(tok.encode("ACGTA")), tok.encode("ACGTA").size
    ('ACGTA', 3)
    """

    kind = "kmer"

    def __init__(self, k: int, stride: int | None = None, alphabet="dna", *, case: str = "fold",
                 unknown: str = "error", n_conditions: int = N_CONDITIONS) -> None:
        super().__init__(alphabet, case=case, unknown=unknown, n_conditions=n_conditions)
        stride = k if stride is None else stride
        if self.alphabet.name not in ("dna", "rna"):
            raise GenolmError(f"{self.kind} tokenizers read nucleotides", expected="alphabet dna | rna",
                              found=repr(self.alphabet.name), hint="use aa or bpe for protein")
        if case != "fold":
            raise GenolmError("case='keep' is only supported by char", found=f"{self.kind} with case='keep'",
                              hint="k-mers fold soft-masked lowercase to uppercase")
        if not (isinstance(k, int) and 1 <= k <= MAX_K):
            raise GenolmError("bad k-mer size", expected=f"1 <= K <= {MAX_K}", found=repr(k))
        if not (isinstance(stride, int) and 1 <= stride <= k):
            raise GenolmError("bad k-mer stride", expected=f"1 <= S <= K={k}", found=repr(stride),
                              hint="a stride above K would skip bases")
        self.k, self.stride = k, stride
        self.overlapping = stride < k
        self.stats.update(nkmer=0, split=0)  # <nkmer> windows, k-mer blocks split into singles
        core, symbols = self.alphabet.core, list(self.alphabet.symbols)  # core = ACGT / ACGU
        kmers = ["".join(p) for p in itertools.product(core, repeat=k)] if k > 1 else []
        self.tokens = reserved_tokens(n_conditions) + symbols + kmers + ([NKMER] if self.overlapping else [])
        first = self.first_symbol_id
        self.nkmer_id = self.vocab_size - 1 if self.overlapping else None
        # k-mer code (2 bits per base, first base most significant) -> id; K=1 reuses the singles.
        base = first + len(symbols)
        self._code_to_id = (np.arange(4 ** k) + base if k > 1 else np.arange(4) + first).astype(self.dtype)
        self.advance = np.zeros(self.vocab_size, np.int32)
        self.advance[first:base] = 1
        self.advance[base:] = stride
        single = np.zeros(256, np.int64)
        code = bytearray(256)  # A C G T/U -> 0 1 2 3; other letters 0, flagged by _window_bad
        for i, s in enumerate(symbols):
            single[ord(s)] = single[ord(s.lower())] = first + i
        for c, s in enumerate(core):
            code[ord(s)] = code[ord(s.lower())] = c
        self._single, self._code_table = single.astype(self.dtype), bytes(code)
        self._acgt = (core + core.lower()).encode()
        self._bad_table = bytes(0 if b in self._acgt else 1 for b in range(256))
        # 2 bits a base: uint16 holds 8 bases and halves the memory traffic of uint32.
        self._code_dtype = np.uint16 if k <= 8 else np.uint32

    # ---- encode --------------------------------------------------------------------------------

    def _columns(self, a: np.ndarray, n: int, step: int):
        """The j-th letter of each of the n windows starting at 0, step, 2*step, …: K (n,) views."""
        return (a[j: j + (n - 1) * step + 1: step] for j in range(self.k))

    def _window_codes(self, data: bytes, n: int, step: int) -> np.ndarray:
        """(n,) 2-bit codes of the windows, first base most significant: K shift-or passes."""
        codes = np.frombuffer(data.translate(self._code_table), np.uint8)  # (L,) in 0..3
        kcode = np.zeros(n, self._code_dtype)
        for col in self._columns(codes, n, step) if n else ():  # n=0: slices would wrap around
            kcode <<= 2
            kcode |= col
        return kcode

    def _window_bad(self, data: bytes, n: int, step: int) -> np.ndarray | None:
        """(n,) bool: window holds a non-ACGT letter; None when the sequence is all ACGT."""
        if not data.translate(None, self._acgt):  # C-speed check for the common, clean case
            return None
        bad = np.frombuffer(data.translate(self._bad_table), np.uint8)  # (L,) 1 = not ACGT
        flag = np.zeros(n, np.uint8)
        for col in self._columns(bad, n, step) if n else ():
            flag |= col
        return flag.astype(bool)

    def _encode_clean(self, data: bytes) -> np.ndarray:
        arr = np.frombuffer(data, np.uint8)
        k, s, L = self.k, self.stride, len(data)
        n = (L - k) // s + 1 if L >= k else 0  # number of windows
        ids = self._code_to_id[self._window_codes(data, n, s)]
        bad = self._window_bad(data, n, s)
        tail = self._single[arr[(n - 1) * s + k if n else 0:]]  # letters after the last window
        if self.overlapping and bad is not None:
            ids[bad] = self.nkmer_id
            self.stats["nkmer"] += int(bad.sum())
        if bad is None or self.overlapping:
            return np.concatenate([ids, tail]) if tail.size else ids
        # Non-overlapping blocks holding N etc. become K single tokens each: place every block
        # at its output offset (1 slot for a k-mer, K for a split block), then fill the splits.
        self.stats["split"] += int(bad.sum())
        width = np.where(bad, k, 1)
        start = np.cumsum(width) - width  # (n,) output offset of each block
        out = np.empty(n + (k - 1) * int(bad.sum()) + tail.size, self.dtype)
        out[start[~bad]] = ids[~bad]
        split = np.flatnonzero(bad)[:, None]  # (b, 1)
        out[(start[split] + np.arange(k)).ravel()] = self._single[arr[(split * k + np.arange(k)).ravel()]]
        out[out.size - tail.size:] = tail
        return out

    def encode_records(self, seqs: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """Fast path of :meth:`Tokenizer.encode_records`: every record at once, in a fixed number
        of numpy passes (see :mod:`genolm.tokenize.kmer_batch`); the same stream, counts and
        ``stats``. Batches holding a character outside the alphabet take the generic path, which
        applies the ``unknown`` policy record by record."""
        out = kmer_batch.encode_records(self, seqs)
        return super().encode_records(seqs) if out is None else out

    # ---- decode --------------------------------------------------------------------------------

    def _decode_symbols(self, ids: np.ndarray) -> str:
        if not self.overlapping or ids.size == 0:
            return super()._decode_symbols(ids)
        if not hasattr(self, "_suffix"):
            # What each token adds after the first: the last S letters of a window, or the letter.
            toks = list(self.tokens)
            toks[self.nkmer_id] = "N" * self.k
            self._whole = np.array(toks, dtype=object)
            self._suffix = np.array([t if len(t) == 1 else t[-self.stride:] for t in toks], dtype=object)
            self._suffix[self.nkmer_id] = "N" * self.stride
        return self._whole[ids[0]] + "".join(self._suffix[ids[1:]].tolist())

    # ---- spec ----------------------------------------------------------------------------------

    def _params(self) -> dict:
        return {"k": self.k, "stride": self.stride}

    @property
    def spec(self) -> str:
        return f"kmer:{self.k}" if self.stride == self.k else f"kmer:{self.k}:{self.stride}"

    @classmethod
    def _from_spec_args(cls, spec, args, alphabet, **kw):
        k, *rest = spec_ints(spec, args, ("K", "S"), 1)
        return cls(k, rest[0] if rest else k, alphabet or "dna", **kw)

    @classmethod
    def _from_saved(cls, d):
        return cls(d["k"], d["stride"], d["alphabet"], case=d["case"], unknown=d["unknown"],
                   n_conditions=d["n_conditions"])


class CodonTokenizer(_NoParams, KmerTokenizer):
    """Non-overlapping 3-mers in frame 0 over DNA or RNA (``kmer:3`` under its own name).

    >>> CodonTokenizer("rna").decode(CodonTokenizer("rna").encode("AUGGCu"))
    'AUGGCU'
    """

    kind = "codon"

    def __init__(self, alphabet="dna", **kw) -> None:
        super().__init__(3, 3, alphabet, **kw)

    @property
    def spec(self) -> str:
        return "codon"

