"""Held-out bits per base of trained runs, and the order-k Markov baseline fit on the training
side only, on a prepared corpus's validation split.  The command is ``genolm evaluate``."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from genolm.data.shards import PreparedCorpus
from genolm.errors import GenolmError
from genolm.io.arguments import CommandArgs
from genolm.io.atomic import atomic_file
from genolm.train.distributed import resolve_device


def run_row(run: Path, corpus, batch_size: int, device: str) -> dict:
    from genolm.train.args import TrainArgs
    from genolm.train.checkpoint import checkpoint_dir, load_model
    from genolm.train.distributed import Dist
    from genolm.train.loop import evaluate

    model, tok, config = load_model(run, device)
    if tok.to_dict() != corpus.tokenizer.to_dict():
        raise GenolmError("the run was trained with another tokenizer than the corpus's", file=run,
                          hint="evaluate on a corpus prepared with the same --tokenizer")
    meta = json.loads((checkpoint_dir(run) / "meta.json").read_text())
    state = torch.load(checkpoint_dir(run) / "train_state.pt", map_location="cpu", weights_only=True)
    window = config["window"]
    val = corpus.windows("val", window, corpus.manifest["stride"] if window == corpus.manifest["window"] else window)
    args = TrainArgs(data=str(corpus.root), out=str(run), objective=config["objective"],
                     batch_size=batch_size, eval_batches=max(1, -(-len(val) // batch_size)))
    t = time.perf_counter()
    metrics = evaluate(model, val, tok, args, Dist(device=device),
                       torch.bfloat16 if device.startswith("cuda") else None,
                       torch.as_tensor(tok.advance, dtype=torch.float64))
    if not metrics:
        raise GenolmError("the validation split has no windows", file=corpus.root)
    family = config["model"]["family"]
    return {"model": f"{family} {config['objective']} ({run.name})", "params": model.num_params(),
            "tokens_seen": meta["tokens_seen"], "train_s": round(state["elapsed"], 1),
            "val_bpb": round(metrics["val_bpb"], 4), "scored_tokens": metrics["val_tokens"],
            "eval_s": round(time.perf_counter() - t, 1)}


def split_sequences(corpus, split: str) -> list[str]:
    """The records (or record parts) of one split, decoded from the shards."""
    rec = corpus.records
    tok = corpus.tokenizer
    shards = corpus.shards(split)
    out = []
    for s, shard, start, n in zip(rec["split"].to_pylist(), rec["shard"].to_numpy(),
                                  rec["start"].to_numpy(), rec["n_tokens"].to_numpy()):
        if s == split:  # n includes the record's <sep>
            out.append(tok.decode(np.asarray(shards[shard][start: start + n - 1])))
    return out


def markov_row(corpus, max_order: int, test=None) -> dict:
    """Fit an order-0..``max_order`` Markov model on ``corpus``'s training split; score ``test``'s
    (default: the same corpus's) validation split."""
    from genolm.model.markov import MarkovModel

    t = time.perf_counter()
    train = split_sequences(corpus, "train")
    if not train:
        raise GenolmError("the corpus has no training records to fit the Markov model on", file=corpus.root,
                          hint="give --markov-data a corpus with a training split")
    # Smoothing weights are fit on the training side only: the last 5% of every training record,
    # less the 1 kb windows that are near copies of the counted part (other strains of a species
    # hold most of each other's sequence): weights fit on copies trust long contexts that an
    # unseen region or species does not have.
    heads = [s[: len(s) - len(s) // 20] for s in train]
    tails = weight_fitting_tails(train, heads)
    model = MarkovModel(max_order=max_order, both_strands=True).fit(heads, unknown="n")
    model.fit_weights(tails, unknown="n")
    score = model.evaluate(split_sequences(test if test is not None else corpus, "val"), unknown="n")
    return {"model": f"Markov k<={max_order}", "params": int(sum(c.size for c in getattr(model, "counts", []))) or None,
            "tokens_seen": sum(map(len, heads)), "train_s": round(time.perf_counter() - t, 1),
            "val_bpb": round(score.bits_per_base, 4), "scored_tokens": score.n_scored, "eval_s": None}


def weight_fitting_tails(train: list[str], heads: list[str]) -> list[str]:
    """The last 5% of every training record, without the 1 kb windows sharing > 50% of their 24-mers
    with ``heads`` (all of them if every window is such a copy)."""
    from genolm.bio.splits import Piece, drop_near_copies, kmer_set

    pieces = [Piece(str(i), len(h), len(s), s[len(h):]) for i, (s, h) in enumerate(zip(train, heads)) if len(s) > len(h)]
    kept = drop_near_copies(pieces, kmer_set(Piece(str(i), 0, len(h), h) for i, h in enumerate(heads))).kept
    return [p.seq for p in (kept or pieces)]


@dataclass(kw_only=True)
class EvaluateArgs(CommandArgs):
    """Options of ``genolm evaluate`` (see its --help); ``out`` is an optional TSV."""

    runs: list[str] = field(default_factory=list)
    data: str
    markov: int | None = None
    markov_data: str | None = None
    batch_size: int = 16

    def check(self) -> None:
        if not self.runs and self.markov is None:
            raise GenolmError("nothing to evaluate", hint="give RUN directories and/or --markov K")
        self.at_least("markov", 0, optional=True)
        self.at_least("batch_size", 1)


def evaluate(args: EvaluateArgs) -> list[dict]:
    """One row per model (the Markov baseline first), written to ``args.out`` as TSV when given."""
    corpus = PreparedCorpus(args.data)
    if not corpus.manifest["splits"]["val"]["tokens"]:
        raise GenolmError("the corpus's validation split is empty: there is nothing held out to score",
                          file=corpus.root, hint="prepare it with --val-fraction above 0 (1: an evaluation-only "
                                                 "corpus, with --markov-data for the baseline)")
    device = resolve_device(args.device)
    rows = []
    if args.markov is not None:
        rows.append(markov_row(PreparedCorpus(args.markov_data) if args.markov_data else corpus, args.markov,
                               test=corpus))
    for run in args.runs:
        rows.append(run_row(Path(run), corpus, args.batch_size, device))
    if args.out:
        with atomic_file(args.out) as tmp:
            keys = list(rows[0])
            tmp.write_text("\t".join(keys) + "\n" + "".join(
                "\t".join(str(r[k]) for k in keys) + "\n" for r in rows))
    return rows
