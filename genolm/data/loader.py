"""Batches for training: stateless, seeded, sharded by rank — so resuming is exact.

The batch of step ``s`` on rank ``r`` of ``w`` is a pure function of (seed, s, r, w): window
indices come from a seeded permutation of the split's windows, re-drawn every epoch.  Nothing
about the data position has to be saved beyond the step number, and a run resumed at step ``s``
sees exactly the batches an uninterrupted run would have seen.  Each rank reads its own slice
of the global batch.

Also here: the training-time transforms that act on token ids — reverse-complement augmentation
and MLM masking (80% ``<mask>``, 10% a random symbol, 10% unchanged) — and the document ids of
packed windows (records are separated by ``<sep>``).

>>> import numpy as np
>>> from genolm.data.shards import TokenWindows
>>> w = TokenWindows([np.arange(100, dtype=np.uint8)], window=10, stride=10, seed=0)
>>> b = BatchSampler(w, batch_size=4, seed=0)
>>> b.indices(step=0).tolist() == b.indices(step=0).tolist()
True
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from genolm.data.shards import TokenWindows
from genolm.errors import GenolmError
from genolm.tokenize import MASK, SEP


@dataclass
class BatchSampler:
    """Global batch ``batch_size`` (all ranks together) of windows for any step, statelessly."""

    windows: TokenWindows
    batch_size: int
    seed: int = 0
    rank: int = 0
    world: int = 1

    def __post_init__(self) -> None:
        if len(self.windows) == 0:
            raise GenolmError("no training windows: the corpus is shorter than one window",
                              hint="prepare with a smaller --window, or add data")
        if self.batch_size % self.world:
            raise GenolmError("the global batch must divide evenly over the ranks",
                              expected=f"a multiple of {self.world}", found=str(self.batch_size))
        self._perm_epoch = -1
        self._perm = None

    @property
    def per_rank(self) -> int:
        return self.batch_size // self.world

    def _permutation(self, epoch: int) -> np.ndarray:
        if epoch != self._perm_epoch:
            rng = np.random.default_rng([self.seed, epoch])
            self._perm = rng.permutation(len(self.windows))
            self._perm_epoch = epoch
        return self._perm

    def indices(self, step: int) -> np.ndarray:
        """(per_rank,) window indices of this rank at ``step``."""
        n = len(self.windows)
        start = step * self.batch_size + self.rank * self.per_rank
        pos = np.arange(start, start + self.per_rank)
        out = np.empty(self.per_rank, np.int64)
        for epoch in np.unique(pos // n):  # a batch may straddle two epochs
            sel = pos // n == epoch
            out[sel] = self._permutation(int(epoch))[pos[sel] % n]
        return out

    def batch(self, step: int) -> torch.Tensor:
        """(per_rank, window) int64 token ids of this rank at ``step``."""
        rows = [np.asarray(self.windows.at(int(i)), dtype=np.int64) for i in self.indices(step)]
        return torch.from_numpy(np.stack(rows))


def doc_ids(ids: torch.Tensor) -> torch.Tensor:
    """(B, T) document index of every position: records in a packed window are separated by
    <sep>, which opens the next document (so a record never attends across it)."""
    return torch.cumsum(ids == SEP, dim=1)


def complement_table(tok) -> torch.Tensor | None:
    """(V,) id -> id of its complement for single-letter nucleotide tokenizers, else None."""
    if getattr(tok, "kind", None) != "char" or tok.alphabet.name not in ("dna", "rna"):
        return None
    from genolm.bio.seq import complement

    table = torch.arange(tok.vocab_size)
    for i in range(tok.first_symbol_id, tok.vocab_size):
        letter = tok.id_to_token(i)
        table[i] = tok.token_to_id(complement(letter, rna=tok.alphabet.name == "rna"))
    return table


def reverse_complement_ids(ids: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
    """(B, T) reverse complement of token rows (specials map to themselves)."""
    return table[ids].flip(1)


def augment_rc(ids: torch.Tensor, table: torch.Tensor | None, generator: torch.Generator) -> torch.Tensor:
    """Reverse-complement a random half of the rows (both strands are equally real DNA)."""
    if table is None:
        return ids
    flip = torch.rand(ids.shape[0], generator=generator) < 0.5
    if flip.any():
        ids = ids.clone()
        ids[flip] = reverse_complement_ids(ids[flip], table)
    return ids


def mask_for_mlm(ids: torch.Tensor, tok, prob: float, generator: torch.Generator
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """BERT masking of sequence tokens: ``prob`` of them are targets; of those 80% become <mask>,
    10% a random symbol, 10% stay. Returns (inputs, targets) with targets -100 where unscored."""
    symbol = ids >= tok.first_symbol_id
    chosen = (torch.rand(ids.shape, generator=generator) < prob) & symbol
    targets = torch.where(chosen, ids, torch.full_like(ids, -100))
    roll = torch.rand(ids.shape, generator=generator)
    inputs = ids.clone()
    inputs[chosen & (roll < 0.8)] = MASK
    random_pos = chosen & (roll >= 0.8) & (roll < 0.9)
    inputs[random_pos] = torch.randint(tok.first_symbol_id, tok.vocab_size, (int(random_pos.sum()),),
                                       generator=generator)
    return inputs, targets


def step_generator(seed: int, step: int, rank: int) -> torch.Generator:
    """The random stream of one step on one rank (augmentation, masking): reproducible on resume."""
    return torch.Generator().manual_seed(int(np.random.SeedSequence([seed, step, rank]).generate_state(1)[0]))
