"""Environment -> sequence: a causal model conditioned on each sample's conditions (one token per
condition leads every window), tested on held-out sites against shuffled conditions with a
permutation test, and the likelihood of new sequences under each condition.  The commands are
``genolm env condition`` and ``genolm env explain`` (their --help says how it works)."""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from genolm.environment.sheet import JoinArgs
from genolm.errors import GenolmError
from genolm.infer.likelihood import sequence_nats
from genolm.io.arguments import CommandArgs
from genolm.report import figures
from genolm.train.conditioned import train_conditioned

STRANDS = ("auto", "forward", "both")


# ---- model pieces --------------------------------------------------------------------------------


@dataclass(kw_only=True)
class ConditionArgs(JoinArgs):
    """Options of ``genolm env condition`` (see its --help)."""

    condition: list[str]
    bins: int = 8
    init: str | None = None
    flavor: str = "tiny"
    tokenizer: str = "char"
    window: int = 512
    batch_size: int = 32
    steps: int = 2000
    lr: float | None = None
    drop: float = 0.15
    folds: int = 5
    fold: int = 0
    permutations: int = 9999
    strand: str = "auto"

    def check(self) -> None:
        if not self.samples:
            raise GenolmError("env condition needs a sample sheet", hint="give --samples SHEET")
        if self.strand not in STRANDS:
            self.fail("strand", " | ".join(STRANDS), self.strand)
        if self.folds < 2 or not 0 <= self.fold < self.folds:
            raise GenolmError("--fold must be one of the --folds", expected="--folds >= 2 and 0 <= --fold < --folds",
                              found=f"--folds {self.folds} --fold {self.fold}")
        for name in ("steps", "batch_size", "bins"):
            self.at_least(name, 1)
        self.at_least("permutations", 0)
        if not 0 <= self.drop < 1:
            raise GenolmError("--drop must be in [0, 1)", found=str(self.drop))


@dataclass(kw_only=True)
class ExplainArgs(CommandArgs):
    """Options of ``genolm env explain`` (see its --help)."""

    inputs: list[str]
    model: str
    at: list[str] | None = None
    strand: str = "auto"
    batch_size: int = 64

    def check(self) -> None:
        if self.strand not in STRANDS:
            self.fail("strand", " | ".join(STRANDS), self.strand)
        self.at_least("batch_size", 1)


def _complement(tok, strand: str) -> np.ndarray | None:
    from genolm.data.loader import complement_table

    table = complement_table(tok)
    if strand == "both" and table is None:
        raise GenolmError("--strand both needs a one-letter DNA/RNA tokenizer", found=tok.spec)
    return None if strand == "forward" or table is None else table.numpy()


# ---- the permutation test ------------------------------------------------------------------------

def permutation_test(per_sample: np.ndarray | list[np.ndarray], n: int, seed: int = 0) -> dict:
    """``per_sample[a, b]``: nats of sample a's sequences under sample b's conditions.  The true
    total is the trace; each shuffling assigns the conditions to the samples at random.
    p = (1 + shufflings scoring at least as well) / (1 + n).  A list of matrices (one per
    held-out fold) is shuffled within each fold and summed.

    >>> m = np.array([[1.0, 5.0], [5.0, 1.0]])
    >>> r = permutation_test(m, 99)
    >>> r["true"], r["shuffled_mean"], 0 < r["p_value"] < 1
    (2.0, 6.0, True)
    >>> permutation_test([m, m], 99)["true"]
    4.0
    """
    rng = np.random.default_rng(seed)
    strata = [np.asarray(m, float) for m in (per_sample if isinstance(per_sample, list) else [per_sample])]
    true = float(sum(np.trace(m) for m in strata))
    # the mean over all shufflings is exact: each sample meets each tuple with chance 1/k
    mean = float(sum(m.sum() / len(m) for m in strata))
    if n <= 0 or max(len(m) for m in strata) < 2:
        return {"true": true, "shuffled_mean": mean, "p_value": float("nan"), "permutations": 0}
    totals = np.zeros(n)
    for m in strata:
        k = len(m)
        for t in range(n):
            totals[t] += m[np.arange(k), rng.permutation(k)].sum()
    return {"true": true, "shuffled_mean": mean, "shuffled_sd": float(totals.std()),
            "p_value": float((1 + np.sum(totals <= true + 1e-9)) / (1 + n)), "permutations": n,
            "totals": totals}


# ---- env condition -------------------------------------------------------------------------------

def _model(args, device: str):
    """(model, tokenizer) to train: the --init run (causal), or a new one of --flavor."""
    from genolm.model import build_model, config_for
    from genolm.tokenize import get_tokenizer
    from genolm.train import checkpoint

    if args.init:
        model, tok, _ = checkpoint.load_model(args.init, device)
        if not model.config.causal:
            raise GenolmError("--init must be a causal model", file=args.init, found="a masked (MLM) model",
                              hint="pretrain with --objective clm, or leave out --init to train a new model")
        if args.window > model.config.max_len:
            raise GenolmError("--window is longer than the model's maximum length", found=str(args.window),
                              expected=f"at most {model.config.max_len}")
        return model, tok
    tok = get_tokenizer(args.tokenizer, unknown="n")
    cfg = config_for(args.flavor, vocab_size=tok.vocab_size, causal=True)
    if args.window > cfg.max_len:
        cfg = config_for(args.flavor, vocab_size=tok.vocab_size, causal=True, max_len=args.window)
    return build_model(cfg).to(device), tok


def _encode(tok, seqs: list[str], ids: list[str], which) -> dict[int, np.ndarray]:
    out = {}
    for i in which:
        e = tok.encode(seqs[i])
        if e is None or len(e) == 0:
            raise GenolmError("sequence cannot be tokenized", record=ids[i],
                              hint="empty, or letters outside the tokenizer's alphabet")
        out[i] = np.asarray(e, np.int64)
    return out


def condition(args: ConditionArgs) -> dict:
    """Train the conditioned model and run the held-out permutation test; see the module docstring."""
    import torch

    from genolm.environment.evaluation import group_folds
    from genolm.environment.sheet import sheet_and_sequences
    from genolm.io.atomic import atomic_dir
    from genolm.tokenize.conditions import ConditionCodec
    from genolm.train import checkpoint
    from genolm.train.distributed import resolve_device

    t0 = time.perf_counter()
    device = resolve_device(args.device)
    names = list(dict.fromkeys(args.condition))
    sheet, group, ids, files, seqs, sample = sheet_and_sequences(args, names, "condition")
    placed = [i for i, s in enumerate(sample) if s is not None]
    if not placed:
        raise GenolmError("no sequence could be placed at a sample of the sheet", record=ids[0],
                          hint="check --id-pattern / --sample-template, or the sheet's paths")
    values = {s: tuple(sheet.samples[s].get(c) for c in names) for s in {sample[i] for i in placed}}

    def group_of(s):
        g = sheet.samples[s].get(group) if group != "sample_id" else None
        if isinstance(g, float) and g.is_integer():
            g = int(g)
        return s if g is None else str(g)

    complete = [i for i in placed if None not in values[sample[i]]]
    if not complete:
        raise GenolmError("no placed sequence has a value of every condition", file=args.samples,
                          expected=", ".join(names))
    folds = group_folds([group_of(sample[i]) for i in complete], args.folds, 0)
    test = [complete[j] for j in folds[args.fold][1]]
    test_groups = {group_of(sample[i]) for i in test}
    train = [i for i in placed if group_of(sample[i]) not in test_groups]
    train_samples = sorted({sample[i] for i in train})
    codec = ConditionCodec.fit({c: [values[s][k] for s in train_samples] for k, c in enumerate(names)},
                               bins=args.bins)

    torch.manual_seed(args.seed)
    model, tok = _model(args, device)
    codec.check_tokenizer(tok)
    strand = args.strand if args.strand != "auto" else ("both" if _complement(tok, "auto") is not None else "forward")
    table = _complement(tok, strand)
    rows = _encode(tok, seqs, ids, train + test)
    # a held-out sample may have a text value no training sample had: it gets the unknown token
    prefix = {s: np.array(codec.ids(dict(zip(names, values[s])), tok, unseen="unknown"), np.int64) for s in values}
    unseen = {c: sorted({str(values[sample[i]][k]) for i in test
                         if codec.variables[k]["kind"] == "category" and values[sample[i]][k] is not None
                         and str(values[sample[i]][k]) not in codec.variables[k]["levels"]})
              for k, c in enumerate(names)}
    unknown = np.array(codec.ids({}, tok), np.int64)
    log: list[dict] = []
    t_train = time.perf_counter()
    losses = train_conditioned(
        model, tok, [rows[i] for i in train], np.stack([prefix[sample[i]] for i in train]), unknown,
        steps=args.steps, batch_size=args.batch_size, window=args.window,
        lr=args.lr or (2e-4 if args.init else 1e-3), drop=args.drop, table=table, device=device,
        seed=args.seed, log=log.append, progress=not args.no_progress)
    t_train = time.perf_counter() - t_train

    # Held out: the permutation test and the model as a predictor.  In sample (a like number of
    # training samples): the same test, to tell "no signal" from "signal that does not transfer".
    train_values = {c: [values[sample[i]][k] for i in train if values[sample[i]][k] is not None]
                    for k, c in enumerate(names)}
    common = dict(window=args.window, batch_size=2 * args.batch_size, table=table, device=device,
                  permutations=args.permutations, progress=not args.no_progress)
    held = _test_conditions(model, tok, rows, test, sample, values, names, codec, seed=args.seed,
                            train_values=train_values, **common)
    rng = np.random.default_rng(args.seed + 7)
    pool = [s for s in train_samples if None not in values[s]]
    chosen = set(rng.permutation(pool)[: len({sample[i] for i in test})].tolist())
    seen = [i for i in train if sample[i] in chosen]
    if len(seen) > 2 * len(test):
        seen = sorted(rng.choice(seen, 2 * len(test), replace=False).tolist())
    in_sample = _test_conditions(model, tok, rows, seen, sample, values, names, codec, seed=args.seed,
                                 train_values=None, **common)["metrics"] if len(chosen) > 1 else None
    m = held["metrics"]
    metrics = {
        "conditions": names, "group": group, "strand": strand, "device": device,
        "held_out": {"sequences": len(test), "samples": m["samples"], "groups": len(test_groups),
                     "bases": m["bases"], "condition_tuples": m["condition_tuples"],
                     "groups_held_out": sorted(map(str, test_groups)),
                     "unseen_levels": {c: v for c, v in unseen.items() if v}},
        "train": {"sequences": len(train), "samples": len(train_samples), "steps": args.steps,
                  "batch_size": args.batch_size, "window": args.window, "final_loss": float(np.mean(losses[-50:])),
                  "seconds": round(t_train, 1),
                  "groups": sorted({str(group_of(sample[i])) for i in train})},
        **{k: v for k, v in m.items() if k not in ("sequences", "samples", "bases", "condition_tuples")},
        "in_sample": in_sample, "seconds": round(time.perf_counter() - t0, 1)}

    config = {"model": model.config.to_dict(), "objective": "clm", "conditions": codec.to_dict(),
              "window": args.window, "command": "env condition",
              "args": {k: v for k, v in vars(args).items() if not k.startswith("_") and not callable(v)}}
    with atomic_dir(args.out, replaceable=lambda p: (p / "metrics.json").is_file() and (p / "checkpoint").is_dir()) as tmp:
        tok.save(tmp / "tokenizer.json")
        checkpoint.save_checkpoint(tmp, state_dict=model.state_dict(), config=config, tokenizer=tmp / "tokenizer.json",
                                   train_state={"step": args.steps},
                                   meta={"step": args.steps, "objective": "clm", "command": "env condition"})
        (tmp / "tokenizer.json").unlink()
        (tmp / "metrics.json").write_text(json.dumps(metrics, indent=1) + "\n")
        (tmp / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in log))
        with open(tmp / "scores.tsv", "w") as f:
            f.write("id\tsample_id\tbases\tbpb_true\tbpb_unknown\tbpb_shuffled\n")
            for r, i in enumerate(test):
                f.write(f"{ids[i]}\t{sample[i]}\t{int(held['bases'][r])}\t" +
                        "\t".join(f"{x:.6f}" for x in held["per_sequence"][r]) + "\n")
        figures.env_permutations(held["nulls"], tmp / "permutation.png")
        # per-sample nats under each held-out sample's conditions: folds combine into one test
        np.savez(tmp / "held_out.npz", samples=np.asarray(held["samples"]), bases=held["bases"].sum(),
                 names=np.asarray(list(held["matrices"])), **{f"m{j}": m for j, m in enumerate(held["matrices"].values())})
    return metrics


def _test_conditions(model, tok, rows: dict, test: list[int], sample: list, values: dict, names: list[str],
                     codec, *, window: int, batch_size: int, table, device: str, permutations: int, seed: int,
                     train_values: dict | None, progress: bool) -> dict:
    """Score ``test`` sequences under every tested sample's condition tuple, the unknown tuple,
    and every value of each column alone (the others unknown); run the permutation tests and
    (with ``train_values``) read the model backwards as a predictor of each column."""
    test_samples = sorted({sample[i] for i in test})
    tuples = sorted({values[s] for s in test_samples}, key=str)
    grid = codec.grid()
    sets = [dict(zip(names, t)) for t in tuples] + [{}] + [v for _, v in grid]
    set_ids = [tuple(codec.ids(s, tok, unseen="unknown")) for s in sets]
    jobs = [(r, pre) for r in range(len(test)) for pre in set_ids]
    t_score = time.perf_counter()
    nats = sequence_nats(model, tok, [rows[i] for i in test], jobs, window=window, batch_size=batch_size,
                         table=table, device=device, progress=progress).reshape(len(test), len(sets))
    t_score = time.perf_counter() - t_score
    advance = np.asarray(tok.advance, float)
    bases = np.array([advance[rows[i]].sum() for i in test])
    of = np.array([test_samples.index(sample[i]) for i in test])
    member = np.zeros((len(test_samples), len(test)))
    member[of, np.arange(len(test))] = 1

    def bpb(total):
        return float(total / math.log(2) / bases.sum())

    def run_test(columns, key_of, seed):
        """Per-sample nats under each sample's own key, and the permutation test on them."""
        m = member @ nats[:, columns]  # samples x keys
        per_sample = m[:, [key_of(s) for s in test_samples]]  # a: sequences of sample a, b: sample b's key
        r = permutation_test(per_sample, permutations, seed)
        matrices[len(matrices)] = per_sample
        own = np.diag(per_sample)
        # how often a sample's own conditions beat another sample's on its sequences (ties: half)
        rank = [float(np.mean((np.delete(per_sample[a], a) > own[a]) + 0.5 * (np.delete(per_sample[a], a) == own[a])))
                for a in range(len(own))] if len(own) > 1 else []
        totals = r.pop("totals", None)
        out = {"true_bpb": bpb(r["true"]), "shuffled_bpb": bpb(r["shuffled_mean"]),
               "gain_bits_per_kb": 1000 * (bpb(r["shuffled_mean"]) - bpb(r["true"])),
               "p_value": r["p_value"], "permutations": r["permutations"],
               "own_condition_beats": float(np.mean(rank)) if rank else float("nan")}
        return out, (None if totals is None else totals / math.log(2) / bases.sum())

    matrices: dict = {}
    joint, joint_null = run_test(list(range(len(tuples))), lambda s: tuples.index(values[s]), seed)
    per_column, nulls = {}, {"all conditions": (joint["true_bpb"], joint_null, joint["p_value"])}
    first = len(tuples) + 1
    for k, c in enumerate(names):
        cols = list(range(first, first + codec.n_values(codec.variables[k])))
        # a value the model has no token for (an unseen level) is scored as unknown
        per_column[c], null = run_test(cols + [len(tuples)],
                                       lambda s, k=k, c=c: codec.bin_of(c, values[s][k], unseen="unknown"), seed + 1 + k)
        if train_values is not None:
            per_column[c]["predicted"] = _predicted(codec.variables[k], nats[:, cols], member,
                                                    [values[sample[i]][k] for i in test],
                                                    [values[s][k] for s in test_samples], train_values[c])
        nulls[c] = (per_column[c]["true_bpb"], null, per_column[c]["p_value"])
        first += len(cols)
    own = np.array([tuples.index(values[sample[i]]) for i in test])
    shuffled = np.array([np.mean([nats[r, tuples.index(values[s])] for s in test_samples if s != sample[i]] or [np.nan])
                         for r, i in enumerate(test)])
    scale = math.log(2) * bases
    return {"metrics": {"unknown_bpb": bpb(nats[:, len(tuples)].sum()), **joint, "per_condition": per_column,
                        "sequences": len(test), "samples": len(test_samples), "bases": int(bases.sum()),
                        "condition_tuples": len(tuples), "score_seconds": round(t_score, 1)},
            "nulls": nulls, "bases": bases, "samples": test_samples,
            "matrices": dict(zip(["all conditions"] + names, matrices.values())),
            "per_sequence": np.c_[nats[np.arange(len(test)), own] / scale, nats[:, len(tuples)] / scale, shuffled / scale]}


def _predicted(var: dict, nats: np.ndarray, member: np.ndarray, y_seq: list, y_sample: list, y_train: list) -> dict:
    """The model as a predictor of one column (sequence → environment): each value's likelihood
    with a uniform prior over the values, per sequence and per sample (its sequences' nats summed);
    the posterior mean of the bins' values (numeric: R², against the training mean's) or the most
    likely level (text: balanced accuracy)."""
    from sklearn.metrics import balanced_accuracy_score

    from genolm.environment.evaluation import r2

    def posterior(n):
        ll = -(n - n.min(1, keepdims=True))
        p = np.exp(ll)
        return p / p.sum(1, keepdims=True)

    out = {}
    for level, n, y in (("per_sequence", nats, y_seq), ("per_sample", member @ nats, y_sample)):
        p = posterior(n)
        if var["kind"] == "numeric":
            y = np.asarray(y, float)
            pred = p @ np.asarray(var["values"])
            out[level] = {"metric": "R2", "score": r2(y, pred),
                          "mean_baseline": r2(y, np.full_like(y, float(np.mean(y_train)))), "n": len(y)}
        else:
            import warnings

            pred = np.asarray(var["levels"])[p.argmax(1)]
            with warnings.catch_warnings():  # a level predicted that the held-out samples lack
                warnings.simplefilter("ignore", UserWarning)
                score = float(balanced_accuracy_score([str(v) for v in y], pred))
            out[level] = {"metric": "bal.acc", "score": score, "n": len(y)}
    return out


# ---- env explain ---------------------------------------------------------------------------------

def explain(args: ExplainArgs) -> dict:
    """Bits per base of each sequence under each condition set; the best per column (or set)."""
    from genolm.environment.sheet import read_sequences
    from genolm.io.atomic import atomic_file
    from genolm.tokenize.conditions import ConditionCodec
    from genolm.train import checkpoint
    from genolm.train.distributed import resolve_device

    device = resolve_device(args.device)
    model, tok, config = checkpoint.load_model(args.model, device)
    if "conditions" not in config:
        raise GenolmError("not a conditioned model (its config.json has no condition layout)",
                          file=checkpoint.checkpoint_dir(args.model), hint="train one with genolm env condition")
    codec = ConditionCodec.from_dict(config["conditions"])
    window = int(config.get("window") or model.config.max_len)
    sets = [(a.replace(" ", ""), codec.parse(a)) for a in args.at] if args.at else codec.grid()
    strand = args.strand if args.strand != "auto" else ("both" if _complement(tok, "auto") is not None else "forward")
    table = _complement(tok, strand)
    ids, _, seqs = read_sequences(args.inputs)
    rows = _encode(tok, seqs, ids, range(len(seqs)))
    set_ids = [tuple(codec.ids({}, tok))] + [tuple(codec.ids(v, tok)) for _, v in sets]
    jobs = [(i, pre) for i in range(len(seqs)) for pre in set_ids]
    nats = sequence_nats(model, tok, [rows[i] for i in range(len(seqs))], jobs, window=window,
                         batch_size=args.batch_size, table=table, device=device,
                         progress=not args.no_progress).reshape(len(seqs), len(set_ids))
    advance = np.asarray(tok.advance, float)
    bases = np.array([advance[rows[i]].sum() for i in range(len(seqs))])
    bpb = nats / math.log(2) / bases[:, None]
    # the best set, per column when scoring the grid (every value of one column, the others unknown)
    groups = {}
    for j, (label, v) in enumerate(sets, 1):
        groups.setdefault(next(iter(v)) if not args.at and len(v) == 1 else "set", []).append(j)
    header = ["id", "bases", "bpb_unknown"] + [f"bpb[{label}]" for label, _ in sets]
    for g in groups:
        header += [f"best_{g}", f"posterior_{g}"]
    with atomic_file(Path(args.out)) as tmp:
        with open(tmp, "w") as f:
            f.write("\t".join(header) + "\n")
            for i in range(len(seqs)):
                cells = [ids[i], str(int(bases[i]))] + [f"{x:.6f}" for x in bpb[i]]
                for cols in groups.values():
                    ll = -nats[i, cols]
                    post = np.exp(ll - ll.max())
                    post /= post.sum()
                    b = int(np.argmax(ll))
                    cells += [sets[cols[b] - 1][0], f"{post[b]:.4f}"]
                f.write("\t".join(cells) + "\n")
    return {"sequences": len(seqs), "sets": len(sets), "strand": strand, "columns": list(groups)}
