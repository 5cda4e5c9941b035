"""The transformer backbone, read top to bottom: norm -> rotary -> attention -> MLP -> block -> model.

Llama-style: pre-norm blocks with RMSNorm, rotary position embeddings, no biases and a SwiGLU MLP;
attention runs through ``scaled_dot_product_attention`` so GPUs use flash kernels.  The same code
is causal (CLM) or bidirectional (MLM) by ``cfg.causal``.  The backbone returns hidden states;
heads and losses live elsewhere.  Single-device math only: parallelism, compile and activation
checkpointing wrap this module from ``genolm.train``.

Rotary embeddings use the *half-split* convention of Hugging Face Llama (channel ``i`` of a head
is rotated with channel ``i + head_dim/2``), so weights export to ``LlamaForCausalLM`` unchanged.

Packed sequences: ``doc_ids`` (B, T) gives each token's document; a document is a run of equal
ids (as the packer writes them).  Attention then stays inside each document, so packed reads never
see each other; with rotary (relative) positions a packed document gets exactly the outputs it
would get alone.  A padded batch can use the same mechanism: give the padding its own doc id.

>>> from genolm.model.config import config_for
>>> model = Transformer(config_for("debug", vocab_size=80))
>>> model(torch.randint(0, 80, (2, 10))).shape
torch.Size([2, 10, 32])
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from genolm.errors import GenolmError
from genolm.model.config import ModelConfig

# ---- inputs shared by every backbone -------------------------------------------------------------

ID_DTYPES = (torch.int64, torch.int32)  # what nn.Embedding indexes with


def check_inputs(input_ids: torch.Tensor, doc_ids: torch.Tensor | None, max_len: int | None = None) -> None:
    """Shapes and dtypes of ``forward(input_ids, doc_ids)``; no device sync (values aren't read)."""
    if not isinstance(input_ids, torch.Tensor) or input_ids.ndim != 2 or input_ids.dtype not in ID_DTYPES:
        found = (f"{input_ids.ndim}-D {input_ids.dtype}" if isinstance(input_ids, torch.Tensor)
                 else type(input_ids).__name__)
        raise GenolmError("input_ids must be a (batch, time) tensor of token ids",
                          expected="a 2-D int64 or int32 tensor", found=found,
                          hint="ids.unsqueeze(0) adds a batch dimension, ids.long() converts uint8/uint16 shards")
    if max_len is not None and input_ids.shape[1] > max_len:
        raise GenolmError("sequence longer than the model's max_len", expected=f"at most {max_len} tokens",
                          found=str(input_ids.shape[1]), hint="cut the input into windows, or build the "
                          "model with a larger max_len")
    if doc_ids is not None and (not isinstance(doc_ids, torch.Tensor) or doc_ids.shape != input_ids.shape
                                or doc_ids.dtype not in ID_DTYPES):
        found = (f"{tuple(doc_ids.shape)} {doc_ids.dtype}" if isinstance(doc_ids, torch.Tensor)
                 else type(doc_ids).__name__)
        raise GenolmError("doc_ids must be an integer tensor shaped like input_ids",
                          expected=f"{tuple(input_ids.shape)} integers", found=found)


def segment_ids(doc_ids: torch.Tensor) -> torch.Tensor:
    """Number the runs of equal ``doc_ids`` in each row: [[7,7,3,3,3,7]] -> [[0,0,1,1,1,2]].

    Every family defines a document as such a run, so they all agree on what "the same document"
    means even if a packer reuses an id.
    """
    change = doc_ids[:, 1:] != doc_ids[:, :-1]  # (B, T-1)
    first = torch.zeros_like(doc_ids[:, :1], dtype=torch.long)  # (B, 1)
    return torch.cat([first, change.long().cumsum(1)], dim=1)  # (B, T) int64


# ---- norm ------------------------------------------------------------------------------------------

class RMSNorm(nn.Module):
    """Root-mean-square norm with a learned gain, computed in float32 (as Llama does)."""

    def __init__(self, dim: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.rms_norm(x.float(), (x.shape[-1],), eps=self.eps).type_as(x) * self.weight

    def reset_parameters(self) -> None:
        nn.init.ones_(self.weight)


# ---- rotary position embedding ---------------------------------------------------------------------

def rotary_tables(head_dim: int, max_len: int, theta: float, device=None) -> tuple[torch.Tensor, torch.Tensor]:
    """cos and sin tables (max_len, head_dim): frequency ``i`` fills channels ``i`` and ``i + head_dim/2``."""
    inv_freq = 1.0 / theta ** (torch.arange(0, head_dim, 2, device=device, dtype=torch.float32) / head_dim)
    t = torch.arange(max_len, device=device, dtype=torch.float32)
    freqs = torch.outer(t, inv_freq)  # (T, hd/2)
    emb = torch.cat([freqs, freqs], dim=-1)  # (T, hd)
    return emb.cos(), emb.sin()


def apply_rotary(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate (first half, second half) channel pairs of ``x`` (..., hs) by position; ``cos`` and
    ``sin`` broadcast against ``x`` (e.g. (T, hs) for (B, nh, T, hs))."""
    x1, x2 = x.chunk(2, dim=-1)  # (B, nh, T, hs/2) each
    rotated = torch.cat([-x2, x1], dim=-1)
    return (x * cos + rotated * sin).type_as(x)


# ---- attention -------------------------------------------------------------------------------------

class Attention(nn.Module):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.n_heads, self.causal, self.dropout = cfg.n_heads, cfg.causal, cfg.dropout
        self.qkv = nn.Linear(cfg.d_model, 3 * cfg.d_model, bias=False)  # q, k, v in one matmul
        self.out = nn.Linear(cfg.d_model, cfg.d_model, bias=False)

    def project(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor):
        """q, k, v (B, nh, T, hs), q and k rotated; ``cos``/``sin`` are (T, hs) or per row (B, T, hs)."""
        B, T, d = x.shape
        qkv = self.qkv(x).view(B, T, 3, self.n_heads, d // self.n_heads)  # (B, T, 3, nh, hs)
        # Rotate q and k together, in the (B, T, ., nh, hs) layout the projection wrote: the backward
        # pass then writes the gradient of qkv in place order (rotating after the transpose to
        # (B, nh, T, hs) made that gradient a strided scatter, 11% of a compiled step at T = 4096).
        c, s = (cos[:, None, None], sin[:, None, None]) if cos.dim() == 2 else (cos[:, :, None, None], sin[:, :, None, None])
        qk = apply_rotary(qkv[:, :, :2], c, s)  # (B, T, 2, nh, hs)
        q, k = (z.transpose(1, 2) for z in qk.unbind(2))  # (B, nh, T, hs) views
        return q, k, qkv[:, :, 2].transpose(1, 2)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, doc_mask=None, cache=None,
                layer: int = 0) -> torch.Tensor:
        B, T, d = x.shape
        q, k, v = self.project(x, cos, sin)
        p = self.dropout if self.training else 0.0
        if cache is not None:  # after the tokens a key/value cache holds (see KVCache)
            y = cache.attend(layer, q, k, v)
        elif doc_mask is None:
            # No explicit mask, so flash / cuDNN kernels apply.
            y = F.scaled_dot_product_attention(q, k, v, dropout_p=p, is_causal=self.causal)
        elif isinstance(doc_mask, torch.Tensor):
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=doc_mask, dropout_p=p)
        else:  # a flex-attention BlockMask: only the blocks inside documents are computed
            y = flex_attention(q, k, v, block_mask=doc_mask)
        y = y.transpose(1, 2).reshape(B, T, d)  # (B, T, d)
        return self.out(y)


# ---- key/value caches ------------------------------------------------------------------------------

class KVCache:
    """Keys and values of the tokens a causal transformer has already read, per layer
    ((B, nh, length, hs) buffers, zeroed: masked keys must be finite), for the one forward:
    ``model(ids, cache=cache)`` reads ``ids`` after what the cache holds, and adds them to it.

    Where the new tokens go:

    - ``cache.start`` (an int, 0 when made): at positions start .. start+S-1 of every row, each
      seeing everything before it and itself; ``start`` then advances by S.  A prompt, then one
      token per call; setting ``start = 0`` refills the cache from the beginning.
    - ``cache.at(position)`` (a (1,) long tensor on the device): a view of the same buffers that
      reads one token per row at that position, with static shapes and no host sync (the whole
      cache is read, masked past the position), so the step can be captured in a CUDA graph; the
      tensor advances in place.

    :meth:`prefix` gives a read-only view for scoring many variants of a sequence after a shared
    start (:class:`PrefixCache`).
    """

    def __init__(self, keys: list[torch.Tensor], values: list[torch.Tensor]) -> None:
        self.keys, self.values = keys, values
        self.start = 0
        self.position: torch.Tensor | None = None
        self._visible = None

    @property
    def length(self) -> int:
        return self.keys[0].shape[2]

    def rotary(self, cos: torch.Tensor, sin: torch.Tensor, S: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The rotary rows of the new tokens (and, for a static step, which cache slots they see)."""
        if self.position is not None:
            self._visible = (torch.arange(self.length, device=self.position.device) <= self.position)[None]
            return cos.index_select(0, self.position), sin.index_select(0, self.position)  # (1, hs)
        if self.start + S > self.length:
            raise GenolmError("position beyond the cache (the model's max_len at most)",
                              expected=f"<= {self.length}", found=str(self.start + S))
        return cos[self.start: self.start + S], sin[self.start: self.start + S]

    def attend(self, layer: int, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """Store the new keys and values (B, nh, S, hs), and attend to the cache up to them."""
        ck, cv = self.keys[layer], self.values[layer]
        if self.position is not None:
            ck.index_copy_(2, self.position, k)
            cv.index_copy_(2, self.position, v)
            return F.scaled_dot_product_attention(q, ck, cv, attn_mask=self._visible)
        start, S = self.start, q.shape[2]
        ck[:, :, start: start + S] = k
        cv[:, :, start: start + S] = v
        keys, values = ck[:, :, : start + S], cv[:, :, : start + S]
        if S == 1:  # one new token: it sees the whole cache
            return F.scaled_dot_product_attention(q, keys, values)
        if start == 0:
            return F.scaled_dot_product_attention(q, keys, values, is_causal=True)
        mask = torch.ones(S, start + S, dtype=torch.bool, device=q.device).tril(diagonal=start)
        return F.scaled_dot_product_attention(q, keys, values, attn_mask=mask)

    def advance(self, S: int) -> None:
        if self.position is not None:
            self.position.add_(1)
        else:
            self.start += S

    def at(self, position: torch.Tensor) -> "KVCache":
        """The same buffers, addressed by a (1,) long position tensor on the device: static shapes
        and no host sync, for a decoding step captured in a CUDA graph."""
        view = KVCache(self.keys, self.values)
        view.position = position
        return view

    def prefix(self, rows: int, upto: int, positions: torch.Tensor, valid: torch.Tensor) -> "PrefixCache":
        """A read-only view of this cache's first ``upto`` slots (filled by one row), shared by
        ``rows`` new rows; see :class:`PrefixCache`."""
        return PrefixCache([k[:, :, :upto].expand(rows, -1, -1, -1) for k in self.keys],
                           [v[:, :, :upto].expand(rows, -1, -1, -1) for v in self.values], positions, valid)


class PrefixCache:
    """Read-only cached keys and values (B, nh, C, hs) of a shared start, for new tokens (B, S) at
    their own ``positions`` (B, S): each new token sees the cached tokens its row marks in
    ``valid`` (B, C) and the row's new tokens up to itself; nothing is stored.  The states are
    exactly those of a full causal pass over the visible cached tokens followed by the new ones
    (``genolm score`` runs each substitution this way after the reference's unchanged start)."""

    def __init__(self, keys, values, positions: torch.Tensor, valid: torch.Tensor) -> None:
        self.keys, self.values, self.positions, self.valid = keys, values, positions, valid
        B, S = positions.shape
        causal = torch.ones(S, S, dtype=torch.bool, device=positions.device).tril()
        self._mask = torch.cat([valid[:, None, :].expand(B, S, -1), causal.expand(B, S, S)], 2)[:, None]

    def rotary(self, cos: torch.Tensor, sin: torch.Tensor, S: int) -> tuple[torch.Tensor, torch.Tensor]:
        if int(self.positions.max()) >= len(cos):
            raise GenolmError("position beyond the model's max_len", expected=f"< {len(cos)}",
                              found=str(int(self.positions.max())))
        return cos[self.positions], sin[self.positions]  # (B, S, hs)

    def attend(self, layer: int, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        return F.scaled_dot_product_attention(q, torch.cat([self.keys[layer], k], 2),
                                              torch.cat([self.values[layer], v], 2), attn_mask=self._mask)

    def advance(self, S: int) -> None:
        pass


def document_mask(doc_ids: torch.Tensor, causal: bool) -> torch.Tensor:
    """(B, 1, T, T) boolean mask: query ``i`` may attend key ``j`` only within its own document
    (and only ``j <= i`` when causal).  Every row allows at least the diagonal, so no NaNs."""
    seg = segment_ids(doc_ids)  # (B, T)
    mask = seg[:, None, :, None] == seg[:, None, None, :]  # (B, 1, T, T)
    if causal:
        T = doc_ids.shape[1]
        mask = mask & torch.ones(T, T, dtype=torch.bool, device=doc_ids.device).tril()
    return mask


def document_block_mask(doc_ids: torch.Tensor, causal: bool):
    """The same mask as :func:`document_mask` as a flex-attention ``BlockMask``: 128 x 128 tiles
    that cross no document boundary are skipped, so packed short reads cost attention in
    proportion to their own lengths, not to the row's."""
    from torch.nn.attention.flex_attention import create_block_mask

    seg = segment_ids(doc_ids)  # (B, T)

    def same_doc(b, h, q, kv):
        keep = seg[b, q] == seg[b, kv]
        return keep & (q >= kv) if causal else keep

    B, T = doc_ids.shape
    return create_block_mask(same_doc, B, None, T, T, device=doc_ids.device)


def _flex_attention():
    from torch.nn.attention.flex_attention import flex_attention as flex

    # Compiled once per process: eager flex attention materialises the whole score matrix.
    return torch.compile(flex, dynamic=False)


_FLEX = None


def flex_attention(q, k, v, block_mask):
    global _FLEX
    if torch.compiler.is_compiling() or q.device.type != "cuda":
        from torch.nn.attention.flex_attention import flex_attention as flex

        return flex(q, k, v, block_mask=block_mask)
    if _FLEX is None:
        _FLEX = _flex_attention()
    return _FLEX(q, k, v, block_mask=block_mask)


def use_flex(device: torch.device, dropout: float, training: bool) -> bool:
    """Flex attention for document masks on CUDA (no dropout in its kernels); a dense mask elsewhere."""
    if device.type != "cuda" or (dropout and training):
        return False
    import importlib.util

    return importlib.util.find_spec("torch.nn.attention.flex_attention") is not None


# ---- MLP -------------------------------------------------------------------------------------------

class SwiGLU(nn.Module):
    """down(silu(gate(x)) * up(x)): the gated MLP of Llama / PaLM."""

    def __init__(self, d_model: int, d_ff: int) -> None:
        super().__init__()
        self.gate = nn.Linear(d_model, d_ff, bias=False)
        self.up = nn.Linear(d_model, d_ff, bias=False)
        self.down = nn.Linear(d_ff, d_model, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down(F.silu(self.gate(x)) * self.up(x))  # (B, T, d_ff) -> (B, T, d)


# ---- block -----------------------------------------------------------------------------------------

class Block(nn.Module):
    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.attn_norm = RMSNorm(cfg.d_model, cfg.norm_eps)
        self.attn = Attention(cfg)
        self.mlp_norm = RMSNorm(cfg.d_model, cfg.norm_eps)
        self.mlp = SwiGLU(cfg.d_model, cfg.d_ff)
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, x, cos, sin, doc_mask=None, cache=None, layer: int = 0):
        h = self.attn_norm(x)
        if cache is not None:  # decoding: no dropout, and no module-call overhead per token (no hooks here)
            x = x + self.attn.forward(h, cos, sin, None, cache, layer)
            return x + self.mlp(self.mlp_norm(x))
        # the plain call: benchmarks swap in attention variants with this signature
        x = x + self.drop(self.attn(h, cos, sin, doc_mask))
        x = x + self.drop(self.mlp(self.mlp_norm(x)))
        return x  # (B, T, d)


# ---- model -----------------------------------------------------------------------------------------

class Transformer(nn.Module):
    """Token ids (B, T) -> hidden states (B, T, d), final norm applied."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.hidden_size = cfg.d_model
        # How packed documents are kept apart: "auto" (flex attention on CUDA, else a dense mask),
        # "flex" or "dense".  A run-time choice, not part of the architecture.
        self.doc_attention = "auto"
        self.embed = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.drop = nn.Dropout(cfg.dropout)
        self.layers = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layers))
        self.norm = RMSNorm(cfg.d_model, cfg.norm_eps)
        # Derived from the config, so not saved in checkpoints (persistent=False).
        cos, sin = rotary_tables(cfg.head_dim, cfg.max_len, cfg.rope_theta)
        self.register_buffer("rope_cos", cos, persistent=False)
        self.register_buffer("rope_sin", sin, persistent=False)
        self.init_weights()

    @torch.no_grad()
    def init_weights(self) -> None:
        """normal(0, init_std) everywhere; the two residual output projections of each block get
        init_std / sqrt(2 n_layers) so the residual stream's variance doesn't grow with depth.
        Also recomputes the rotary tables (for models built on the meta device, then materialised)."""
        std = self.cfg.init_std
        nn.init.normal_(self.embed.weight, std=std)
        for block in self.layers:
            for lin in (block.attn.qkv, block.mlp.gate, block.mlp.up):
                nn.init.normal_(lin.weight, std=std)
            for lin in (block.attn.out, block.mlp.down):
                nn.init.normal_(lin.weight, std=std / math.sqrt(2 * self.cfg.n_layers))
            block.attn_norm.reset_parameters()
            block.mlp_norm.reset_parameters()
        self.norm.reset_parameters()
        if self.rope_cos.device.type != "meta":
            cos, sin = rotary_tables(self.cfg.head_dim, self.cfg.max_len, self.cfg.rope_theta, self.rope_cos.device)
            self.rope_cos.copy_(cos)
            self.rope_sin.copy_(sin)

    def forward(self, input_ids: torch.Tensor, doc_ids: torch.Tensor | None = None,
                n_blocks: int | None = None, cache: "KVCache | PrefixCache | None" = None) -> torch.Tensor:
        """(B, T) ids -> (B, T, d) final-norm states; ``n_blocks=k``: the residual stream after
        the first k blocks instead (no final norm; 0 = the embeddings).  With a ``cache`` (causal
        models; see :class:`KVCache`), the tokens are read after what the cache holds: one pass
        over a prompt, then one token at a time, gives the states of one pass over everything."""
        check_inputs(input_ids, doc_ids, self.cfg.max_len)
        T = input_ids.shape[1]
        if cache is not None:
            if not self.cfg.causal:
                raise GenolmError("a key/value cache needs a causal model")
            cos, sin = cache.rotary(self.rope_cos, self.rope_sin, T)
        else:
            cos, sin = self.rope_cos[:T], self.rope_sin[:T]  # (T, hs)
        doc_mask = None
        if doc_ids is not None:
            dense = self.doc_attention == "dense" or (
                self.doc_attention == "auto" and not use_flex(input_ids.device, self.cfg.dropout, self.training))
            doc_mask = (document_mask(doc_ids, self.cfg.causal) if dense  # (B, 1, T, T)
                        else document_block_mask(doc_ids, self.cfg.causal))
        x = self.embed(input_ids) if cache is not None else self.drop(self.embed(input_ids))  # (B, T, d)
        for i, block in enumerate(self.layers[:n_blocks]):
            x = block(x, cos, sin, doc_mask) if cache is None else block.forward(x, cos, sin, None, cache, i)
        if cache is not None:
            cache.advance(T)
        return x if n_blocks is not None else self.norm(x)  # (B, T, d)

    def new_cache(self, batch: int, dtype: torch.dtype, device, length: int | None = None) -> KVCache:
        """An empty :class:`KVCache` of ``batch`` rows and ``length`` positions (the positions
        decoding will reach: at most and by default max_len; a static step reads all of them)."""
        length = min(length or self.cfg.max_len, self.cfg.max_len)
        shape = (batch, self.cfg.n_heads, length, self.cfg.d_model // self.cfg.n_heads)
        return KVCache([torch.zeros(shape, dtype=dtype, device=device) for _ in self.layers],
                       [torch.zeros(shape, dtype=dtype, device=device) for _ in self.layers])
