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

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, doc_mask=None, kv_out=None) -> torch.Tensor:
        B, T, d = x.shape
        q, k, v = self.project(x, cos, sin)
        if kv_out is not None:  # the keys and values, for a cache
            kv_out.append((k, v))
        p = self.dropout if self.training else 0.0
        if doc_mask is None:
            # No explicit mask, so flash / cuDNN kernels apply.
            y = F.scaled_dot_product_attention(q, k, v, dropout_p=p, is_causal=self.causal)
        elif isinstance(doc_mask, torch.Tensor):
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=doc_mask, dropout_p=p)
        else:  # a flex-attention BlockMask: only the blocks inside documents are computed
            y = flex_attention(q, k, v, block_mask=doc_mask)
        y = y.transpose(1, 2).reshape(B, T, d)  # (B, T, d)
        return self.out(y)


    def forward_cached(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, past_k: torch.Tensor,
                       past_v: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """New tokens ``x`` (B, S, d) after cached keys/values (B, nh, C, hs); ``mask`` (B, 1, S, C + S)
        says which keys each new token may see."""
        B, S, d = x.shape
        q, k, v = self.project(x, cos, sin)
        y = F.scaled_dot_product_attention(q, torch.cat([past_k, k], 2), torch.cat([past_v, v], 2), attn_mask=mask)
        return self.out(y.transpose(1, 2).reshape(B, S, d))

    def forward_static(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, cache_k: torch.Tensor,
                       cache_v: torch.Tensor, start: int) -> torch.Tensor:
        """New tokens ``x`` (B, S, d) at positions start .. start+S-1 of every row: their keys and
        values go into the preallocated cache (B, nh, max_len, hs), and each attends to everything
        before it and to itself."""
        B, S, d = x.shape
        q, k, v = self.project(x, cos, sin)
        cache_k[:, :, start: start + S] = k
        cache_v[:, :, start: start + S] = v
        keys, values = cache_k[:, :, : start + S], cache_v[:, :, : start + S]
        if S == 1:  # one new token: it sees the whole cache
            y = F.scaled_dot_product_attention(q, keys, values)
        elif start == 0:
            y = F.scaled_dot_product_attention(q, keys, values, is_causal=True)
        else:
            mask = torch.ones(S, start + S, dtype=torch.bool, device=x.device).tril(diagonal=start)
            y = F.scaled_dot_product_attention(q, keys, values, attn_mask=mask)
        return self.out(y.transpose(1, 2).reshape(B, S, d))

    def decode_step(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, cache_k: torch.Tensor,
                    cache_v: torch.Tensor, pos: torch.Tensor, visible: torch.Tensor) -> torch.Tensor:
        """One new token per row (B, 1, d) at position ``pos`` ((1,) long tensor): its key and value
        go into the cache, and it attends over the whole cache with ``visible`` (1, cache length) as the
        mask.  Static shapes, no host sync: capturable in a CUDA graph."""
        B, S, d = x.shape
        q, k, v = self.project(x, cos, sin)
        cache_k.index_copy_(2, pos, k)
        cache_v.index_copy_(2, pos, v)
        y = F.scaled_dot_product_attention(q, cache_k, cache_v, attn_mask=visible)
        return self.out(y.transpose(1, 2).reshape(B, S, d))


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
    try:
        import torch.nn.attention.flex_attention  # noqa: F401
    except ImportError:
        return False
    return True


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

    def forward(self, x, cos, sin, doc_mask=None, kv_out=None):
        h = self.attn_norm(x)
        # kv_out only when asked: benchmarks swap in attention variants with the plain signature
        x = x + self.drop(self.attn(h, cos, sin, doc_mask) if kv_out is None else self.attn(h, cos, sin, doc_mask, kv_out))
        x = x + self.drop(self.mlp(self.mlp_norm(x)))
        return x  # (B, T, d)

    def forward_cached(self, x, cos, sin, past_k, past_v, mask):
        x = x + self.attn.forward_cached(self.attn_norm(x), cos, sin, past_k, past_v, mask)
        return x + self.mlp(self.mlp_norm(x))

    def forward_static(self, x, cos, sin, cache_k, cache_v, start: int):
        x = x + self.attn.forward_static(self.attn_norm(x), cos, sin, cache_k, cache_v, start)
        return x + self.mlp(self.mlp_norm(x))

    def decode_step(self, x, cos, sin, cache_k, cache_v, pos, visible):
        x = x + self.attn.decode_step(self.attn_norm(x), cos, sin, cache_k, cache_v, pos, visible)
        return x + self.mlp(self.mlp_norm(x))


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
                n_blocks: int | None = None) -> torch.Tensor:
        """(B, T) ids -> (B, T, d) final-norm states; ``n_blocks=k``: the residual stream after
        the first k blocks instead (no final norm; 0 = the embeddings)."""
        check_inputs(input_ids, doc_ids, self.cfg.max_len)
        T = input_ids.shape[1]
        cos, sin = self.rope_cos[:T], self.rope_sin[:T]  # (T, hs)
        doc_mask = None
        if doc_ids is not None:
            dense = self.doc_attention == "dense" or (
                self.doc_attention == "auto" and not use_flex(input_ids.device, self.cfg.dropout, self.training))
            doc_mask = (document_mask(doc_ids, self.cfg.causal) if dense  # (B, 1, T, T)
                        else document_block_mask(doc_ids, self.cfg.causal))
        x = self.drop(self.embed(input_ids))  # (B, T, d)
        for block in self.layers[:n_blocks]:
            x = block(x, cos, sin, doc_mask)
        return x if n_blocks is not None else self.norm(x)  # (B, T, d)

    @torch.no_grad()
    def forward_kv(self, input_ids: torch.Tensor) -> tuple[torch.Tensor, list[tuple[torch.Tensor, torch.Tensor]]]:
        """Inference of a causal model that also returns every layer's keys and values
        ((B, nh, T, hs) each, keys rotated), to continue from with :meth:`forward_cached`."""
        check_inputs(input_ids, None, self.cfg.max_len)
        if not self.cfg.causal:
            raise GenolmError("a key/value cache needs a causal model")
        T = input_ids.shape[1]
        kv: list = []
        x = self.embed(input_ids)
        for block in self.layers:
            x = block(x, self.rope_cos[:T], self.rope_sin[:T], None, kv)
        return self.norm(x), kv

    @torch.no_grad()
    def forward_cached(self, input_ids: torch.Tensor, positions: torch.Tensor,
                       past: list[tuple[torch.Tensor, torch.Tensor]], past_valid: torch.Tensor) -> torch.Tensor:
        """Hidden states (B, S, d) of new tokens (B, S) at ``positions`` (B, S) after cached keys and
        values (one (B, nh, C, hs) pair per layer) of which ``past_valid`` (B, C) are real: each new
        token sees the valid cached ones and the new ones up to itself.  Exactly the states a full
        causal pass over the cached tokens followed by the new ones gives."""
        B, S = input_ids.shape
        if int(positions.max()) >= self.cfg.max_len:
            raise GenolmError("position beyond the model's max_len", expected=f"< {self.cfg.max_len}",
                              found=str(int(positions.max())))
        causal = torch.ones(S, S, dtype=torch.bool, device=input_ids.device).tril()
        mask = torch.cat([past_valid[:, None, :].expand(B, S, -1), causal.expand(B, S, S)], 2)[:, None]
        cos, sin = self.rope_cos[positions], self.rope_sin[positions]  # (B, S, hs)
        x = self.embed(input_ids)
        for block, (k, v) in zip(self.layers, past):
            x = block.forward_cached(x, cos, sin, k, v, mask)
        return self.norm(x)

    def new_cache(self, batch: int, dtype: torch.dtype, device, length: int | None = None
                  ) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Per-layer key/value buffers (B, nh, length, hs) for :meth:`forward_static` and
        :meth:`decode_step` (``length``: the positions decoding will reach, at most and by default
        max_len; decode_step reads all of them every step), zeroed (its masked keys must be finite)."""
        length = min(length or self.cfg.max_len, self.cfg.max_len)
        shape = (batch, self.cfg.n_heads, length, self.cfg.d_model // self.cfg.n_heads)
        return [(torch.zeros(shape, dtype=dtype, device=device), torch.zeros(shape, dtype=dtype, device=device))
                for _ in self.layers]

    @torch.no_grad()
    def forward_static(self, input_ids: torch.Tensor, start: int,
                       cache: list[tuple[torch.Tensor, torch.Tensor]]) -> torch.Tensor:
        """Hidden states (B, S, d) of tokens (B, S) at positions start .. start+S-1 of every row,
        after the tokens already in ``cache`` (from :meth:`new_cache`), which they join.  Decoding:
        one call with the prompt at start 0, then one per new token."""
        if not self.cfg.causal:
            raise GenolmError("a key/value cache needs a causal model")
        S = input_ids.shape[1]
        if start + S > cache[0][0].shape[2]:
            raise GenolmError("position beyond the cache (the model's max_len at most)",
                              expected=f"<= {cache[0][0].shape[2]}", found=str(start + S))
        cos, sin = self.rope_cos[start: start + S], self.rope_sin[start: start + S]
        x = self.embed(input_ids)
        for block, (k, v) in zip(self.layers, cache):
            x = block.forward_static(x, cos, sin, k, v, start)
        return self.norm(x)

    @torch.no_grad()
    def decode_step(self, input_ids: torch.Tensor, pos: torch.Tensor,
                    cache: list[tuple[torch.Tensor, torch.Tensor]]) -> torch.Tensor:
        """Hidden state (B, d) of one token per row (B, 1) at position ``pos`` (a (1,) long tensor on
        the model's device, inside the cache), after the cached tokens before it: what :meth:`forward_static`
        gives, with static shapes and no host sync (the whole cache is read, masked past ``pos``),
        so the step can be captured in a CUDA graph and replayed as ``pos`` advances."""
        cos, sin = self.rope_cos.index_select(0, pos), self.rope_sin.index_select(0, pos)  # (1, hs)
        visible = (torch.arange(cache[0][0].shape[2], device=pos.device) <= pos)[None]  # (1, cache length)
        x = self.embed(input_ids)
        for block, (k, v) in zip(self.layers, cache):
            x = block.decode_step(x, cos, sin, k, v, pos, visible)
        return self.norm(x)[:, -1]
