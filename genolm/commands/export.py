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
from dataclasses import dataclass

from genolm.errors import GenolmError

TARGETS = ("hf",)


@dataclass
class ExportArgs:
    """Options of ``genolm export``."""

    run: str
    out: str
    to: str = "hf"

    def __post_init__(self) -> None:
        if self.to not in TARGETS:
            raise GenolmError("unknown export target", expected=" | ".join(TARGETS), found=repr(self.to))


ARGS = ExportArgs


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run", metavar="RUN", help="run directory from 'genolm pretrain' (or its checkpoint/)")
    p.add_argument("--to", default="hf", choices=TARGETS, help="target layout")
    p.add_argument("out", metavar="DIR", help="output directory (written atomically)")


def setup(args: argparse.Namespace) -> int:
    from genolm.model import export_llama
    from genolm.train.checkpoint import checkpoint_dir, load_model

    args = ExportArgs(run=args.run, out=args.out, to=args.to)
    model, _, _ = load_model(args.run)
    out = export_llama(model, checkpoint_dir(args.run) / "tokenizer.json", args.out)
    print(f"{out}: LlamaForCausalLM ({model.num_params():,} parameters)")
    return 0
