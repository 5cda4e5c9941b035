"""Fine-tuning: a classification or regression head on a pretrained backbone (full, a linear
probe on frozen embeddings, or LoRA adapters), or a model of any family trained from scratch as
a baseline, on labelled sequences (CSV/TSV/Parquet, or FASTA + labels); the best epoch on the
validation split is kept and scored once on test.  The command is ``genolm finetune``."""

from __future__ import annotations

import csv
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from genolm.errors import GenolmError
from genolm.io.arguments import CommandArgs
from genolm.io.progress import progress
from genolm.train import loop
from genolm.train.distributed import autocast, compiled
from genolm.train.optim import build_optimizer, build_scheduler

SCRATCH = ("cnn", "lstm", "transformer")


# ---- data ------------------------------------------------------------------------------------------

@dataclass
class Labelled:
    """One split: ids, sequences (upper case) and raw label strings, with the file they came from."""

    path: Path
    ids: list[str]
    seqs: list[str]
    labels: list[str]


def read_labelled(path: str | Path, labels: str | Path | None = None, alphabet: str = "dna") -> Labelled:
    path = Path(path)
    if not path.is_file():
        raise GenolmError("no such file", file=path)
    if _is_table(path):
        rows = _read_table(path, ("sequence", "label"))
        ids = [str(i) for i, _ in enumerate(rows)]
        seqs, labs = [r["sequence"] for _, r in rows], [r["label"] for _, r in rows]
        lines = [line for line, _ in rows]
    else:
        if labels is None:
            raise GenolmError("sequence file without labels", file=path,
                              hint="give --labels TABLE (columns id, label), or use a CSV with sequence,label")
        from genolm.io.seqio import read_records

        table = {r["id"]: (line, r["label"]) for line, r in _read_table(Path(labels), ("id", "label"))}
        ids, seqs, labs, lines = [], [], [], []
        for rec in read_records(path, alphabet=alphabet, unique_ids=True):
            if rec.id not in table:
                raise GenolmError("record has no label", file=labels, record=rec.id,
                                  hint=f"every record of {path.name} needs a row in the label table")
            ids.append(rec.id)
            seqs.append(rec.seq)
            labs.append(table[rec.id][1])
            lines.append(None)
    if not seqs:
        raise GenolmError("no sequences", file=path)
    from genolm.io.alphabet import get_alphabet

    alpha = get_alphabet(alphabet)
    for i, (s, lab, line) in enumerate(zip(seqs, labs, lines)):
        if not s:
            raise GenolmError("empty sequence", file=path, line=line, record=ids[i])
        bad = alpha.first_invalid(s.encode("latin-1", "replace"))
        if bad >= 0:
            raise GenolmError(f"character outside the {alpha.name} alphabet at position {bad + 1}", file=path,
                              line=line, record=ids[i], expected=f"one of {alpha.symbols}", found=repr(s[bad]))
        if lab == "":
            raise GenolmError("missing label", file=path, line=line, record=ids[i])
    return Labelled(path, ids, [s.upper() for s in seqs], labs)


def _is_table(path: Path) -> bool:
    name = path.name.lower()
    return name.endswith((".csv", ".tsv", ".txt", ".parquet", ".csv.gz", ".tsv.gz"))


def _read_table(path: Path, needed: tuple[str, ...]) -> list[tuple[int | None, dict]]:
    """Rows of a CSV/TSV (with their line numbers) or Parquet table; column names are lower-cased."""
    if path.name.lower().endswith(".parquet"):
        import pyarrow.parquet as pq

        try:
            table = pq.read_table(path)
        except Exception as e:  # pyarrow raises several types for a bad file
            raise GenolmError("not a readable Parquet file", file=path, found=str(e)[:120]) from None
        cols = {c.lower(): c for c in table.column_names}
        _check_columns(path, list(cols), needed)
        data = {k: [("" if v is None else str(v)) for v in table.column(cols[k]).to_pylist()] for k in needed}
        return [(None, {k: data[k][i] for k in needed}) for i in range(table.num_rows)]
    import gzip

    opener = gzip.open if path.name.lower().endswith(".gz") else open
    try:
        with opener(path, "rt", encoding="utf-8-sig", newline="") as f:
            text = f.read()
    except UnicodeDecodeError:
        raise GenolmError("table is not UTF-8 text", file=path) from None
    lines = text.splitlines()
    if not lines:
        raise GenolmError("empty table", file=path, expected="a header: " + ",".join(needed))
    delim = "\t" if "\t" in lines[0] else ","
    reader = csv.reader(lines, delimiter=delim)
    header = [h.strip().lower() for h in next(reader)]
    _check_columns(path, header, needed)
    at = {k: header.index(k) for k in needed}
    rows = []
    for lineno, row in enumerate(reader, 2):
        if not any(c.strip() for c in row):
            continue
        if len(row) != len(header):
            raise GenolmError("wrong number of columns", file=path, line=lineno, expected=str(len(header)),
                              found=str(len(row)), hint="quote values that contain the separator")
        rows.append((lineno, {k: row[i].strip() for k, i in at.items()}))
    return rows


def _check_columns(path: Path, header: list[str], needed: tuple[str, ...]) -> None:
    missing = [c for c in needed if c not in header]
    if missing:
        raise GenolmError("missing column(s): " + ", ".join(missing), file=path, line=1,
                          expected=", ".join(needed), found=", ".join(header)[:120] or "no header",
                          hint="the first line names the columns, e.g. sequence,label")


def infer_task(train: Labelled) -> str:
    """regress when every label parses as a number and some are not integers, else classify."""
    try:
        values = [float(v) for v in train.labels]
    except ValueError:
        return "classify"
    return "regress" if any(not float(v).is_integer() for v in values) else "classify"


def encode_labels(task: str, splits: dict[str, Labelled]) -> tuple[dict[str, np.ndarray], list[str]]:
    """Label arrays per split; for classification the class names (sorted, from the training set)."""
    if task == "regress":
        out = {}
        for name, s in splits.items():
            try:
                out[name] = np.asarray([float(v) for v in s.labels], np.float32)
            except ValueError as e:
                raise GenolmError("regression labels must be numbers", file=s.path, found=str(e)[:80]) from None
        return out, []
    classes = sorted(set(splits["train"].labels), key=lambda v: (not _is_int(v), int(v) if _is_int(v) else 0, v))
    if len(classes) < 2:
        raise GenolmError("the training set has one class only", file=splits["train"].path,
                          found=repr(classes[0]), hint="a classifier needs at least two labels")
    index = {c: i for i, c in enumerate(classes)}
    out = {}
    for name, s in splits.items():
        unknown = sorted(set(s.labels) - set(index))
        if unknown:
            raise GenolmError(f"{name} labels absent from the training set", file=s.path,
                              found=", ".join(map(repr, unknown[:5])), expected=", ".join(map(repr, classes[:10])))
        out[name] = np.asarray([index[v] for v in s.labels], np.int64)
    return out, classes


def _is_int(v: str) -> bool:
    try:
        int(v)
        return True
    except ValueError:
        return False


# ---- metrics ---------------------------------------------------------------------------------------

def classification_metrics(y: np.ndarray, prob: np.ndarray) -> dict:
    """accuracy, macro F1, MCC, and AUROC (binary, or one-vs-rest macro) from class probabilities."""
    from sklearn.metrics import accuracy_score, f1_score, matthews_corrcoef, roc_auc_score

    pred = prob.argmax(1)
    out = {"accuracy": float(accuracy_score(y, pred)), "f1": float(f1_score(y, pred, average="macro")),
           "mcc": float(matthews_corrcoef(y, pred))}
    try:
        present = np.unique(y)
        if len(present) < 2:
            raise ValueError
        if prob.shape[1] == 2:
            out["auroc"] = float(roc_auc_score(y, prob[:, 1]))
        else:
            out["auroc"] = float(roc_auc_score(y, prob, multi_class="ovr", average="macro", labels=range(prob.shape[1])))
    except ValueError:  # one class present: AUROC is undefined
        out["auroc"] = None
    return out


def regression_metrics(y: np.ndarray, pred: np.ndarray) -> dict:
    from scipy.stats import pearsonr, spearmanr
    from sklearn.metrics import mean_squared_error, r2_score

    const = np.ptp(pred) == 0 or np.ptp(y) == 0
    return {"r2": float(r2_score(y, pred)), "mse": float(mean_squared_error(y, pred)),
            "spearman": None if const else float(spearmanr(y, pred).statistic),
            "pearson": None if const else float(pearsonr(y, pred).statistic)}


# ---- LoRA ------------------------------------------------------------------------------------------

class LoRALinear(nn.Module):
    """``base(x) + (alpha / r) · B(A(x))`` with ``base`` frozen, A small random and B zero (so
    training starts exactly at the pretrained model)."""

    def __init__(self, base: nn.Linear, r: int, alpha: float | None = None) -> None:
        super().__init__()
        self.base = base
        for p in base.parameters():
            p.requires_grad_(False)
        self.lora_a = nn.Parameter(torch.empty(r, base.in_features, device=base.weight.device))
        self.lora_b = nn.Parameter(torch.zeros(base.out_features, r, device=base.weight.device))
        nn.init.kaiming_uniform_(self.lora_a, a=math.sqrt(5))
        self.scale = (alpha if alpha is not None else 2 * r) / r

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.base(x) + (x @ self.lora_a.t().to(x.dtype)) @ self.lora_b.t().to(x.dtype) * self.scale


def add_lora(backbone: nn.Module, r: int) -> int:
    """Freeze ``backbone`` and wrap each of its linear layers with a rank-``r`` adapter; returns
    how many layers got one."""
    if r < 1:
        raise GenolmError("--lora needs a rank of at least 1", found=str(r))
    for p in backbone.parameters():
        p.requires_grad_(False)
    targets = [(parent, name, child) for parent in backbone.modules() for name, child in parent.named_children()
               if isinstance(child, nn.Linear)]
    if not targets:
        raise GenolmError("--lora found no linear layers in this backbone", hint="use full fine-tuning or --freeze")
    for parent, name, child in targets:
        setattr(parent, name, LoRALinear(child, r))
    return len(targets)


# ---- the command -----------------------------------------------------------------------------------


def epochs_for(epochs: int, min_steps: int, steps_per_epoch: int) -> int:
    """Epochs to plan: ``epochs``, or more when that is fewer than ``min_steps`` optimizer steps.

    >>> epochs_for(8, 0, 30), epochs_for(8, 1000, 30), epochs_for(8, 1000, 300)
    (8, 34, 8)
    """
    return max(epochs, -(-min_steps // max(1, steps_per_epoch)))


@dataclass(kw_only=True)
class FinetuneArgs(CommandArgs):
    """Options of ``genolm finetune`` (see its --help)."""

    model: str
    train: str
    val: str
    test: str
    labels: str | None = None
    task: str = "auto"
    freeze: bool = False
    lora: int = 0
    flavor: str = "tiny"
    pool: str = "mean"
    epochs: int = 10
    patience: int = 3
    min_steps: int = 0
    batch_size: int = 32
    lr: float | None = None
    weight_decay: float = 0.01
    compile: bool = False

    def check(self) -> None:
        if self.task not in ("auto", "classify", "regress"):
            self.fail("task", "auto | classify | regress", self.task)
        if self.freeze and self.lora:
            raise GenolmError("--freeze and --lora exclude each other", hint="a probe trains the head only; LoRA adds adapters")
        for name in ("epochs", "patience", "batch_size"):
            self.at_least(name, 1)
        self.at_least("min_steps", 0)
        self.at_least("lora", 0)
        if self.model in SCRATCH and self.freeze:
            raise GenolmError("--freeze on a model from scratch would train a probe on random features",
                              hint="drop --freeze to train the baseline")


def run(args: FinetuneArgs) -> dict:
    """Fine-tune as the command line says; writes --out and returns its metrics.json content."""
    from genolm.infer.embedding import Embedder
    from genolm.io.atomic import atomic_dir
    from genolm.model.lm import SequenceClassifier
    from genolm.train.distributed import resolve_device

    device = resolve_device(args.device)
    torch.manual_seed(args.seed)
    emb = scratch_embedder(args.model, args.flavor, device) if args.model in SCRATCH else Embedder.load(args.model, device)
    splits = {name: read_labelled(getattr(args, name), args.labels, emb.alphabet) for name in ("train", "val", "test")}
    task = infer_task(splits["train"]) if args.task == "auto" else args.task
    y, classes = encode_labels(task, splits)
    n_out = len(classes) if task == "classify" else 1
    mode = "probe" if args.freeze else ("lora" if args.lora else ("scratch" if args.model in SCRATCH else "full"))
    lr = args.lr or {"probe": 3e-3, "lora": 5e-4, "scratch": 3e-4, "full": 3e-5}[mode]
    emb.check_options(args.pool, None, "forward")

    t0 = time.perf_counter()
    if mode == "probe":
        feats = {k: torch.from_numpy(emb.embed(s.seqs, pool=args.pool)) for k, s in splits.items()}
        model = nn.Linear(emb.hidden_size, n_out).to(device)
        forward = {k: (lambda idx, k=k: model(feats[k][idx].to(device))) for k in splits}
    else:
        if mode == "lora":
            add_lora(emb.backbone, args.lora)
        model = SequenceClassifier(emb.backbone, n_out, pool=args.pool, pad_id=emb.pad_id).to(device)
        tokens = {k: [truncate(emb.encode(s), emb.max_len) for s in sp.seqs] for k, sp in splits.items()}
        run_model = compiled(model) if args.compile else model
        forward = {k: (lambda idx, k=k: classify_batch(run_model, emb, [tokens[k][i] for i in idx], device))
                   for k in splits}
    trainable = [p for p in model.parameters() if p.requires_grad]
    opt = build_optimizer(model, lr=lr, weight_decay=args.weight_decay, betas=(0.9, 0.999), device=device,
                          decay_vectors=True)
    # Warmup then linear decay over the planned steps (early stopping may end sooner): without the
    # warmup a from-scratch CNN sat at chance on real GUE tasks at lr >= 1e-3.
    steps_per_epoch = math.ceil(len(splits["train"].seqs) / args.batch_size)
    epochs = epochs_for(args.epochs, args.min_steps, steps_per_epoch)
    total_steps = epochs * steps_per_epoch
    schedule = build_scheduler(opt, warmup=max(1, round(0.06 * total_steps)), total=total_steps, min_ratio=0.0,
                               shape="linear")
    loss_fn = nn.CrossEntropyLoss() if task == "classify" else nn.MSELoss()
    target = {k: torch.as_tensor(v) for k, v in y.items()}
    if task == "regress":  # standardise targets for training; predictions are scaled back
        mu, sd = float(y["train"].mean()), float(y["train"].std() or 1.0)
    metric = "mcc" if task == "classify" else "r2"

    def predict(split: str) -> np.ndarray:
        model.eval()
        outs = []
        with torch.no_grad():
            for lo in range(0, len(y[split]), 4 * args.batch_size):
                idx = np.arange(lo, min(lo + 4 * args.batch_size, len(y[split])))
                outs.append(forward[split](idx).float().cpu())
        model.train()
        out = torch.cat(outs)
        return out.softmax(-1).numpy() if task == "classify" else out[:, 0].numpy() * sd + mu

    def score(split: str, out: np.ndarray) -> dict:
        return classification_metrics(y[split], out) if task == "classify" else regression_metrics(y[split], out)

    history = []
    state = {"best": -math.inf, "best_state": None, "best_epoch": 0, "bad_epochs": 0, "order": None, "total": 0.0}
    rng = np.random.default_rng(args.seed)
    bar = progress(total_steps, "finetune", "step", enabled=not args.no_progress)
    model.train()

    def backward(step: int) -> torch.Tensor:
        """One batch of the epoch's shuffled order (drawn at the epoch's first step)."""
        if step % steps_per_epoch == 0:
            state["order"], state["total"] = rng.permutation(len(y["train"])), 0.0
        lo = step % steps_per_epoch * args.batch_size
        idx = state["order"][lo: lo + args.batch_size]
        with autocast(device):
            out = forward["train"](idx).float()
        t = target["train"][idx].to(device)
        loss = loss_fn(out, t) if task == "classify" else loss_fn(out[:, 0], (t - mu) / sd)
        loss.backward()
        state["total"] = state["total"] + loss.detach() * len(idx)  # a tensor: no GPU sync per step
        return loss.detach()

    def after_step(done: int, _loss, _norm) -> bool:
        """At an epoch's end: validate, keep the best weights, stop after --patience bad epochs."""
        bar.update(1)
        if done % steps_per_epoch:
            return False
        val = score("val", predict("val"))
        history.append({"epoch": done // steps_per_epoch, "train_loss": float(state["total"]) / len(y["train"]),
                        **{f"val_{k}": v for k, v in val.items()}})
        bar.set_postfix(val=f"{val[metric]:.3f}" if val[metric] is not None else "-")
        current = val[metric] if val[metric] is not None else -math.inf
        if current > state["best"]:
            state.update(best=current, best_epoch=done // steps_per_epoch, bad_epochs=0,
                         best_state={k: v.detach().cpu().clone() for k, v in model.state_dict().items()})
            return False
        state["bad_epochs"] += 1
        return state["bad_epochs"] >= args.patience

    loop.fit(model, opt, schedule, backward, steps=total_steps, grad_clip=1.0, after_step=after_step)
    bar.close()
    best_state, best_epoch = state["best_state"], state["best_epoch"]
    model.load_state_dict(best_state)
    outputs = {k: predict(k) for k in ("val", "test")}
    metrics = {"task": task, "mode": mode, "model": str(args.model), "best_epoch": best_epoch,
               "epochs_run": len(history), "epochs_planned": epochs, "lr": lr, "train_seconds": round(time.perf_counter() - t0, 1),
               "n_train": len(y["train"]), "n_val": len(y["val"]), "n_test": len(y["test"]),
               "trainable_params": sum(p.numel() for p in trainable),
               "total_params": sum(p.numel() for p in model.parameters()),
               **{f"val_{k}": v for k, v in score("val", outputs["val"]).items()},
               **{f"test_{k}": v for k, v in score("test", outputs["test"]).items()}}
    with atomic_dir(args.out) as tmp:
        (tmp / "metrics.json").write_text(json.dumps(metrics, indent=1) + "\n")
        (tmp / "history.jsonl").write_text("".join(json.dumps(h) + "\n" for h in history))
        write_predictions(tmp / "predictions.tsv", splits, y, outputs, classes, task)
        from safetensors.torch import save_file

        save_file({k: v.contiguous() for k, v in best_state.items()}, str(tmp / "model.safetensors"))
        (tmp / "finetune.json").write_text(json.dumps(
            {"model": str(args.model), "flavor": args.flavor if args.model in SCRATCH else None, "task": task,
             "mode": mode, "classes": classes, "pool": args.pool, "lora": args.lora or None,
             "target_mean_sd": [mu, sd] if task == "regress" else None,
             "args": {k: v for k, v in vars(args).items() if not k.startswith("_")},
             "model_stamp": model_stamp(args.model)},
            indent=1, default=str) + "\n")
    return metrics


def model_stamp(model: str) -> list | None:
    """Name, size and modification time of the files that hold a model's weights (so a re-trained
    model in the same folder counts as another model); None for a model from scratch."""
    path = Path(model)
    if model in SCRATCH or not path.is_dir():
        return None
    folder = path / "checkpoint" if (path / "checkpoint").is_dir() else path
    return sorted([f.name, f.stat().st_size, f.stat().st_mtime_ns] for f in folder.iterdir()
                  if f.is_file() and f.suffix in (".safetensors", ".bin", ".json"))


def truncate(ids: np.ndarray, max_len: int) -> np.ndarray:
    """The first ``max_len`` tokens (a Hugging Face tokenizer's final <eos>/<sep> is cut with the rest)."""
    return ids if len(ids) <= max_len else ids[:max_len]


def classify_batch(model, emb, rows: list[np.ndarray], device: str) -> torch.Tensor:
    from genolm.infer.embedding import pad_rows

    ids, pad = pad_rows(rows, emb.pad_id, device)
    docs = pad.long() if (not emb.hf and not emb.causal and bool(pad.any())) else None
    return model(ids, docs)


def scratch_embedder(family: str, flavor: str, device: str):
    """An untrained bidirectional model of ``family`` with char tokens, behind the Embedder interface."""
    from genolm.infer.embedding import Embedder
    from genolm.model import build_model, config_for
    from genolm.tokenize import PAD, get_tokenizer

    tok = get_tokenizer("char")
    cfg = config_for(flavor, family, vocab_size=tok.vocab_size, causal=False)
    model = build_model(cfg).to(device)
    return Embedder(model.backbone, lambda s: np.asarray(tok.encode(s), np.int64), pad_id=PAD,
                    max_len=cfg.max_len, n_layers=cfg.n_layers, hidden_size=cfg.d_model, source=family,
                    kind=f"{family} from scratch", alphabet="dna", device=device)


def write_predictions(path: Path, splits, y, outputs, classes, task) -> None:
    with open(path, "w") as f:
        if task == "classify":
            f.write("split\tid\tlabel\tprediction\t" + "\t".join(f"p_{c}" for c in classes) + "\n")
            for split in ("val", "test"):
                for i, p in zip(splits[split].ids, range(len(y[split]))):
                    prob = outputs[split][p]
                    f.write(f"{split}\t{i}\t{classes[y[split][p]]}\t{classes[int(prob.argmax())]}\t"
                            + "\t".join(f"{v:.5f}" for v in prob) + "\n")
        else:
            f.write("split\tid\tlabel\tprediction\n")
            for split in ("val", "test"):
                for i, p in zip(splits[split].ids, range(len(y[split]))):
                    f.write(f"{split}\t{i}\t{y[split][p]:.6g}\t{outputs[split][p]:.6g}\n")
