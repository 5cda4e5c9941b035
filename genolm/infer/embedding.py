"""Sequence embeddings from a genolm run or a local Hugging Face model: one vector per sequence.

An :class:`Embedder` wraps a model and its tokenizer and turns sequences into pooled vectors::

    emb = Embedder.load("run")                     # or a HF directory (ESM / BERT layouts)
    vecs = emb.embed(["ACGT...", "GGCA..."])       # (n, d) float32, input order

What every vector means (the questions users ask most):

* **Layer.** ``layer=None`` is the model's output (after the final norm); ``layer=k`` is the
  residual stream after block ``k`` (``0`` = the token embeddings, ``n_layers`` = the last
  block, before the final norm).
* **Pooling.** ``mean`` averages the sequence's tokens (no padding, no special tokens); ``max``
  takes the channel-wise maximum; ``last`` is the last token's state (for causal models the only
  position that has seen the whole sequence); ``cls`` is the state of the ``<cls>`` token a
  Hugging Face tokenizer puts first (genolm models have none).
* **Strands.** ``strand="both"`` averages the vector of a sequence with the vector of its reverse
  complement, so a sequence and its reverse complement get the same embedding.
* **Long sequences.** A sequence longer than the model's context is cut into consecutive windows
  of at most ``max_len`` tokens; ``mean`` weights each window's mean by its token count (the mean
  over all tokens), ``max`` takes the maximum over windows, ``last`` the last window's, ``cls`` the
  first window's.
* **Batches** hold sequences (or windows) of similar length, sorted by length within each chunk
  of input, and are cut by a token budget, so padding is a few percent of the compute; a
  sequence's vector does not depend on what else is in its batch (padding is masked).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch

from genolm.errors import GenolmError
from genolm.train.distributed import autocast, compiled, resolve_device

POOLS = ("mean", "max", "last", "cls")
STRANDS = ("forward", "both")


def pad_rows(rows: Sequence[np.ndarray], pad_id: int, device: str, width: int | None = None
             ) -> tuple[torch.Tensor, torch.Tensor]:
    """Token rows right-padded into one (B, width) int64 tensor on ``device``, and its (B, width)
    padding mask (True at padding)."""
    lengths = torch.as_tensor([len(r) for r in rows])
    width = width or int(lengths.max())
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    for r, x in enumerate(rows):
        ids[r, : len(x)] = torch.from_numpy(np.asarray(x, np.int64))
    pad = torch.arange(width)[None, :] >= lengths[:, None]
    return ids.to(device), pad.to(device)


@dataclass
class _Encoded:
    """Token ids of one sequence (or one window of it) and where its vector goes."""

    ids: np.ndarray
    seq: int  # index of the sequence in the call
    weight: int  # tokens pooled (mean weighting across windows)
    first: bool  # the sequence's first window (for cls)
    last: bool  # its last window (for last)


class Embedder:
    """A model + tokenizer that maps sequences to pooled vectors (see the module docstring)."""

    FLUSH_ROWS = 4096  # pooled vectors kept on the device between copies to the host

    def __init__(self, backbone: torch.nn.Module, encode: Callable[[str], np.ndarray], *, pad_id: int,
                 max_len: int, n_layers: int, hidden_size: int, source: str, kind: str,
                 cls_id: int | None = None, special_ids: Sequence[int] = (), alphabet: str = "dna",
                 causal: bool = False, hf: bool = False, device: str = "cpu") -> None:
        self.backbone = backbone.eval()
        self.encode = encode
        self.pad_id, self.cls_id = pad_id, cls_id
        self.special_ids = np.asarray(sorted(set(special_ids) | {pad_id}), np.int64)
        self.max_len, self.n_layers, self.hidden_size = max_len, n_layers, hidden_size
        self.source, self.kind, self.alphabet, self.causal, self.hf = source, kind, alphabet, causal, hf
        self.device = device
        self._compiled = None
        if getattr(backbone, "doc_attention", None) == "auto":
            # A batch here is one sequence per row plus padding, so the padding mask as a dense boolean
            # mask (SDPA, B x T x T bytes: a few MB) is exact and cheap.  Flex attention would compile
            # one kernel per batch shape and, past dynamo's recompile limit, fall back to an eager
            # kernel that materialises every score (seen on 16S sequences of many lengths, one H200);
            # compiled graphs also crash inductor with block masks built inside them (torch 2.11).
            backbone.doc_attention = "dense"

    BUCKET = 128  # compiled: batch widths are rounded up to a multiple of this (one graph per width)

    def compile(self) -> "Embedder":
        """``torch.compile`` the forward pass (fuses norms, rotary and activations; worth it for
        many sequences on a GPU).

        Compiled batches have static shapes: the width is rounded up to a multiple of
        :attr:`BUCKET` tokens (of twice that above 4 x BUCKET, and so on: 128, 256, 384, 512, 768,
        1024, 1536, ...) and every batch of a width has the same number of rows (the last one
        is filled with empty rows), so a file of mixed lengths compiles one graph per width bucket
        instead of recompiling with dynamic shapes. A batch whose rows all have one length keeps
        that exact width (no padding, so no mask)."""
        import torch._dynamo.config as dynamo_config

        # One graph per width bucket (at most 10 below 32 x BUCKET) and per length of which a whole
        # batch is made (uniform inputs: 1 kb fragments, 150 bp reads); past the limit, eager.
        dynamo_config.recompile_limit = max(dynamo_config.recompile_limit, 64)
        self._compiled = compiled(self.backbone.model if self.hf else self.backbone, dynamic=False)
        return self

    def _batch_width(self, width: int) -> int:
        """The padded width of a batch whose longest row has ``width`` tokens."""
        if self._compiled is None:
            return width
        step = self.BUCKET  # finer steps for short rows: at most 10 widths up to 32 x BUCKET, < 50% padding
        while width > 4 * step:
            step *= 2
        return min(-(-width // step) * step, max(self.max_len, width))

    # ---- loading ----------------------------------------------------------------------------------

    @classmethod
    def load(cls, model: str | os.PathLike, device: str = "auto") -> "Embedder":
        """A genolm run directory (from ``genolm pretrain``) or a local Hugging Face model directory."""
        path = Path(model)
        device = resolve_device(device)
        if path.name == "checkpoint" and (path / "meta.json").is_file():
            path = path.parent  # the run's checkpoint folder itself
        if (path / "checkpoint" / "config.json").is_file():
            return cls._load_genolm(path, device)
        if (path / "config.json").is_file():
            return cls._load_hf(path, device)
        raise GenolmError("not a model directory", file=path,
                          expected="a genolm run (with checkpoint/) or a Hugging Face model folder (config.json)",
                          found="a file" if path.is_file() else ("another folder" if path.is_dir() else "nothing"),
                          hint="train one with `genolm pretrain`, or download a HF model to a local folder")

    @classmethod
    def _load_genolm(cls, run: Path, device: str) -> "Embedder":
        from genolm.tokenize.vocab import CLS, PAD, SEP
        from genolm.train.checkpoint import load_model

        model, tok, config = load_model(run, device)
        cfg = model.config

        def encode(seq: str) -> np.ndarray:
            ids = tok.encode(seq)
            if ids is None:  # only with unknown="skip", which the run's tokenizer does not use
                raise GenolmError("sequence has characters outside the model's alphabet")
            return np.asarray(ids, np.int64)

        max_len = cfg.max_len if cfg.family == "transformer" else config.get("window", cfg.max_len)
        return cls(model.backbone, encode, pad_id=PAD, max_len=int(max_len), n_layers=cfg.n_layers,
                   hidden_size=cfg.d_model, source=str(run), kind=f"genolm {cfg.family} {config['objective']}",
                   cls_id=None, special_ids=(SEP, CLS), alphabet=tok.alphabet.name, causal=cfg.causal,
                   device=device)

    @classmethod
    def _load_hf(cls, path: Path, device: str) -> "Embedder":
        from genolm.model.hf import load_hf_backbone

        backbone = load_hf_backbone(path).to(device)
        try:
            import transformers

            verbosity = transformers.logging.get_verbosity()
            transformers.logging.set_verbosity_error()
            try:
                tok = transformers.AutoTokenizer.from_pretrained(path, local_files_only=True, trust_remote_code=False)
            finally:
                transformers.logging.set_verbosity(verbosity)
        except (OSError, ValueError, TypeError) as e:
            raise GenolmError("cannot load the Hugging Face model's tokenizer", file=path,
                              found=str(e).split("\n")[0][:160],
                              hint="the folder needs the tokenizer files it was published with "
                                   "(vocab.txt or tokenizer.json and tokenizer_config.json)") from None

        unk = tok.unk_token_id

        def encode(seq: str) -> np.ndarray:
            ids = np.asarray(tok(seq, add_special_tokens=True)["input_ids"], np.int64)
            if unk is not None and len(ids) and (ids == unk).mean() > 0.1:
                # The silent trap of k-mer tokenizers such as DNABERT's: raw sequence in, <unk> out.
                raise GenolmError("the model's tokenizer turns this sequence into mostly <unk>", file=path,
                                  found=f"{int((ids == unk).sum())} of {len(ids)} tokens unknown",
                                  hint="does it expect pre-split input (e.g. DNABERT's space-separated "
                                       "6-mers)? genolm passes raw sequence; use a model whose tokenizer "
                                       "reads it (NT, DNABERT-2)")
            return ids

        config = backbone.model.config
        max_len = int(getattr(config, "max_position_embeddings", 512))
        if getattr(config, "position_embedding_type", None) == "absolute" and config.model_type == "esm":
            max_len -= 2  # ESM's absolute positions are offset by the padding index
        specials = [i for i in (tok.cls_token_id, tok.sep_token_id, tok.eos_token_id, tok.bos_token_id,
                                tok.pad_token_id, tok.mask_token_id) if i is not None]
        pad = tok.pad_token_id if tok.pad_token_id is not None else 0
        return cls(backbone, encode, pad_id=pad, max_len=max_len, n_layers=int(config.num_hidden_layers),
                   hidden_size=int(config.hidden_size), source=str(path), kind=f"huggingface {config.model_type}",
                   cls_id=tok.cls_token_id, special_ids=specials, alphabet="dna", causal=False, hf=True,
                   device=device)

    # ---- embedding --------------------------------------------------------------------------------

    def check_options(self, pool: str, layer: int | None, strand: str) -> None:
        if pool not in POOLS:
            raise GenolmError("unknown pooling", expected=" | ".join(POOLS), found=repr(pool))
        if strand not in STRANDS:
            raise GenolmError("unknown strand option", expected=" | ".join(STRANDS), found=repr(strand))
        if pool == "cls" and self.cls_id is None:
            raise GenolmError("this model has no <cls> token to pool", found=self.kind,
                              hint="use --pool mean (or last for a causal model)")
        if layer is not None and not 0 <= layer <= self.n_layers:
            raise GenolmError("no such layer", expected=f"0 .. {self.n_layers} (or none: the output)",
                              found=str(layer))
        if strand == "both" and self.alphabet == "protein":
            raise GenolmError("--strand both needs a nucleotide model", found="a protein tokenizer")

    def windows(self, seqs: Sequence[str]) -> list[_Encoded]:
        """Token ids of every sequence, cut into windows of at most ``max_len`` tokens."""
        out = []
        for i, s in enumerate(seqs):
            ids = self.encode(s)
            if self.hf:  # keep the tokenizer's specials at both ends of every window
                head = ids[:1] if len(ids) and ids[0] in self.special_ids else ids[:0]
                tail = ids[-1:] if len(ids) > len(head) and ids[-1] in self.special_ids else ids[:0]
                body = ids[len(head): len(ids) - len(tail)]
                step = max(1, self.max_len - len(head) - len(tail))
            else:
                head = tail = ids[:0]
                body, step = ids, self.max_len
            starts = list(range(0, max(len(body), 1), step))
            for j, lo in enumerate(starts):
                piece = np.concatenate([head, body[lo: lo + step], tail])
                n_real = int((~np.isin(piece, self.special_ids)).sum())
                out.append(_Encoded(piece, i, max(n_real, 1), j == 0, j == len(starts) - 1))
        return out

    @torch.no_grad()
    def embed(self, seqs: Sequence[str], *, pool: str = "mean", layer: int | None = None, strand: str = "forward",
              batch_tokens: int = 16384, progress: Callable[[int], None] | None = None) -> np.ndarray:
        """(len(seqs), hidden_size) float32 vectors, in the order of ``seqs``."""
        self.check_options(pool, layer, strand)
        vecs = self._embed_one_strand(seqs, pool, layer, batch_tokens, progress)
        if strand == "both":
            from genolm.bio.seq import reverse_complement

            rc = [reverse_complement(s, unknown="n") for s in seqs]
            vecs = (vecs + self._embed_one_strand(rc, pool, layer, batch_tokens, None)) / 2
        return vecs

    def _embed_one_strand(self, seqs, pool, layer, batch_tokens, progress) -> np.ndarray:
        pieces = self.windows(seqs)
        order = sorted(range(len(pieces)), key=lambda k: len(pieces[k].ids))
        d = self.hidden_size
        acc = np.zeros((len(seqs), d), np.float32)  # float32: 1.5 GB for 1M x 384, not 3
        total = np.zeros(len(seqs), np.float64)
        if pool == "max":
            acc[:] = -np.inf
        pending: list[tuple[list[_Encoded], torch.Tensor]] = []

        def flush() -> None:  # one device-to-host copy for many batches: the GPU is not stalled per batch
            if not pending:
                return
            vectors = torch.cat([v for _, v in pending]).cpu().numpy()
            row = 0
            for batch, _ in pending:
                for p, v in zip(batch, vectors[row: row + len(batch)]):
                    if pool == "mean":
                        acc[p.seq] += v * p.weight
                        total[p.seq] += p.weight
                    elif pool == "max":
                        acc[p.seq] = np.maximum(acc[p.seq], v)
                    elif (pool == "last" and p.last) or (pool == "cls" and p.first):
                        acc[p.seq] = v
                row += len(batch)
                if progress:
                    progress(sum(1 for p in batch if p.last))
            pending.clear()

        lo, rows = 0, 0
        while lo < len(order):
            width = self._batch_width(len(pieces[order[lo]].ids))
            hi = lo + 1  # grow while the padded batch stays within the token budget
            while hi < len(order):
                grown = max(width, self._batch_width(len(pieces[order[hi]].ids)))
                if (hi - lo + 1) * grown > batch_tokens:
                    break
                width, hi = grown, hi + 1
            batch = [pieces[k] for k in order[lo:hi]]
            n_rows = len(batch)
            if self._compiled is not None:  # static shapes: (rows for this width, width)
                n_rows = max(n_rows, batch_tokens // width)
                if len(batch[0].ids) == len(batch[-1].ids):  # rows of one length (sorted): no padding needed
                    width = len(batch[0].ids)
            out = self._pooled(batch, width, pool, layer, n_rows)
            pending.append((batch, out[:len(batch)]))  # (b, d) float32, on the device
            rows += len(batch)
            if rows >= self.FLUSH_ROWS:
                flush()
                rows = 0
            lo = hi
        flush()
        if pool == "mean":
            acc /= np.maximum(total, 1)[:, None]
        return acc

    def _pooled(self, batch: list[_Encoded], width: int, pool: str, layer: int | None,
                n_rows: int | None = None) -> torch.Tensor:
        empty = np.zeros(0, np.int64)  # filler rows (all padding) up to n_rows: static batch shapes
        rows = [p.ids for p in batch] + [empty] * ((n_rows or len(batch)) - len(batch))
        ids, pad = pad_rows(rows, self.pad_id, self.device, width)
        with autocast(self.device):
            hidden = self._hidden(ids, pad, layer).float()  # (B, T, d)
        keep = ~pad & ~torch.isin(ids, torch.as_tensor(self.special_ids, device=ids.device))  # (B, T)
        if pool == "cls":
            out = hidden[:, 0]
        elif pool == "last":
            T = keep.shape[1]  # the last kept position of each row (0 for a row with none)
            last = torch.where(keep.any(1), T - 1 - keep.flip(1).int().argmax(1), 0)
            out = hidden[torch.arange(len(rows), device=ids.device), last]
        elif pool == "max":
            out = hidden.masked_fill(~keep[..., None], float("-inf")).amax(1)
            out = torch.where(torch.isinf(out), torch.zeros_like(out), out)
        else:
            w = keep[..., None].float()
            out = (hidden * w).sum(1) / w.sum(1).clamp(min=1)
        return out

    def _hidden(self, ids: torch.Tensor, pad: torch.Tensor, layer: int | None) -> torch.Tensor:
        if self.hf:
            model = self.backbone.model if self._compiled is None else self._compiled
            out = model(input_ids=ids, attention_mask=(~pad).long(), output_hidden_states=layer is not None)
            return out.last_hidden_state if layer is None else out.hidden_states[layer]
        # genolm: padding is a document of its own, so no real token attends to it; a causal model
        # never looks right, so its right padding needs no mask (nor does a batch without padding).
        docs = pad.long() if (not self.causal and bool(pad.any())) else None
        return (self.backbone if self._compiled is None else self._compiled)(ids, docs, n_blocks=layer)
