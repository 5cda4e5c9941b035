"""The vocabulary layout every tokenizer shares, and the :class:`Tokenizer` base class.

Ids are laid out the same way for every kind, so a model, a data file or a checkpoint can tell
special tokens apart from sequence tokens without knowing which tokenizer made them::

    0..6     <pad> <unk> <bos> <eos> <mask> <sep> <cls>      (fixed, pinned by tests)
    7..70    <cond_0> … <cond_63>                            (reserved for metadata/conditions)
    71..     sequence symbols of the chosen kind

``<unk>`` is reserved but never produced: unknown characters are an explicit policy
(``unknown="error" | "n" | "skip"``), never a silent token.

>>> from genolm.tokenize import get_tokenizer
>>> tok = get_tokenizer("char")
>>> tok.condition_id(0), tok.first_symbol_id, tok.encode("acgt").tolist()
(7, 71, [71, 72, 73, 74])
"""

from __future__ import annotations

import hashlib
import json
import os

import numpy as np

from genolm.errors import GenolmError, show
from genolm.io.alphabet import Alphabet, get_alphabet

SPECIAL_TOKENS = ("<pad>", "<unk>", "<bos>", "<eos>", "<mask>", "<sep>", "<cls>")
PAD, UNK, BOS, EOS, MASK, SEP, CLS = range(len(SPECIAL_TOKENS))
N_CONDITIONS = 64
UNKNOWN_POLICIES = ("error", "n", "skip")
CASES = ("fold", "keep")
FORMAT = "genolm.tokenizer"
SPEC_FORMS = "char | aa | codon | kmer:K | kmer:K:S | bpe:V"
_KINDS: dict[str, type["Tokenizer"]] = {}


def reserved_tokens(n_conditions: int = N_CONDITIONS) -> list[str]:
    """Special tokens followed by the condition tokens: ids 0 .. 6 + n_conditions.

    >>> reserved_tokens(2)[-3:]
    ['<cls>', '<cond_0>', '<cond_1>']
    """
    return list(SPECIAL_TOKENS) + [f"<cond_{i}>" for i in range(n_conditions)]


def smallest_dtype(vocab_size: int) -> np.dtype:
    """The smallest unsigned dtype that holds every id below ``vocab_size``.

    >>> smallest_dtype(256), smallest_dtype(257)
    (dtype('uint8'), dtype('uint16'))
    """
    for dt in (np.uint8, np.uint16, np.uint32):
        if vocab_size - 1 <= np.iinfo(dt).max:
            return np.dtype(dt)
    raise GenolmError("vocabulary too large", expected="< 2**32 tokens", found=str(vocab_size))


def as_bytes(seq: str | bytes | bytearray | memoryview) -> bytes:
    """Sequence text as bytes, one byte per character (offsets stay character offsets)."""
    if isinstance(seq, str):
        # latin-1 keeps one byte per character; anything wider becomes '?', which no alphabet
        # allows, so the unknown-symbol check still reports the right offset.
        return seq.encode("latin-1", errors="replace")
    if isinstance(seq, (bytes, bytearray, memoryview)):
        return bytes(seq)
    raise GenolmError("sequence must be str or bytes", found=type(seq).__name__)


class Tokenizer:
    """Base class: the shared layout, the unknown-symbol policy, save/load and ``describe()``.

    Subclasses set ``kind``, build ``self.tokens`` (id -> token) and ``self.advance`` (id -> how
    many bases the token moves the position forward; 0 for reserved tokens) and implement
    ``_encode_clean`` (bytes that passed the policy -> ids) and ``_decode_symbols``.
    """

    kind = ""
    pad_id, unk_id, bos_id, eos_id, mask_id, sep_id, cls_id = PAD, UNK, BOS, EOS, MASK, SEP, CLS

    def __init_subclass__(cls, **kw):
        super().__init_subclass__(**kw)
        if cls.kind:
            _KINDS[cls.kind] = cls

    def __init__(self, alphabet: str | Alphabet, *, case: str = "fold", unknown: str = "error",
                 n_conditions: int = N_CONDITIONS) -> None:
        self.alphabet = get_alphabet(alphabet)
        if self.alphabet is None or self.alphabet.name == "nucleotide":
            raise GenolmError("tokenizers need one molecule alphabet", expected="dna | rna | protein",
                              found=repr(alphabet))
        _check_choice("case", case, CASES)
        _check_choice("unknown", unknown, UNKNOWN_POLICIES)
        if not isinstance(n_conditions, int) or n_conditions < 0:
            raise GenolmError("bad number of condition tokens", expected="an integer >= 0",
                              found=repr(n_conditions))
        self.case, self.unknown, self.n_conditions = case, unknown, n_conditions
        # Ambiguous bases become N, unknown residues X: both are in every char vocabulary.
        self.filler = b"X" if self.alphabet.name == "protein" else b"N"
        self.stats = {"replaced": 0}  # characters replaced under unknown="n", per process

    # ---- layout --------------------------------------------------------------------------------

    @property
    def first_symbol_id(self) -> int:
        """Id of the first sequence symbol (after the specials and condition tokens)."""
        return len(SPECIAL_TOKENS) + self.n_conditions

    @property
    def vocab_size(self) -> int:
        return len(self.tokens)

    @property
    def dtype(self) -> np.dtype:
        """Smallest unsigned dtype holding every id (uint8 for char, uint16 for kmer:6, …)."""
        return smallest_dtype(self.vocab_size)

    def condition_id(self, i: int) -> int:
        """Id of reserved condition token ``<cond_i>``, e.g. a temperature bin.

        >>> Tokenizer.from_spec("char").condition_id(3)
        10
        """
        if not 0 <= i < self.n_conditions:
            raise GenolmError("condition index out of range", expected=f"0 .. {self.n_conditions - 1}",
                              found=str(i), hint="raise n_conditions when building the tokenizer")
        return len(SPECIAL_TOKENS) + i

    def id_to_token(self, i: int) -> str:
        """Token text of one id: ``tok.id_to_token(0) == '<pad>'``."""
        if not 0 <= int(i) < self.vocab_size:
            raise GenolmError("token id out of range", expected=f"0 .. {self.vocab_size - 1}", found=str(i))
        return self.tokens[int(i)]

    def token_to_id(self, token: str) -> int:
        """Id of one token text: ``tok.token_to_id('<mask>') == 4``."""
        if not hasattr(self, "_index"):
            self._index = {t: i for i, t in enumerate(self.tokens)}
        try:
            return self._index[token]
        except KeyError:
            raise GenolmError("token not in vocabulary", found=repr(token),
                              hint=f"this is a {self.spec} tokenizer") from None

    # ---- encode / decode -----------------------------------------------------------------------

    def check(self, seq: str | bytes) -> int:
        """Offset of the first character outside the alphabet, or -1 (C speed; for ``skip``).

        >>> Tokenizer.from_spec("char", alphabet="rna").check("ACGT")
        3
        """
        return self.alphabet.first_invalid(as_bytes(seq))

    def encode(self, seq: str | bytes) -> np.ndarray | None:
        """Sequence -> ids (``self.dtype``); None when ``unknown="skip"`` and the record has an
        unknown character (the caller drops it).

        >>> Tokenizer.from_spec("kmer:3").encode("ACGTA").tolist()  # ACG, then tail T, A
        [92, 74, 71]
        """
        data = self._apply_policy(seq)
        if data is None:
            return None
        return self._encode_clean(data)

    def encode_batch(self, seqs) -> list[np.ndarray | None]:
        """Encode many sequences; entries are None for records dropped under ``skip``."""
        return [self.encode(s) for s in seqs]

    def encode_records(self, seqs: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """Encode many records into one stream, each followed by ``<sep>``.

        Returns ``(stream, tokens per record including its <sep>, kept)``; ``kept`` is None when
        every record was kept, else a bool mask (records dropped under ``unknown="skip"``).

        >>> stream, n, kept = Tokenizer.from_spec("char").encode_records(["AC", "G"])
        >>> stream.tolist(), n.tolist(), kept
        ([71, 72, 5, 73, 5], [3, 2], None)
        """
        encoded = self.encode_batch(seqs)
        kept = [e for e in encoded if e is not None]
        n = np.fromiter(map(len, kept), np.int64, len(kept)) + 1
        stream = np.full(int(n.sum()), SEP, self.dtype)
        ends = np.cumsum(n)
        for arr, end in zip(kept, ends):
            stream[end - 1 - len(arr): end - 1] = arr
        if len(kept) == len(encoded):
            return stream, n, None
        return stream, n, np.array([e is not None for e in encoded], bool)

    def decode(self, ids, *, keep_special: bool = False) -> str:
        """Ids -> sequence text; special and condition tokens are dropped unless ``keep_special``.

        >>> tok = Tokenizer.from_spec("char"); tok.decode(tok.encode("acgN"))
        'ACGN'
        """
        ids = np.asarray(ids)
        if ids.size == 0:
            return ""
        if ids.ndim != 1 or not np.issubdtype(ids.dtype, np.integer):
            raise GenolmError("decode takes one sequence of integer ids", expected="a 1-D integer array",
                              found=f"{ids.ndim}-D {ids.dtype}")
        if ids.min() < 0 or ids.max() >= self.vocab_size:
            bad = ids[(ids < 0) | (ids >= self.vocab_size)][0]
            raise GenolmError("token id out of range", expected=f"0 .. {self.vocab_size - 1}",
                              found=str(bad), hint="was this made by another tokenizer?")
        if keep_special:
            return "".join(self._tokens_array()[ids].tolist())
        return self._decode_symbols(ids[ids >= self.first_symbol_id])

    def _apply_policy(self, seq) -> bytes | None:
        """The bytes to encode after the unknown-symbol policy, or None to skip the record."""
        data = as_bytes(seq)
        offset = self.alphabet.first_invalid(data)
        if offset < 0:
            return data
        if self.unknown == "n":
            bad = data.translate(None, self.alphabet.allowed)  # just the offending characters
            self.stats["replaced"] += len(bad)
            return data.translate(_replace_table(self.alphabet, self.filler))
        if self.unknown == "skip":
            return None
        raise self._unknown_error(seq, data, offset)

    def _unknown_error(self, seq, data: bytes, offset: int) -> GenolmError:
        found = seq[offset] if isinstance(seq, str) else chr(data[offset])
        # The commonest mix-up gets named: DNA text read as RNA, or the other way round.
        swap = {("rna", "T"): " (RNA uses U, not T)", ("dna", "U"): " (DNA uses T, not U)"}
        return GenolmError(f"unknown {self.alphabet.name} symbol {found!r} at offset {offset}",
                           expected=f"{self.alphabet.name} letters {self.alphabet.symbols}",
                           found=show(data[max(0, offset - 10):offset + 10]),
                           hint=f"pass unknown='n' to replace unknown characters with {self.filler.decode()}, "
                                f"or unknown='skip' to drop such records"
                                + swap.get((self.alphabet.name, found.upper()), ""))

    def _tokens_array(self) -> np.ndarray:
        if not hasattr(self, "_tok_arr"):
            self._tok_arr = np.array(self.tokens, dtype=object)
        return self._tok_arr

    def _encode_clean(self, data: bytes) -> np.ndarray:
        raise NotImplementedError

    def _decode_symbols(self, ids: np.ndarray) -> str:
        return "".join(self._tokens_array()[ids].tolist())

    # ---- description and persistence -----------------------------------------------------------

    def _params(self) -> dict:
        """Kind-specific settings (``k``, ``stride``, …), as stored in ``to_dict``."""
        return {}

    @property
    def spec(self) -> str:
        """The spec string that rebuilds this kind, e.g. ``'kmer:6:1'``."""
        return self.kind

    @property
    def vocab_sha256(self) -> str:
        """Fingerprint of the id -> token table: equal fingerprints mean equal ids."""
        return hashlib.sha256("\n".join(self.tokens).encode()).hexdigest()

    def describe(self) -> dict:
        """Settings for manifests.

        >>> Tokenizer.from_spec("kmer:6").describe()["stride"]
        6
        """
        return {"kind": self.kind, "spec": self.spec, **self._params(), "alphabet": self.alphabet.name,
                "case": self.case, "unknown": self.unknown, "n_conditions": self.n_conditions,
                "vocab_size": self.vocab_size, "dtype": self.dtype.name, "vocab_sha256": self.vocab_sha256}

    def to_dict(self) -> dict:
        """Everything needed to rebuild this tokenizer exactly (JSON-serialisable)."""
        return {"format": FORMAT, "version": 1, **self.describe()}

    @classmethod
    def from_dict(cls, d: dict, *, source: str | None = None) -> "Tokenizer":
        """Rebuild a tokenizer from ``to_dict()``; the vocabulary fingerprint must match."""
        if not isinstance(d, dict) or d.get("format") != FORMAT:
            raise GenolmError("not a genolm tokenizer", file=source, expected=f"format {FORMAT!r}",
                              found=repr(d.get("format") if isinstance(d, dict) else type(d).__name__))
        if d.get("kind") not in _KINDS:
            raise GenolmError("unknown tokenizer kind", file=source, expected=" | ".join(_KINDS),
                              found=repr(d.get("kind")))
        try:
            tok = _KINDS[d["kind"]]._from_saved(d)
        except KeyError as e:
            raise GenolmError("tokenizer file is missing a field", file=source, found=str(e)) from None
        if d.get("vocab_sha256") not in (None, tok.vocab_sha256):
            raise GenolmError("tokenizer vocabulary differs from the saved one", file=source,
                              hint="the file was written by a genolm with another vocabulary layout")
        return tok

    @classmethod
    def _from_saved(cls, d: dict) -> "Tokenizer":
        raise NotImplementedError

    def save(self, path: str | os.PathLike) -> None:
        """Write this tokenizer as one JSON file; ``load_tokenizer(path)`` restores it."""
        with open(path, "w", encoding="utf-8") as fh:
            json.dump(self.to_dict(), fh, indent=1)
            fh.write("\n")

    @staticmethod
    def load(path: str | os.PathLike) -> "Tokenizer":
        """Read a tokenizer written by :meth:`save`."""
        try:
            with open(path, encoding="utf-8") as fh:
                d = json.load(fh)
        except OSError as e:
            raise GenolmError("cannot read tokenizer", file=path, found=e.strerror) from None
        except json.JSONDecodeError as e:
            raise GenolmError("tokenizer file is not JSON", file=path, line=e.lineno, found=e.msg) from None
        return Tokenizer.from_dict(d, source=os.fspath(path))

    @staticmethod
    def from_spec(spec: str, alphabet: str | None = None, **kw) -> "Tokenizer":
        """Build a tokenizer from a spec string (``char``, ``kmer:6:1``, ``codon``, …).

        >>> Tokenizer.from_spec("kmer:6:1").describe()["stride"]
        1
        """
        if not isinstance(spec, str) or not spec:
            raise GenolmError("bad tokenizer spec", expected=SPEC_FORMS, found=repr(spec))
        kind, *args = spec.strip().lower().split(":")
        if kind not in _KINDS:
            raise GenolmError("unknown tokenizer kind", expected=SPEC_FORMS, found=repr(spec))
        return _KINDS[kind]._from_spec_args(spec, args, alphabet, **kw)

    @classmethod
    def _from_spec_args(cls, spec: str, args: list[str], alphabet, **kw) -> "Tokenizer":
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.spec} {self.alphabet.name} vocab={self.vocab_size}>"


def spec_ints(spec: str, args: list[str], names: tuple[str, ...], required: int) -> list[int]:
    """Parse the integer arguments of a spec (``kmer:6:1`` -> [6, 1]) with a clear error."""
    if not required <= len(args) <= len(names) or not all(a.isdigit() for a in args):
        raise GenolmError("bad tokenizer spec", expected=SPEC_FORMS, found=repr(spec),
                          hint=f"give {':'.join(names[:required])} as positive integers")
    return [int(a) for a in args]


def _check_choice(name: str, value, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise GenolmError(f"bad {name} setting", expected=" | ".join(choices), found=repr(value))


def _replace_table(alphabet: Alphabet, filler: bytes) -> bytes:
    """bytes.translate table sending every byte outside the alphabet to ``filler``."""
    table = bytearray(filler * 256)
    for b in alphabet.allowed:
        table[b] = b
    return bytes(table)
