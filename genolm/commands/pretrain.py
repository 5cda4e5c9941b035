"""Pretrain a language model on a corpus made by ``genolm prepare``.

A causal model (``--objective clm``: predicts the next token; for generation and likelihoods) or a
masked one (``--objective mlm``: predicts 15% hidden tokens from both sides; for embeddings), as a
transformer or, for comparison on the same data, an LSTM or a dilated CNN (``--family``).  Prints
and logs validation loss and bits per base; writes atomic checkpoints to OUT/checkpoint that
``--resume`` continues from (bit-exactly on CPU).  Many GPUs: launch the same command with
``torchrun --nproc-per-node N -m genolm pretrain …`` (DDP; ``--parallel fsdp`` shards the model).

Outputs in OUT: checkpoint/ (config.json, model.safetensors, tokenizer.json, train_state.pt),
metrics.jsonl (one JSON object per line: step, loss, lr, tokens_per_s; val_loss, val_bpb),
tb/ (TensorBoard).

Example:
  genolm prepare data/lambda.fasta.gz data/H.Pylori__G27.fasta.gz --out corpus --window 256
  genolm pretrain --data corpus --out run --model tiny --objective clm --steps 300
  genolm pretrain --data corpus --out run --model tiny --steps 600 --resume   # continue
  genolm pretrain --data corpus --out lstm --model tiny --family lstm --steps 300
  genolm pretrain --data corpus --out mlm --model small --objective mlm --minutes 10 --steps 100000
  genolm pretrain --data human --out mlm2 --init mlm --objective mlm --minutes 2 --steps 100000 --lr 3e-4
  torchrun --nproc-per-node 8 -m genolm pretrain --data corpus --out run --model base --config recipe.yaml
"""

from __future__ import annotations

import argparse
import dataclasses

from genolm.commands.options import add_device, add_no_progress, add_seed
from genolm.train.args import FAMILIES, OBJECTIVES, PARALLEL, PRECISIONS, TrainArgs

ARGS = TrainArgs  # the options as one dataclass (tests/test_cli.py: the same names and defaults as the parser)


def add_arguments(p: argparse.ArgumentParser) -> None:
    # Defaults live in TrainArgs (and a --config recipe may set any of them): flags default to None.
    d = {f.name: f.default for f in dataclasses.fields(TrainArgs)}
    p.add_argument("--data", required=True, help="corpus directory from 'genolm prepare'")
    p.add_argument("--out", required=True, help="run directory (checkpoint, metrics, TensorBoard)")
    p.add_argument("--config", default=None, help="YAML recipe: any option below, model_config: {…}")
    p.add_argument("--model", default=None, help=f"flavor: debug | tiny | small | base | large (default: {d['model']})")
    p.add_argument("--family", default=None, choices=FAMILIES, help=f"model family: a transformer, or an LSTM or dilated CNN baseline (default: {d['family']})")
    p.add_argument("--objective", default=None, choices=OBJECTIVES, help=f"clm: predict the next token (generation, likelihoods); mlm: predict masked tokens "
                        f"(embeddings) (default: {d['objective']})")
    p.add_argument("--steps", type=int, default=None, help=f"optimizer steps (default: {d['steps']})")
    p.add_argument("--minutes", type=float, default=None,
                   help="train for this many minutes of wall time: the step count (at most --steps) and the "
                        "schedule are planned from the measured speed, again at every validation")
    p.add_argument("--batch-size", type=int, default=None,
                   help=f"windows per step over all processes (default: {d['batch_size']})")
    p.add_argument("--grad-accum", type=int, default=None, help=f"micro-batches per step (default: {d['grad_accum']})")
    p.add_argument("--window", type=int, default=None, help="tokens per window (default: the corpus's)")
    p.add_argument("--lr", type=float, default=None, help=f"peak learning rate (default: {d['lr']})")
    p.add_argument("--warmup", type=int, default=None, help="warmup steps (default: 5%% of --steps)")
    p.add_argument("--weight-decay", type=float, default=None, help=f"AdamW weight decay (default: {d['weight_decay']})")
    p.add_argument("--grad-clip", type=float, default=None, help=f"clip the gradient norm to this (default: {d['grad_clip']})")
    p.add_argument("--no-rc-augment", dest="rc_augment", action="store_const", const=False, default=None,
                   help="do not reverse-complement half of the training windows")
    add_seed(p, "initialisation, window order and masks (default: 0)", default=None)
    p.add_argument("--eval-every", type=int, default=None, help=f"steps between validations (default: {d['eval_every']})")
    p.add_argument("--eval-batches", type=int, default=None, help=f"batches of the validation split scored at each validation (the same first windows "
                        f"every time; genolm evaluate scores all of them) (default: {d['eval_batches']})")
    p.add_argument("--save-every", type=int, default=None,
                   help=f"steps between checkpoints; 0: none, not even at the end (a timing run) "
                        f"(default: {d['save_every']})")
    p.add_argument("--patience", type=int, default=None, metavar="N",
                   help="early stopping: stop after N validations in a row without a lower validation loss; "
                        "the checkpoint then holds the best validation's weights, not the last "
                        f"(default: {d['patience']}: never)")
    p.add_argument("--log-every", type=int, default=None, help=f"steps between lines of metrics.jsonl (default: {d['log_every']})")
    add_device(p, default=None)
    p.add_argument("--precision", default=None, choices=PRECISIONS, help="number format of the forward pass (default: bf16 on GPU, fp32 on CPU)")
    p.add_argument("--compile", action="store_const", const=True, default=None, help="torch.compile the model")
    p.add_argument("--parallel", default=None, choices=PARALLEL, help="with several processes (default: ddp)")
    p.add_argument("--init", default=None, metavar="RUN",
                   help="start from RUN's model and weights (same tokenizer and objective) with a fresh "
                        "optimizer and schedule: continued pretraining on this corpus")
    p.add_argument("--resume", action="store_const", const=True, default=None,
                   help="continue the run in --out from its last checkpoint")
    add_no_progress(p, dest="progress")


def setup(args: argparse.Namespace) -> int:
    from genolm.report import UNIFORM_BITS
    from genolm.train.loop import train

    flags = {k: v for k, v in vars(args).items() if k in {f.name for f in dataclasses.fields(TrainArgs)}}
    if args.resume:  # continue with the run's own settings unless a flag or recipe says otherwise
        flags = {**_saved_args(args.out), **{k: v for k, v in flags.items() if v is not None}}
    opts = TrainArgs.from_sources(flags, args.config)
    last = train(opts)
    if last.get("best_step") is not None:
        print(f"{opts.out}: the checkpoint is step {last['best_step']}'s, the best validation: "
              f"val_loss {last['best_val_loss']:.4f}, val_bpb {last['best_val_bpb']:.4f} bits/base")
    elif last.get("val_bpb") is not None:
        print(f"{opts.out}: step {opts.steps}, val_loss {last['val_loss']:.4f}, "
              f"val_bpb {last['val_bpb']:.4f} bits/base")
        if last["val_bpb"] > UNIFORM_BITS:
            print(f"{opts.out}: {last['val_bpb']:.4f} bits per base is more than a blind guess among A, C, G and T "
                  f"({UNIFORM_BITS:.0f} bits): the model has not learned yet (train longer), or not what holds "
                  f"on the validation sequences")
    return 0


def _saved_args(run: str) -> dict:
    from pathlib import Path

    from genolm.train.checkpoint import checkpoint_dir, read_config

    if not (checkpoint_dir(run) / "config.json").is_file():
        return {}
    saved = read_config(run).get("args", {})
    known = {f.name for f in dataclasses.fields(TrainArgs)}
    return {k: v for k, v in saved.items() if k in known and k not in ("data", "out") or
            (k == "data" and Path(str(v)).exists())}
