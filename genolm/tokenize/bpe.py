"""Byte-pair encoding over sequence letters (DNABERT-2 style), trained with Hugging Face ``tokenizers``.

There is no pre-tokenizer: a sequence is one "word" for BPE. To keep HF from ever holding a
multi-megabase word, sequences are cut into fixed pieces (``chunk``, 10 kb) from offset 0 before
training and before encoding; merges never cross a piece boundary, the same way every time.

The trainer gets the genolm specials and condition tokens as its special tokens, in layout order,
so ``<pad>`` … ``<cls>`` and ``<cond_i>`` keep the ids they have in every other kind. Unknown
characters go through the same policy as the other kinds *before* HF sees the text, and HF's BPE
has no ``unk_token``, so nothing can silently become ``<unk>``.

>>> tok = train_bpe(["ACGTACGTAC", "ACGTTTAC"], vocab_size=90)
>>> tok.decode(tok.encode("ACGTAC"))
'ACGTAC'
"""

from __future__ import annotations

import numpy as np
from tokenizers import Tokenizer as HFTokenizer
from tokenizers import models, trainers

from genolm.errors import GenolmError
from genolm.io.alphabet import get_alphabet
from genolm.tokenize.vocab import N_CONDITIONS, Tokenizer, reserved_tokens, spec_ints

CHUNK = 10_000


class BpeTokenizer(Tokenizer):
    """A trained BPE vocabulary; build one with :func:`train_bpe` or ``load_tokenizer``.

    ``advance`` of a token is its length in letters. ``target_vocab_size`` is the V of ``bpe:V``;
    ``vocab_size`` can be smaller when the corpus runs out of pairs to merge.

    >>> tok = train_bpe(["AAAAAAAA"], vocab_size=88)
    >>> tok.tokens[86:], tok.encode("AAAAA").tolist(), tok.advance[tok.encode("AAAAA")].tolist()
    (['AA', 'AAAA'], [87, 71], [4, 1])
    """

    kind = "bpe"

    def __init__(self, hf_json: str, alphabet="dna", *, target_vocab_size: int, chunk: int = CHUNK,
                 case: str = "fold", unknown: str = "error", n_conditions: int = N_CONDITIONS) -> None:
        super().__init__(alphabet, case=case, unknown=unknown, n_conditions=n_conditions)
        if case != "fold":
            raise GenolmError("case='keep' is only supported by char", found="bpe with case='keep'")
        if not (isinstance(chunk, int) and chunk > 0):
            raise GenolmError("bad BPE chunk length", expected="a positive integer", found=repr(chunk))
        self.target_vocab_size, self.chunk = target_vocab_size, chunk
        try:
            self._hf = HFTokenizer.from_str(hf_json)
        except Exception as e:  # HF raises its own exception type for malformed JSON
            raise GenolmError("cannot read the Hugging Face tokenizer JSON", found=str(e)) from None
        n = self._hf.get_vocab_size(with_added_tokens=True)
        self.tokens = [self._hf.id_to_token(i) for i in range(n)]
        first = self.first_symbol_id
        if self.tokens[:first] != reserved_tokens(n_conditions) or None in self.tokens:
            raise GenolmError("BPE vocabulary does not follow the genolm layout",
                              expected=f"<pad> … <cond_{n_conditions - 1}> at ids 0 .. {first - 1}",
                              hint="train it with genolm.tokenize.train_bpe")
        self.advance = np.array([0] * first + [len(t) for t in self.tokens[first:]], np.int32)

    def _pieces(self, data: bytes) -> list[str]:
        text = data.upper().decode("ascii")  # the policy left only alphabet letters
        return [text[i: i + self.chunk] for i in range(0, len(text), self.chunk)]

    def _encode_clean(self, data: bytes) -> np.ndarray:
        return self._encode_pieces([self._pieces(data)])[0]

    def encode_batch(self, seqs) -> list[np.ndarray | None]:
        """Encode many sequences in one multi-threaded HF call; None for skipped records."""
        cleaned = [self._apply_policy(s) for s in seqs]
        kept = [self._pieces(d) for d in cleaned if d is not None]
        encoded = iter(self._encode_pieces(kept))
        return [None if d is None else next(encoded) for d in cleaned]

    def _encode_pieces(self, per_seq: list[list[str]]) -> list[np.ndarray]:
        flat = [p for pieces in per_seq for p in pieces]
        encs = self._hf.encode_batch_fast(flat, add_special_tokens=False) if flat else []
        arrays = [np.array(e.ids, dtype=self.dtype) for e in encs]
        out, at = [], 0
        for pieces in per_seq:
            chunk_ids = arrays[at: at + len(pieces)]
            at += len(pieces)
            out.append(np.concatenate(chunk_ids) if chunk_ids else np.zeros(0, self.dtype))
        return out

    def _params(self) -> dict:
        return {"target_vocab_size": self.target_vocab_size, "chunk": self.chunk}

    @property
    def spec(self) -> str:
        return f"bpe:{self.target_vocab_size}"

    def to_dict(self) -> dict:
        # HF's own JSON, embedded as a string, keeps the merges in HF's exact format.
        return {**super().to_dict(), "hf_tokenizer": self._hf.to_str()}

    @classmethod
    def _from_saved(cls, d):
        return cls(d["hf_tokenizer"], d["alphabet"], target_vocab_size=d["target_vocab_size"],
                   chunk=d["chunk"], case=d["case"], unknown=d["unknown"], n_conditions=d["n_conditions"])

    @classmethod
    def _from_spec_args(cls, spec, args, alphabet, **kw):
        spec_ints(spec, args, ("V",), 1)
        raise GenolmError("a BPE tokenizer has to be trained first", found=repr(spec),
                          hint="train one with genolm.tokenize.train_bpe(sequences, vocab_size) "
                               "and pass the saved JSON path instead of the spec")


def train_bpe(sequences, vocab_size: int, alphabet="dna", *, unknown: str = "error",
              n_conditions: int = N_CONDITIONS, chunk: int = CHUNK) -> BpeTokenizer:
    """Train a BPE tokenizer of ``vocab_size`` ids (reserved ids included) on sequences.

    ``sequences`` yields str/bytes, or ``(name, seq, …)`` tuples as FASTA readers give; the name
    is used in errors. The same sequences and size always give the same vocabulary.

    >>> tok = train_bpe(["ACGTACGT"] * 3, 90)
    >>> tok.tokens[86:], tok.encode("ACGTACGTA").tolist()
    (['AC', 'GT', 'ACGT', 'ACGTACGT'], [89, 71])
    """
    alpha = get_alphabet(alphabet)
    minimum = len(reserved_tokens(n_conditions)) + len(alpha.symbols) if alpha else 0
    if not (isinstance(vocab_size, int) and vocab_size >= minimum):
        raise GenolmError("BPE vocabulary too small", expected=f"vocab_size >= {minimum} "
                          f"(reserved ids + single letters)", found=repr(vocab_size))
    # An untrained tokenizer of the same settings screens the text: one policy for every kind.
    screen = BpeTokenizer(_empty_hf(n_conditions, alpha.symbols), alpha, target_vocab_size=vocab_size,
                          chunk=chunk, unknown=unknown, n_conditions=n_conditions)

    def pieces():
        for i, item in enumerate(sequences):
            name, seq = (item[0], item[1]) if isinstance(item, tuple) else (f"#{i}", item)
            try:
                data = screen._apply_policy(seq)
            except GenolmError as e:
                raise e.with_context(record=str(name)) from None
            if data is not None:
                yield from screen._pieces(data)

    hf = HFTokenizer(models.BPE())  # no unk_token: unknown characters never get this far
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=reserved_tokens(n_conditions),
                                  initial_alphabet=list(alpha.symbols), show_progress=False)
    hf.train_from_iterator(pieces(), trainer=trainer)
    return BpeTokenizer(hf.to_str(), alpha, target_vocab_size=vocab_size, chunk=chunk,
                        unknown=unknown, n_conditions=n_conditions)


def _empty_hf(n_conditions: int, letters: str) -> str:
    """HF JSON of a BPE with only the reserved tokens and single letters (no merges)."""
    vocab = {t: i for i, t in enumerate(reserved_tokens(n_conditions) + list(letters))}
    return HFTokenizer(models.BPE(vocab=vocab, merges=[])).to_str()
