"""Thin heads over a backbone: the language model and a sequence classifier.

Every backbone (transformer, LSTM, CNN, or a Hugging Face model through ``hf.load_hf_backbone``)
has ``hidden_size`` and ``forward(input_ids (B, T), doc_ids=None) -> hidden (B, T, d)``; the heads
here only add a linear layer.  No losses: those live in ``genolm.train``.

>>> from genolm.model.config import config_for
>>> model = build_model(config_for("debug", vocab_size=80))
>>> ids = torch.randint(0, 80, (2, 10))
>>> model(ids).shape, model.hidden_states(ids).shape
(torch.Size([2, 10, 80]), torch.Size([2, 10, 32]))
"""

from __future__ import annotations

import torch
from torch import nn

from genolm.errors import GenolmError
from genolm.model.cnn import DilatedCNNBackbone
from genolm.model.config import ModelConfig
from genolm.model.lstm import LSTMBackbone
from genolm.model.transformer import Transformer
from genolm.tokenize.vocab import PAD

BACKBONES: dict[str, type[nn.Module]] = {
    "transformer": Transformer,
    "lstm": LSTMBackbone,
    "cnn": DilatedCNNBackbone,
}
POOLS = ("mean", "cls", "last")


class LanguageModel(nn.Module):
    """A backbone plus an LM head (d -> vocab, no bias, tied to the embedding by default).

    ``forward`` gives next-token logits for causal models and per-position logits for
    bidirectional ones (MLM); which loss applies is the trainer's business.
    """

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.config = cfg
        self.backbone = BACKBONES[cfg.family](cfg)
        self.lm_head = nn.Linear(cfg.d_model, cfg.vocab_size, bias=False)
        self.init_weights(backbone=False)

    @torch.no_grad()
    def init_weights(self, backbone: bool = True) -> None:
        """(Re-)initialise every weight; for models built on the meta device, call it after
        ``to_empty`` (which unties shared weights: this ties them again)."""
        if backbone:
            self.backbone.init_weights()
        if self.config.tie_embeddings:
            self.lm_head.weight = self.backbone.embed.weight
        else:
            nn.init.normal_(self.lm_head.weight, std=self.config.init_std)

    def hidden_states(self, input_ids: torch.Tensor, doc_ids: torch.Tensor | None = None) -> torch.Tensor:
        """(B, T) ids -> (B, T, d) final-norm hidden states."""
        return self.backbone(input_ids, doc_ids)

    def forward(self, input_ids: torch.Tensor, doc_ids: torch.Tensor | None = None) -> torch.Tensor:
        """(B, T) ids -> (B, T, vocab) logits."""
        return self.lm_head(self.backbone(input_ids, doc_ids))

    def num_params(self, non_embedding: bool = False) -> int:
        """Parameter count (a tied weight counted once); ``non_embedding`` leaves out the token
        embedding and an untied LM head (the convention of scaling-law papers)."""
        n = sum(p.numel() for p in self.parameters())  # parameters() yields a shared weight once
        if non_embedding:
            n -= self.backbone.embed.weight.numel()
            if not self.config.tie_embeddings:
                n -= self.lm_head.weight.numel()
        return n


def build_model(cfg: ModelConfig) -> LanguageModel:
    """The language model of ``cfg.family``.

    Build on the meta device and initialise later for large models::

        with torch.device("meta"):
            model = build_model(cfg)
        model.to_empty(device="cuda"); model.init_weights()
    """
    if not isinstance(cfg, ModelConfig):
        raise GenolmError("build_model needs a ModelConfig", found=type(cfg).__name__,
                          hint="use genolm.model.config_for(flavor, family, vocab_size=...)")
    return LanguageModel(cfg)


# ---- sequence-level heads ------------------------------------------------------------------------

def pool_hidden(hidden: torch.Tensor, input_ids: torch.Tensor, pool: str = "mean",
                pad_id: int | None = PAD) -> torch.Tensor:
    """(B, T, d) hidden states -> (B, d) one vector per sequence.

    ``mean``: average over the non-pad tokens (``input_ids != pad_id``); ``cls``: the first
    token's state (put ``<cls>`` there; for bidirectional models); ``last``: the last non-pad
    token's state (for causal models, the only position that has seen the whole sequence).
    Pads are assumed to sit at the end of each row; ``pad_id=None`` means there are none.
    """
    if pool not in POOLS:
        raise GenolmError("unknown pooling", expected=" | ".join(POOLS), found=repr(pool))
    if pool == "cls":
        return hidden[:, 0]  # (B, d)
    keep = torch.ones_like(input_ids, dtype=torch.bool) if pad_id is None else input_ids != pad_id  # (B, T)
    if pool == "last":
        last = (keep.sum(1) - 1).clamp(min=0)  # (B,)
        return hidden[torch.arange(hidden.shape[0], device=hidden.device), last]  # (B, d)
    w = keep.unsqueeze(-1).to(hidden.dtype)  # (B, T, 1)
    return (hidden * w).sum(1) / w.sum(1).clamp(min=1)  # (B, d); an all-pad row gives zeros


class SequenceClassifier(nn.Module):
    """A backbone, pooled to one vector per sequence, then a linear layer to ``n_classes`` logits.

    ``n_classes=1`` makes it a regressor.  ``pad_id`` defaults to the backbone's (``pad_id``
    attribute, e.g. a Hugging Face model's), else genolm's ``<pad>`` (0).

    >>> from genolm.model.config import config_for
    >>> backbone = build_model(config_for("debug", vocab_size=80, causal=False)).backbone
    >>> SequenceClassifier(backbone, 3)(torch.randint(7, 80, (2, 10))).shape
    torch.Size([2, 3])
    """

    def __init__(self, backbone: nn.Module, n_classes: int, pool: str = "mean", pad_id: int | None = None) -> None:
        super().__init__()
        if not hasattr(backbone, "hidden_size"):
            raise GenolmError("SequenceClassifier needs a backbone", found=type(backbone).__name__,
                              hint="pass model.backbone, not the language model")
        if isinstance(n_classes, bool) or not isinstance(n_classes, int) or n_classes < 1:
            raise GenolmError("bad number of classes", expected="an integer >= 1", found=repr(n_classes))
        if pool not in POOLS:
            raise GenolmError("unknown pooling", expected=" | ".join(POOLS), found=repr(pool))
        self.backbone, self.pool = backbone, pool
        self.pad_id = pad_id if pad_id is not None else getattr(backbone, "pad_id", PAD)
        self.head = nn.Linear(backbone.hidden_size, n_classes)
        nn.init.normal_(self.head.weight, std=0.02)
        nn.init.zeros_(self.head.bias)

    def embed(self, input_ids: torch.Tensor, doc_ids: torch.Tensor | None = None) -> torch.Tensor:
        """(B, T) ids -> (B, d) pooled embeddings."""
        return pool_hidden(self.backbone(input_ids, doc_ids), input_ids, self.pool, self.pad_id)

    def forward(self, input_ids: torch.Tensor, doc_ids: torch.Tensor | None = None) -> torch.Tensor:
        """(B, T) ids -> (B, n_classes) logits."""
        return self.head(self.embed(input_ids, doc_ids))
