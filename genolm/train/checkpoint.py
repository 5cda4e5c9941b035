"""Checkpoints: a directory that any later command, and Hugging Face tooling, can read.

``RUN/checkpoint/``::

    config.json        {"model": ModelConfig, "objective": "clm"|"mlm", "genolm": version, …}
    model.safetensors  the weights (safetensors: loading never unpickles anything)
    tokenizer.json     the tokenizer the corpus was made with
    train_state.pt     optimizer, scheduler, RNG state, step — for exact resume; read with
                       ``torch.load(weights_only=True)``
    meta.json          step, tokens seen, wall time

The directory is written to a temporary sibling and swapped in, so a run killed while saving
keeps its previous checkpoint.  Damaged files give one clear GenolmError, never a crash deep in
torch.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import torch

from genolm import __version__
from genolm.errors import GenolmError
from genolm.io.atomic import atomic_dir

CHECKPOINT = "checkpoint"
FILES = ("config.json", "model.safetensors", "tokenizer.json", "train_state.pt", "meta.json")


def checkpoint_dir(run: str | os.PathLike) -> Path:
    """The checkpoint folder of a run directory (or the folder itself if it is one)."""
    run = Path(run)
    if (run / "model.safetensors").is_file():
        return run
    return run / CHECKPOINT


def save_checkpoint(run: str | os.PathLike, *, state_dict: dict, config: dict, tokenizer: str | os.PathLike,
                    train_state: dict, meta: dict) -> Path:
    """Write a complete checkpoint atomically; return its path."""
    from safetensors.torch import save_file

    target = Path(run) / CHECKPOINT
    with atomic_dir(target, replaceable=lambda p: (p / "meta.json").is_file()) as tmp:
        # safetensors refuses tensors that share memory (tied embeddings): store each once.
        save_file(_dedup(state_dict), tmp / "model.safetensors", metadata={"genolm": __version__})
        (tmp / "config.json").write_text(json.dumps({**config, "genolm": __version__}, indent=1) + "\n")
        shutil.copyfile(tokenizer, tmp / "tokenizer.json")
        torch.save(train_state, tmp / "train_state.pt")
        (tmp / "meta.json").write_text(json.dumps(meta, indent=1) + "\n")
    return target


def _dedup(state: dict) -> dict:
    """Each tensor once: a tied weight (same memory under two names) is stored under its first
    name and restored by the model's own tying."""
    out, seen = {}, set()
    for name, t in state.items():
        key = (t.data_ptr(), tuple(t.shape), t.dtype)
        if key in seen:
            continue
        seen.add(key)
        out[name] = t.detach().cpu().contiguous()
    return out


def read_config(run: str | os.PathLike) -> dict:
    if not Path(run).exists():
        raise GenolmError("no such run directory", file=run,
                          hint="give a run directory made by 'genolm pretrain' (or a Hugging Face model folder)")
    path = checkpoint_dir(run) / "config.json"
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise GenolmError("no checkpoint here (config.json missing)", file=path.parent,
                          hint="give a run directory made by 'genolm pretrain'") from None
    except ValueError as err:
        raise GenolmError(f"checkpoint config.json is not valid JSON ({err})", file=path) from None


def load_weights(run: str | os.PathLike, model: torch.nn.Module) -> None:
    """Load model.safetensors into ``model`` (strict: every weight must match)."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = checkpoint_dir(run) / "model.safetensors"
    try:
        state = load_file(path)
    except FileNotFoundError:
        raise GenolmError("checkpoint has no model.safetensors", file=path.parent) from None
    except (SafetensorError, OSError, ValueError) as err:
        raise GenolmError(f"corrupt or truncated weights ({err})", file=path,
                          hint="the checkpoint was damaged; resume from another copy or retrain") from None
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [m for m in missing if not _is_tied(model, m)]
    if missing or unexpected:
        raise GenolmError("weights do not fit the model", file=path,
                          expected=f"{len(state)} tensors of this config",
                          found=f"missing {missing[:3]}, unexpected {unexpected[:3]}",
                          hint="was config.json edited, or the checkpoint from another model?")
    for name, t in state.items():
        if t.shape != model.state_dict()[name].shape:  # pragma: no cover - load_state_dict raises first
            raise GenolmError("weight shape mismatch", file=path, record=name)


def _is_tied(model: torch.nn.Module, name: str) -> bool:
    """A parameter left out of the file because it is the same tensor as another one."""
    params = dict(model.named_parameters(remove_duplicate=False))
    p = params.get(name)
    return p is not None and any(q is p for n, q in params.items() if n != name)


def load_train_state(run: str | os.PathLike) -> dict:
    path = checkpoint_dir(run) / "train_state.pt"
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise GenolmError("checkpoint has no training state to resume from", file=path.parent,
                          hint="this is an exported model; start a new run instead of --resume") from None
    except Exception as err:  # truncated zip, bad pickle opcode, …
        raise GenolmError(f"corrupt or truncated training state ({type(err).__name__})", file=path,
                          hint="the checkpoint was damaged; resume from another copy or start again") from None


def load_model(run: str | os.PathLike, device: str = "cpu"):
    """(model, tokenizer, config dict) of a run's checkpoint, ready for inference (eval mode)."""
    from genolm.model import ModelConfig, build_model
    from genolm.tokenize import load_tokenizer

    config = read_config(run)
    if "model" not in config:
        raise GenolmError("not a genolm checkpoint (config.json has no 'model')", file=checkpoint_dir(run),
                          hint="Hugging Face model directories are loaded with genolm.model.load_hf_backbone")
    model = build_model(ModelConfig.from_dict(config["model"]))
    load_weights(run, model)
    tok = load_tokenizer(checkpoint_dir(run) / "tokenizer.json")
    return model.to(device).eval(), tok, config
