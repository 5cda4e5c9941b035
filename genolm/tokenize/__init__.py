"""Tokenizers for DNA, RNA and protein, chosen by a spec string, sharing one id layout.

=============  ==============================================================================
spec           tokens
=============  ==============================================================================
``char``       one nucleotide (IUPAC codes included) or, with ``alphabet="protein"``, one residue
``aa``         one amino acid (``char`` over protein)
``kmer:K``     non-overlapping K-mers, lossless (N-blocks and the tail become single letters)
``kmer:K:S``   K-mers every S bases (``kmer:6:1`` = overlapping, DNABERT); N-windows -> ``<nkmer>``
``codon``      non-overlapping 3-mers in frame 0, DNA or RNA
``bpe:V``      byte-pair encoding with V ids, trained by :func:`train_bpe` (DNABERT-2)
=============  ==============================================================================

Ids 0..6 are ``<pad> <unk> <bos> <eos> <mask> <sep> <cls>``, then 64 ``<cond_i>`` tokens
(``tok.condition_id(i)``), then the sequence symbols. Unknown characters raise
:class:`~genolm.errors.GenolmError` unless ``unknown="n"`` (replace with N/X) or ``"skip"``.

>>> tok = get_tokenizer("kmer:3")
>>> ids = tok.encode("ACGTAcgn")
>>> tok.decode(ids), int(tok.advance[ids].sum())
('ACGTACGN', 8)
"""

from __future__ import annotations

import os

from genolm.tokenize.bpe import BpeTokenizer, train_bpe
from genolm.tokenize.lookup import AaTokenizer, CharTokenizer, CodonTokenizer, KmerTokenizer
from genolm.tokenize.vocab import (BOS, CLS, EOS, MASK, N_CONDITIONS, PAD, SEP, SPECIAL_TOKENS, UNK, Tokenizer,
                                   reserved_tokens)

__all__ = [
    "get_tokenizer", "load_tokenizer", "train_bpe", "Tokenizer", "CharTokenizer", "AaTokenizer",
    "KmerTokenizer", "CodonTokenizer", "BpeTokenizer", "SPECIAL_TOKENS", "N_CONDITIONS",
    "reserved_tokens", "PAD", "UNK", "BOS", "EOS", "MASK", "SEP", "CLS",
]


def get_tokenizer(spec: str | os.PathLike, alphabet: str | None = None, **kw) -> Tokenizer:
    """A tokenizer from a spec string, or from a saved JSON file path.

    ``alphabet`` defaults to ``dna`` (``protein`` for ``aa``); ``kw`` are ``case``, ``unknown``
    and ``n_conditions``.

    >>> get_tokenizer("kmer:6:1").describe()["stride"]
    1
    >>> get_tokenizer("char", alphabet="rna").encode("ACGU").tolist()
    [71, 72, 73, 74]
    """
    if isinstance(spec, os.PathLike) or (isinstance(spec, str) and spec.endswith(".json")):
        return load_tokenizer(spec)
    return Tokenizer.from_spec(spec, alphabet, **kw)


def load_tokenizer(path: str | os.PathLike) -> Tokenizer:
    """Read a tokenizer written by ``tok.save(path)``, any kind, exactly as it was.

    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "tok.json")
    >>> get_tokenizer("codon").save(path); load_tokenizer(path).spec
    'codon'
    """
    return Tokenizer.load(path)
