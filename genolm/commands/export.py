"""Export a trained causal model to the Hugging Face layout (``LlamaForCausalLM``).

The directory holds ``config.json`` and ``model.safetensors`` that ``transformers`` loads with its
standard Llama class — no genolm, no remote code — plus the genolm tokenizer
(``genolm_tokenizer.json``; token ids are the model's inputs).  Logits match genolm's (a test
checks it).  Only causal transformers can be exported; masked models and the LSTM/CNN baselines
stay genolm checkpoints.

Example:
  genolm export run --to hf run-hf
  python -c "from transformers import LlamaForCausalLM; LlamaForCausalLM.from_pretrained('run-hf')"
"""

from __future__ import annotations

import argparse

from genolm.errors import GenolmError


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run", metavar="RUN", help="run directory from 'genolm pretrain' (or its checkpoint/)")
    p.add_argument("--to", default="hf", choices=("hf",), help="target layout")
    p.add_argument("out", metavar="DIR", help="output directory (written atomically)")


def setup(args: argparse.Namespace) -> int:
    from genolm.model import export_llama
    from genolm.train.checkpoint import checkpoint_dir, load_model

    if args.to != "hf":  # pragma: no cover - argparse restricts it
        raise GenolmError("unknown export target", expected="hf", found=args.to)
    model, _, _ = load_model(args.run)
    out = export_llama(model, checkpoint_dir(args.run) / "tokenizer.json", args.out)
    print(f"{out}: LlamaForCausalLM ({model.num_params():,} parameters)")
    return 0
