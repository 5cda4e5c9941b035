"""Sample new sequences from a causal genolm model (a transformer or an LSTM).

Batched sampling: the prompt (``<sep>``, or a conditioned model's condition tokens, then
``--prompt``) is run once, then one token per step for every row of the batch.  Transformers keep
a preallocated key/value cache; on a GPU the weights are cast to bf16 and each step is a CUDA
graph replay (``--engine graph``), or a torch.compile'd step captured the same way (``--engine
compile``: faster once compiled, a minute of compiling first); ``--engine eager`` runs the step
from Python.  LSTMs carry their state from step to step.  Only A/C/G/T (U for RNA models) are
sampled.  Past a transformer's window, generation continues from the last half window: the cache
is refilled with those tokens at positions from 0 (after the condition tokens), as the model saw
windows in training.

Each draw is the Gumbel-max of the filtered logits plus noise drawn up front from ``--seed``, so
the same seed, batch size and device give the same sequences on the CPU; on a GPU, kernels that
round differently from run to run can change a rare draw, and the sequence after it.  Records are
written as each batch finishes, to a temporary file renamed onto ``--out`` at the end.

``--temperature 0`` is greedy decoding (the most likely base every time); ``--top-k`` and
``--top-p`` cut the distribution before sampling.  ``--condition KEY=VALUE ...`` samples a model
from ``genolm env condition`` under those conditions (the others unknown).

Example:
  genolm generate --model run --num 200 --length 5000 --out gen.fasta --temperature 0.9 --seed 1
  genolm generate --model run --num 10 --length 1000 --prompt ATGAAACGC --out primed.fasta
  genolm generate --model ocean --num 50 --length 2000 --condition temperature_c=25 layer=SUR --out warm.fasta
"""

from __future__ import annotations

import argparse

from genolm.commands.options import add_device, add_no_progress, add_sampling, add_seed
from genolm.generation.generate import GenerateArgs, run
from genolm.io.progress import plural

ARGS = GenerateArgs  # the options as one dataclass (tests/test_cli.py: the same names and defaults as the parser)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True, help="causal genolm run (one-letter tokenizer)")
    p.add_argument("--num", type=int, default=10, help="sequences to write (default: 10)")
    p.add_argument("--length", type=int, required=True, help="new bases per sequence (with --stop-at-end: the most)")
    p.add_argument("--stop-at-end", action="store_true",
                   help="end each sequence where the model ends a record (the <sep> every training record "
                        "ended with), so genomes come out at the lengths the model gives them")
    p.add_argument("--min-length", type=int, default=0,
                   help="with --stop-at-end: new bases before a sequence may end (default: 0)")
    p.add_argument("--out", required=True, help="output FASTA")
    p.add_argument("--prompt", help="sequence (or FASTA file: its first record) every output starts with")
    add_sampling(p, 64)
    add_seed(p, "sampling")
    p.add_argument("--prefix", default="gen", help="record id prefix (default: gen)")
    p.add_argument("--condition", nargs="+", metavar="KEY=VALUE",
                   help="sample conditions of a model from 'genolm env condition' (others: unknown)")
    add_device(p)
    add_no_progress(p)


def setup(args: argparse.Namespace) -> int:
    r = run(GenerateArgs.from_namespace(args))
    print(f"{args.out}: {plural(r['sequences'], 'sequence')}, {r['bases']:,} new bases in {r['seconds']:.1f} s "
          f"({r['bases'] / max(r['seconds'], 1e-9):,.0f} bases/s, {r['device']})")
    return 0
