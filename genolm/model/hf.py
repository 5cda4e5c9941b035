"""Hugging Face interop: export causal transformers as ``LlamaForCausalLM``; load HF encoders as backbones.

Export writes a directory any ``transformers`` user loads with a standard class, no genolm needed::

    export_llama(model, "tokenizer.json", "out/")   # config.json + model.safetensors
    LlamaForCausalLM.from_pretrained("out/")        # same logits (checked by a parity test)

genolm's transformer *is* a Llama (RMSNorm, half-split rotary, bias-free attention, SwiGLU), so the
export only renames weights and splits the fused q/k/v projection.  The genolm tokenizer is
copied beside it as ``genolm_tokenizer.json`` (it is not a HF ``tokenizer.json``), and
``config.json`` carries the genolm ``ModelConfig`` under the key ``genolm``.

Loading goes the other way for encoders published on the Hub (the Nucleotide Transformer's
``EsmForMaskedLM`` layout, DNABERT-style ``BertModel``): :func:`load_hf_backbone` reads a *local*
directory (no downloads, no remote code, safetensors or ``weights_only`` pickles through
``transformers``) and returns a backbone with genolm's interface.  ``transformers`` is imported
only when loading.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import torch
from torch import nn

from genolm import __version__
from genolm.errors import GenolmError
from genolm.io.atomic import atomic_dir
from genolm.model.config import ModelConfig
from genolm.model.lm import LanguageModel
from genolm.model.transformer import check_inputs, segment_ids
from genolm.tokenize import load_tokenizer
from genolm.tokenize.vocab import BOS, EOS, PAD

TOKENIZER_FILE = "genolm_tokenizer.json"
SUPPORTED = {"esm": "EsmModel / EsmForMaskedLM (Nucleotide Transformer)",
             "bert": "BertModel / BertForMaskedLM"}


# ---- export ----------------------------------------------------------------------------------------

def llama_config(cfg: ModelConfig, dtype: torch.dtype = torch.float32) -> dict:
    """The ``config.json`` of the ``LlamaForCausalLM`` equivalent to a causal transformer ``cfg``."""
    dtype_name = str(dtype).removeprefix("torch.")
    return {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "vocab_size": cfg.vocab_size,
        "hidden_size": cfg.d_model,
        "intermediate_size": cfg.d_ff,
        "num_hidden_layers": cfg.n_layers,
        "num_attention_heads": cfg.n_heads,
        "num_key_value_heads": cfg.n_heads,
        "head_dim": cfg.head_dim,
        "hidden_act": "silu",
        "max_position_embeddings": cfg.max_len,
        "rms_norm_eps": cfg.norm_eps,
        # transformers < 5 reads rope_theta, >= 5 reads rope_parameters: write both.
        "rope_theta": cfg.rope_theta,
        "rope_parameters": {"rope_type": "default", "rope_theta": cfg.rope_theta},
        "attention_bias": False,
        "attention_dropout": 0.0,
        "mlp_bias": False,
        "tie_word_embeddings": cfg.tie_embeddings,
        "initializer_range": cfg.init_std,
        "pretraining_tp": 1,
        "use_cache": True,
        "pad_token_id": PAD,
        "bos_token_id": BOS,
        "eos_token_id": EOS,
        "dtype": dtype_name,
    }


def llama_state_dict(model: LanguageModel) -> dict[str, torch.Tensor]:
    """genolm transformer weights under Llama's parameter names (fused q/k/v split in three)."""
    sd = model.state_dict()
    d, tied = model.config.d_model, model.config.tie_embeddings
    out = {"model.embed_tokens.weight": sd["backbone.embed.weight"],
           "model.norm.weight": sd["backbone.norm.weight"]}
    if not tied:
        out["lm_head.weight"] = sd["lm_head.weight"]
    for i in range(model.config.n_layers):
        g, h = f"backbone.layers.{i}.", f"model.layers.{i}."
        q, k, v = sd[g + "attn.qkv.weight"].split(d, dim=0)  # (d, d) each: rows are output channels
        out |= {
            h + "input_layernorm.weight": sd[g + "attn_norm.weight"],
            h + "self_attn.q_proj.weight": q,
            h + "self_attn.k_proj.weight": k,
            h + "self_attn.v_proj.weight": v,
            h + "self_attn.o_proj.weight": sd[g + "attn.out.weight"],
            h + "post_attention_layernorm.weight": sd[g + "mlp_norm.weight"],
            h + "mlp.gate_proj.weight": sd[g + "mlp.gate.weight"],
            h + "mlp.up_proj.weight": sd[g + "mlp.up.weight"],
            h + "mlp.down_proj.weight": sd[g + "mlp.down.weight"],
        }
    return {name: t.detach().to("cpu").contiguous().clone() for name, t in out.items()}


def export_llama(model: LanguageModel, tokenizer_json: str | os.PathLike | None,
                 out_dir: str | os.PathLike) -> Path:
    """Write a causal genolm transformer as a Hugging Face ``LlamaForCausalLM`` directory.

    ``out_dir`` gets ``config.json``, ``model.safetensors`` and, when ``tokenizer_json`` is given,
    a copy of the genolm tokenizer as ``genolm_tokenizer.json``.  The directory is written
    atomically; an existing one is replaced only if it is an earlier genolm export.
    """
    from safetensors.torch import save_file

    if not isinstance(model, LanguageModel):
        raise GenolmError("export_llama needs a genolm LanguageModel", found=type(model).__name__)
    cfg = model.config
    if cfg.family != "transformer" or not cfg.causal:
        kind = f"{'causal' if cfg.causal else 'bidirectional'} {cfg.family}"
        raise GenolmError("only causal transformers can be exported as LlamaForCausalLM",
                          expected="family='transformer', causal=True", found=kind,
                          hint="bidirectional and baseline models are saved as genolm checkpoints only")
    tok_path = None
    if tokenizer_json is not None:
        tok_path = Path(tokenizer_json)
        tok = load_tokenizer(tok_path)
        if tok.vocab_size > cfg.vocab_size:
            raise GenolmError("tokenizer has more ids than the model's vocabulary", file=tok_path,
                              expected=f"at most {cfg.vocab_size} ids", found=str(tok.vocab_size),
                              hint="export with the tokenizer the model was trained with")
    tensors = llama_state_dict(model)
    dtype = next(iter(tensors.values())).dtype
    config = llama_config(cfg, dtype)
    config["genolm"] = {"version": __version__, "model_config": cfg.to_dict(),
                        "tokenizer": TOKENIZER_FILE if tok_path else None}
    out_dir = Path(out_dir)
    with atomic_dir(out_dir, replaceable=_is_genolm_export) as tmp:
        save_file(tensors, str(tmp / "model.safetensors"), metadata={"format": "pt"})
        (tmp / "config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
        if tok_path is not None:
            shutil.copyfile(tok_path, tmp / TOKENIZER_FILE)
    return out_dir


def _is_genolm_export(path: Path) -> bool:
    try:
        return "genolm" in json.loads((path / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError, TypeError):
        return False


# ---- import ----------------------------------------------------------------------------------------

class HFBackbone(nn.Module):
    """A Hugging Face encoder behind genolm's backbone interface: ids (B, T) -> hidden (B, T, d).

    ``attention_mask`` defaults to ``input_ids != pad_id`` (the model's own pad id, e.g. 1 for
    ESM), so padded batches embed like unpadded sequences.  Packed rows are not supported: these
    models have no document masking, so ``doc_ids`` must hold one document per row.
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        self.hidden_size = model.config.hidden_size
        self.pad_id = model.config.pad_token_id

    def forward(self, input_ids: torch.Tensor, doc_ids: torch.Tensor | None = None,
                attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        check_inputs(input_ids, doc_ids)
        if doc_ids is not None and bool(segment_ids(doc_ids)[:, -1].any()):
            raise GenolmError("Hugging Face backbones cannot attend within packed documents",
                              expected="one document per row", found="rows holding several documents",
                              hint="give one sequence per row (padded) and doc_ids=None")
        if attention_mask is None and self.pad_id is not None:
            attention_mask = (input_ids != self.pad_id).long()  # (B, T)
        return self.model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state  # (B, T, d)


def load_hf_backbone(path: str | os.PathLike, dtype: torch.dtype = torch.float32) -> HFBackbone:
    """Load a local Hugging Face ESM or BERT model directory as a backbone.

    Masked-LM checkpoints (``EsmForMaskedLM``, ``BertForMaskedLM``) load their encoder; the LM head
    is dropped.  Nothing is downloaded and no remote code runs; a checkpoint that lacks encoder
    weights is an error (they would be random, and embeddings irreproducible).
    """
    path = Path(path)
    model_type = _check_hf_dir(path)
    try:
        import transformers
    except ImportError:
        raise GenolmError("loading Hugging Face models needs the transformers package",
                          hint="pip install transformers") from None
    # transformers prints a load report listing the dropped MLM head; missing weights are checked below.
    verbosity = transformers.logging.get_verbosity()
    transformers.logging.set_verbosity_error()
    bars = transformers.utils.logging.is_progress_bar_enabled()
    transformers.utils.logging.disable_progress_bar()  # no "Loading weights" bar on genolm's stderr
    try:
        config = transformers.AutoConfig.from_pretrained(path, local_files_only=True, trust_remote_code=False)
        model, info = transformers.AutoModel.from_pretrained(
            path, config=config, local_files_only=True, trust_remote_code=False, dtype=dtype,
            add_pooling_layer=False, output_loading_info=True)
    except (OSError, ValueError) as e:
        raise GenolmError(f"cannot load Hugging Face model ({model_type})", file=path,
                          found=str(e).split("\n")[0][:200],
                          hint="is the directory complete (config.json and its weights)?") from None
    finally:
        transformers.logging.set_verbosity(verbosity)
        if bars:
            transformers.utils.logging.enable_progress_bar()
    missing = sorted(info.get("missing_keys", ()))
    if missing:
        raise GenolmError("Hugging Face checkpoint lacks encoder weights", file=path,
                          found=", ".join(missing[:3]) + (f" and {len(missing) - 3} more" if len(missing) > 3 else ""),
                          hint="these would be random; is it a checkpoint of another architecture?")
    model.eval()
    return HFBackbone(model)


def _check_hf_dir(path: Path) -> str:
    """The ``model_type`` of a local HF model directory, after checking what genolm can load safely."""
    if not path.is_dir():
        raise GenolmError("not a Hugging Face model directory", file=path, expected="a local directory",
                          found="a file" if path.exists() else "nothing",
                          hint="download the model first (e.g. `hf download ORG/MODEL --local-dir DIR`); "
                               "genolm never downloads")
    config_file = path / "config.json"
    try:
        config = json.loads(config_file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise GenolmError("not a Hugging Face model directory: no config.json", file=path,
                          hint="point at the folder holding config.json and model.safetensors") from None
    except (OSError, ValueError) as e:
        raise GenolmError("config.json is not readable JSON", file=config_file, found=str(e)[:120]) from None
    if not isinstance(config, dict):
        raise GenolmError("config.json is not a JSON object", file=config_file)
    if "auto_map" in config:
        raise GenolmError("model needs remote code, which genolm does not run", file=config_file,
                          found="auto_map: " + ", ".join(sorted(config["auto_map"]))[:120],
                          hint=f"genolm loads standard architectures only: {', '.join(SUPPORTED)}")
    model_type = config.get("model_type")
    if model_type not in SUPPORTED:
        raise GenolmError("unsupported Hugging Face architecture", file=config_file,
                          expected=" | ".join(f"{k} ({v})" for k, v in SUPPORTED.items()),
                          found=repr(model_type),
                          hint="genolm's own causal models export to Llama; other encoders are not supported yet")
    weights = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin",
               "pytorch_model.bin.index.json")
    if not any((path / w).is_file() for w in weights):
        raise GenolmError("Hugging Face model directory has no weights", file=path,
                          expected=" or ".join(weights[::2]), hint="was the download complete?")
    return model_type
