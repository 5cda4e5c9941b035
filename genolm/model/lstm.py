"""LSTM baseline backbone, with the transformer's interface: ids (B, T) -> hidden states (B, T, d).

embedding -> n_layers residual LSTM blocks -> RMSNorm.  Each block is pre-norm and residual,
``x + out(LSTM(norm(x)))``, so stacks as deep as the transformer flavors still train (a plain
12-layer stacked LSTM does not train well).  Causal models run each LSTM forward in time only;
bidirectional ones run both directions and project the ``2h`` outputs back to ``d``.

Packed sequences: with ``doc_ids`` every document is run as its own sequence (the state starts
from zero at each document boundary, in both directions), through ``pack_padded_sequence``; a
packed document gets exactly the outputs it would get alone.  That costs memory for
(number of documents) x (longest document) positions; without ``doc_ids`` each row is one
sequence and no repacking happens.

>>> from genolm.model.config import config_for
>>> model = LSTMBackbone(config_for("debug", "lstm", vocab_size=80))
>>> model(torch.randint(0, 80, (2, 10))).shape
torch.Size([2, 10, 32])
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence

from genolm.errors import GenolmError
from genolm.model.config import ModelConfig
from genolm.model.transformer import RMSNorm, check_inputs, segment_ids


class LSTMBlock(nn.Module):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        directions = 1 if cfg.causal else 2
        self.norm = RMSNorm(cfg.d_model, cfg.norm_eps)
        self.lstm = nn.LSTM(cfg.d_model, cfg.lstm_hidden, batch_first=True, bidirectional=not cfg.causal)
        self.out = nn.Linear(directions * cfg.lstm_hidden, cfg.d_model, bias=False)
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, x: torch.Tensor | PackedSequence) -> torch.Tensor | PackedSequence:
        if isinstance(x, PackedSequence):
            # norm, out and the residual are per token, so they act on the packed rows directly.
            h, _ = self.lstm(x._replace(data=self.norm(x.data)))  # data: (N, dirs*h)
            return x._replace(data=x.data + self.drop(self.out(h.data)))  # data: (N, d)
        h, _ = self.lstm(self.norm(x))  # (B, T, dirs*h)
        return x + self.drop(self.out(h))  # (B, T, d)


class LSTMBackbone(nn.Module):
    """Token ids (B, T) -> hidden states (B, T, d), final norm applied."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.hidden_size = cfg.d_model
        self.embed = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.drop = nn.Dropout(cfg.dropout)
        self.layers = nn.ModuleList(LSTMBlock(cfg) for _ in range(cfg.n_layers))
        self.norm = RMSNorm(cfg.d_model, cfg.norm_eps)
        self.init_weights()

    @torch.no_grad()
    def init_weights(self) -> None:
        """Embedding and projections normal(0, init_std) (output projections scaled by
        1/sqrt(n_layers), one residual branch per block); the LSTM gates keep PyTorch's
        uniform(+-1/sqrt(h)) init, which suits their saturating nonlinearities."""
        std = self.cfg.init_std
        nn.init.normal_(self.embed.weight, std=std)
        for block in self.layers:
            block.lstm.reset_parameters()
            nn.init.normal_(block.out.weight, std=std / self.cfg.n_layers ** 0.5)
            block.norm.reset_parameters()
        self.norm.reset_parameters()

    def forward(self, input_ids: torch.Tensor, doc_ids: torch.Tensor | None = None,
                n_blocks: int | None = None) -> torch.Tensor:
        """(B, T) ids -> (B, T, d) final-norm states; ``n_blocks=k``: the residual stream after
        the first k blocks instead (no final norm; 0 = the embeddings)."""
        check_inputs(input_ids, doc_ids)
        x = self.drop(self.embed(input_ids))  # (B, T, d)
        norm = self.norm if n_blocks is None else (lambda h: h)
        if doc_ids is None:
            for block in self.layers[:n_blocks]:
                x = block(x)
            return norm(x)
        packed, (seg, pos) = pack_documents(x, doc_ids)
        for block in self.layers[:n_blocks]:
            packed = block(packed)
        return norm(unpack_documents(packed, seg, pos))  # (B, T, d)


    @torch.no_grad()
    def forward_step(self, input_ids: torch.Tensor, state: list | None = None) -> tuple[torch.Tensor, list]:
        """Hidden states (B, S, d) of tokens (B, S) that follow what ``state`` has read (per layer
        the LSTM's (h, c); None: nothing yet), and the state after them: a causal model decodes
        one token per call, with the work of one step and no window."""
        if not self.cfg.causal:
            raise GenolmError("step-by-step decoding needs a causal (one-direction) LSTM")
        x = self.embed(input_ids)
        new = []
        for i, block in enumerate(self.layers):
            h, st = block.lstm(block.norm(x), None if state is None else state[i])
            x = x + block.out(h)
            new.append(st)
        return self.norm(x), new


def pack_documents(x: torch.Tensor, doc_ids: torch.Tensor):
    """Cut each row of ``x`` (B, T, d) into its documents and pack them as separate sequences.

    Returns the PackedSequence and the (global document index, position in document) of every
    token, both (B, T), which :func:`unpack_documents` uses to put the tokens back.
    """
    B, T, d = x.shape
    seg = segment_ids(doc_ids)  # (B, T), 0.. within each row
    seg = seg + torch.cat([seg.new_zeros(1), (seg[:, -1] + 1).cumsum(0)[:-1]])[:, None]  # global over rows
    n_docs = int(seg[-1, -1]) + 1
    lengths = torch.bincount(seg.flatten(), minlength=n_docs)  # (S,)
    starts = torch.cumsum(lengths, 0) - lengths  # first flat index of each document
    pos = torch.arange(B * T, device=x.device).view(B, T) - starts[seg]  # (B, T)
    padded = x.new_zeros(n_docs, int(lengths.max()), d)  # (S, L, d)
    padded[seg, pos] = x
    return pack_padded_sequence(padded, lengths.cpu(), batch_first=True, enforce_sorted=False), (seg, pos)


def unpack_documents(packed: PackedSequence, seg: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`pack_documents`: (B, T, d) in the original token order."""
    padded, _ = nn.utils.rnn.pad_packed_sequence(packed, batch_first=True)  # (S, L, d)
    return padded[seg, pos]
