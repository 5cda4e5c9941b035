"""Generating new sequences from a causal genolm run: the prompt (``<sep>``, or a conditioned
model's condition tokens, then ``--prompt``), the letters that may be drawn, and the FASTA
written batch by batch.  The command is ``genolm generate``; the sampler is
``genolm.infer.sampling``."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from genolm.errors import GenolmError
from genolm.infer.sampling import ENGINES, bf16_weights, sample_batch
from genolm.io.arguments import CommandArgs
from genolm.io.progress import progress


@dataclass(kw_only=True)
class GenerateArgs(CommandArgs):
    """Options of ``genolm generate`` (see its --help)."""

    model: str
    length: int
    num: int = 10
    prompt: str | None = None  # a sequence, or a FASTA file (its first record)
    temperature: float = 1.0  # 0: greedy
    top_k: int = 0  # 0: all
    top_p: float = 1.0
    min_p: float = 0.0  # 0: off
    batch_size: int = 64
    prefix: str = "gen"
    condition: list[str] | None = None  # KEY=VALUE of a conditioned model
    engine: str = "auto"
    stop_at_end: bool = False  # a sequence ends where the model ends a record (<sep>); length is the most
    min_length: int = 0  # with stop_at_end: new bases before a sequence may end

    def check(self) -> None:
        if not self.out:
            self.fail("out", "an output FASTA file", self.out)
        for name in ("num", "length", "batch_size"):
            self.at_least(name, 1)
        self.at_least("min_length", 0)
        if self.min_length and not self.stop_at_end:
            raise GenolmError("--min-length needs --stop-at-end", hint="without it every sequence has --length bases")
        if self.min_length > self.length:
            self.fail("min_length", f"at most --length ({self.length})", self.min_length)
        self.at_least("temperature", 0)
        self.at_least("top_k", 0)
        if isinstance(self.top_p, bool) or not isinstance(self.top_p, (int, float)) or not 0 < self.top_p <= 1:
            self.fail("top_p", "above 0 and at most 1", self.top_p)
        if isinstance(self.min_p, bool) or not isinstance(self.min_p, (int, float)) or not 0 <= self.min_p < 1:
            self.fail("min_p", "at least 0 and below 1", self.min_p)
        if self.engine not in ENGINES:
            self.fail("engine", " | ".join(ENGINES), self.engine)


def read_prompt(text: str | None) -> str:
    if not text:
        return ""
    if Path(text).is_file():
        from genolm.io.seqio import read_records

        first = next(iter(read_records(text, case="upper")), None)
        if first is None:
            raise GenolmError("no sequence in the prompt file", file=text)
        return first.seq
    return text.strip().upper()


def condition_prefix(config: dict, tok, condition: list[str] | None, run: str) -> tuple[np.ndarray, int | None]:
    """The ids every sequence starts after, and the training window: ``<sep>`` for a plain model;
    for a model from ``genolm env condition``, one condition token per variable (``--condition``
    values; unknown where not given), as its training windows began."""
    from genolm.tokenize import SEP
    from genolm.tokenize.conditions import ConditionCodec

    if "conditions" not in config:
        if condition:
            raise GenolmError("--condition needs a conditioned model (from genolm env condition)", file=run,
                              found="no condition layout in its config.json")
        return np.array([SEP], np.int64), None
    codec = ConditionCodec.from_dict(config["conditions"])
    values = codec.parse(",".join(condition or []))
    if not condition:
        print(f"generate: no --condition given; sampling with every condition unknown "
              f"(the model knows {', '.join(codec.names)})", file=sys.stderr)
    return np.asarray(codec.ids(values, tok), np.int64), config.get("window")


def run(args: GenerateArgs) -> dict:
    import torch

    from genolm.io.atomic import atomic_file
    from genolm.tokenize import SEP
    from genolm.train.checkpoint import load_model
    from genolm.train.distributed import resolve_device

    device = resolve_device(args.device)
    model, tok, config = load_model(args.model, device)
    if not model.config.causal or model.config.family not in ("transformer", "lstm"):
        raise GenolmError("genolm generate needs a causal transformer or LSTM", file=args.model,
                          found=f"{'causal' if model.config.causal else 'masked'} {model.config.family}")
    if getattr(tok, "kind", None) != "char" or tok.alphabet.name not in ("dna", "rna"):
        raise GenolmError("genolm generate needs a one-letter DNA/RNA tokenizer", found=tok.spec)
    letters = "ACGU" if tok.alphabet.name == "rna" else "ACGT"
    allowed = np.array([tok.token_to_id(c) for c in letters])
    stop = SEP if args.stop_at_end else None  # the end of a record, as training windows showed it
    prompt = read_prompt(args.prompt)
    bad = next((c for c in prompt if c not in letters + "N"), None)
    if bad is not None:
        raise GenolmError("the prompt has a letter the model cannot read", found=repr(bad), expected=letters)
    head, window = condition_prefix(config, tok, args.condition, args.model)
    prefix = np.r_[head, np.asarray(tok.encode(prompt), np.int64)] if prompt else head
    model.eval()
    if device.startswith("cuda") and model.config.family == "transformer":
        bf16_weights(model)  # as autocast would cast them, once, and no casts inside a compiled step
    gen = torch.Generator(device=device).manual_seed(args.seed)
    bar = progress(args.num * args.length, "generate", "base", enabled=not args.no_progress, unit_scale=True)
    t0 = time.perf_counter()
    done = bases = 0
    symbol = {int(i): c for i, c in zip(allowed, letters)}
    with atomic_file(Path(args.out)) as tmp, open(tmp, "w") as f:
        while done < args.num:
            rows = min(args.batch_size, args.num - done)
            ids = sample_batch(model, prefix, allowed if stop is None else np.r_[allowed, stop], rows, args.length,
                               temperature=args.temperature, top_k=args.top_k, top_p=args.top_p, min_p=args.min_p, generator=gen,
                               device=device, step=bar.update, engine=args.engine,
                               fixed=len(head) if "conditions" in config else 0, window=window, stop=stop,
                               min_stop=args.min_length)
            bar.update(rows * (args.length - ids.shape[1]))  # rows that all ended early
            for r in range(rows):
                row = ids[r]
                if stop is not None and (row == stop).any():
                    row = row[: int(np.argmax(row == stop))]
                seq = prompt + "".join(symbol[int(i)] for i in row)
                bases += len(seq) - len(prompt)
                f.write(f">{args.prefix}_{done + r + 1} seed={args.seed} temperature={args.temperature}"
                        + (f" min_p={args.min_p}" if args.min_p else "") + " "
                        f"prompt={len(prompt)}\n")
                f.writelines(seq[i: i + 80] + "\n" for i in range(0, len(seq), 80))
            f.flush()
            done += rows
    bar.close()
    seconds = time.perf_counter() - t0
    return {"sequences": args.num, "bases": bases, "seconds": seconds, "device": device}
