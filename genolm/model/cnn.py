"""Dilated CNN baseline backbone, with the transformer's interface: ids (B, T) -> hidden (B, T, d).

A block is the transformer block with attention swapped for a convolution::

    x = x + mix(conv(norm(x)))   # depthwise dilated Conv1d along time, then a gated pointwise mix
    x = x + mlp(norm(x))         # the transformer's SwiGLU

Layer ``i`` uses dilation ``cfg.dilations[i % len]``, so the receptive field grows geometrically
over each cycle: ``1 + (kernel_size - 1) * sum(dilations used)`` tokens.  Causal models pad on the
left only, so position ``t`` sees positions ``<= t``; bidirectional ones pad both sides equally.

Packed sequences: with ``doc_ids`` each kernel tap that would read across a document boundary
reads zero instead, exactly as if the document were alone and zero-padded; a packed document
gets the outputs it would get alone.  That path sums the taps one by one (a little slower than
the cuDNN convolution used without ``doc_ids``).

>>> from genolm.model.config import config_for
>>> model = DilatedCNNBackbone(config_for("debug", "cnn", vocab_size=80))
>>> model(torch.randint(0, 80, (2, 10))).shape
torch.Size([2, 10, 32])
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from genolm.model.config import ModelConfig
from genolm.model.transformer import RMSNorm, SwiGLU, check_inputs, segment_ids


class DilatedConv(nn.Module):
    """Depthwise dilated convolution along time (one kernel per channel), on (B, T, d)."""

    def __init__(self, d_model: int, kernel_size: int, dilation: int, causal: bool) -> None:
        super().__init__()
        self.kernel_size, self.dilation = kernel_size, dilation
        span = (kernel_size - 1) * dilation
        self.pad = (span, 0) if causal else (span // 2, span // 2)  # (left, right)
        self.weight = nn.Parameter(torch.empty(d_model, 1, kernel_size))  # (d, 1, k), as Conv1d

    def forward(self, x: torch.Tensor, seg: torch.Tensor | None = None) -> torch.Tensor:
        if seg is None:
            xt = F.pad(x.transpose(1, 2), self.pad)  # (B, d, pad + T + pad)
            return F.conv1d(xt, self.weight, dilation=self.dilation, groups=x.shape[-1]).transpose(1, 2)
        # Tap j reads position t - left + j*dilation; it counts only inside t's own document.
        T = x.shape[1]
        left, right = self.pad
        xp = F.pad(x, (0, 0, left, right))  # (B, pad + T + pad, d)
        sp = F.pad(seg, (left, right), value=-1)  # (B, pad + T + pad); -1 = outside every row
        y = torch.zeros_like(x)
        for j in range(self.kernel_size):
            s = j * self.dilation
            same = (sp[:, s:s + T] == seg).unsqueeze(-1)  # (B, T, 1)
            y = y + xp[:, s:s + T] * same * self.weight[:, 0, j]
        return y  # (B, T, d)


class ConvBlock(nn.Module):
    def __init__(self, cfg: ModelConfig, dilation: int) -> None:
        super().__init__()
        d = cfg.d_model
        self.conv_norm = RMSNorm(d, cfg.norm_eps)
        self.conv = DilatedConv(d, cfg.kernel_size, dilation, cfg.causal)
        self.mix_in = nn.Linear(d, 2 * d, bias=False)  # gated pointwise mix across channels
        self.mix_out = nn.Linear(d, d, bias=False)
        self.mlp_norm = RMSNorm(d, cfg.norm_eps)
        self.mlp = SwiGLU(d, cfg.d_ff)
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, x: torch.Tensor, seg: torch.Tensor | None = None) -> torch.Tensor:
        a, b = self.mix_in(self.conv(self.conv_norm(x), seg)).chunk(2, dim=-1)  # (B, T, d) each
        x = x + self.drop(self.mix_out(F.silu(a) * b))
        x = x + self.drop(self.mlp(self.mlp_norm(x)))
        return x  # (B, T, d)


class DilatedCNNBackbone(nn.Module):
    """Token ids (B, T) -> hidden states (B, T, d), final norm applied."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.hidden_size = cfg.d_model
        self.embed = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.drop = nn.Dropout(cfg.dropout)
        self.layers = nn.ModuleList(ConvBlock(cfg, cfg.dilations[i % len(cfg.dilations)])
                                    for i in range(cfg.n_layers))
        self.norm = RMSNorm(cfg.d_model, cfg.norm_eps)
        self.init_weights()

    @property
    def receptive_field(self) -> int:
        """How many tokens one output position can see (itself included)."""
        return 1 + (self.cfg.kernel_size - 1) * sum(b.conv.dilation for b in self.layers)

    @torch.no_grad()
    def init_weights(self) -> None:
        """As the transformer: normal(0, init_std), residual outputs scaled by 1/sqrt(2 n_layers);
        the depthwise kernels start as normal(0, 1/sqrt(k)), like a unit-variance average."""
        std, n = self.cfg.init_std, self.cfg.n_layers
        nn.init.normal_(self.embed.weight, std=std)
        for block in self.layers:
            nn.init.normal_(block.conv.weight, std=1 / math.sqrt(self.cfg.kernel_size))
            for lin in (block.mix_in, block.mlp.gate, block.mlp.up):
                nn.init.normal_(lin.weight, std=std)
            for lin in (block.mix_out, block.mlp.down):
                nn.init.normal_(lin.weight, std=std / math.sqrt(2 * n))
            block.conv_norm.reset_parameters()
            block.mlp_norm.reset_parameters()
        self.norm.reset_parameters()

    def forward(self, input_ids: torch.Tensor, doc_ids: torch.Tensor | None = None,
                n_blocks: int | None = None) -> torch.Tensor:
        """(B, T) ids -> (B, T, d) final-norm states; ``n_blocks=k``: the residual stream after
        the first k blocks instead (no final norm; 0 = the embeddings)."""
        check_inputs(input_ids, doc_ids)
        seg = None if doc_ids is None else segment_ids(doc_ids)  # (B, T)
        x = self.drop(self.embed(input_ids))  # (B, T, d)
        for block in self.layers[:n_blocks]:
            x = block(x, seg)
        return x if n_blocks is not None else self.norm(x)  # (B, T, d)
