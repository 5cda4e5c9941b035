"""Fine-tune a model to classify or regress labelled sequences — or train a baseline from scratch.

Tables are CSV, TSV or Parquet with a ``sequence`` and a ``label`` column (the GUE layout);
FASTA/FASTQ files work too with ``--labels TABLE`` (columns ``id`` and ``label``).  ``--model`` is a
genolm run, a local Hugging Face model folder (ESM / BERT), or ``cnn`` / ``lstm`` / ``transformer``
to train that family from scratch (``--flavor``, char tokens), the baseline that shows what
pretraining buys.

Three ways to train: full fine-tuning (default); ``--freeze`` (a linear probe on frozen
embeddings, computed once); ``--lora R`` (rank-R adapters on every linear layer of the backbone,
the backbone itself frozen).  Every epoch is scored on --val; training stops when the validation
metric (MCC, or R² for regression) has not improved for --patience epochs, and the best epoch's
model is scored on --test.

Outputs in --out (written atomically): ``metrics.json`` (``val_mcc``, ``test_mcc``,
``test_accuracy``, ``test_f1``, ``test_auroc``; ``test_r2``, ``test_spearman``, ``test_pearson`` for
regression; epochs, times, parameters), ``predictions.tsv`` (split, id, label, prediction, class
probabilities), ``history.jsonl`` (one line per epoch), ``model.safetensors`` + ``finetune.json``.

Example:
  genolm finetune --model run --train gue/prom_300_tata/train.csv --val gue/prom_300_tata/dev.csv \\
      --test gue/prom_300_tata/test.csv --out ft_tata
  genolm finetune --model cnn --flavor small --train train.csv --val dev.csv --test test.csv --out cnn_tata
  genolm finetune --model nt-50m/ --lora 8 --train … --val … --test … --out nt_lora
"""

from __future__ import annotations

import argparse

from genolm.commands.options import add_device, add_no_progress, add_seed
from genolm.finetune.finetune import FinetuneArgs, run

ARGS = FinetuneArgs  # the options as one dataclass (tests/test_cli.py: the same names and defaults as the parser)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True,
                   help="genolm run, local Hugging Face folder, or cnn | lstm | transformer (from scratch)")
    p.add_argument("--train", required=True, help="CSV/TSV/Parquet (sequence, label) or FASTA with --labels")
    p.add_argument("--val", required=True, help="validation set (early stopping, model choice)")
    p.add_argument("--test", required=True, help="test set (scored once, with the best epoch's model)")
    p.add_argument("--labels", default=None, help="for FASTA inputs: a CSV/TSV with columns id, label")
    p.add_argument("--out", required=True, help="output directory (replaced atomically)")
    p.add_argument("--task", default="auto", choices=("auto", "classify", "regress"),
                   help="auto: regress when every label is a number with a fraction, else classify")
    p.add_argument("--freeze", action="store_true", help="linear probe on frozen embeddings")
    p.add_argument("--lora", type=int, default=0, metavar="R", help="rank-R LoRA adapters (backbone frozen)")
    p.add_argument("--flavor", default="tiny", help="size of a from-scratch model (default: tiny)")
    p.add_argument("--pool", default="mean", choices=("mean", "last", "cls"),
                   help="how a sequence becomes one vector (default: mean; last for causal models)")
    p.add_argument("--epochs", type=int, default=10,
                   help="passes over the training set at most (the best epoch on --val is kept; --patience stops early)")
    p.add_argument("--patience", type=int, default=3, help="epochs without improvement before stopping")
    p.add_argument("--min-steps", type=int, default=0, metavar="N",
                   help="train at least N optimizer steps: small data sets get more epochs than --epochs "
                        "(early stopping still applies; default: 0)")
    p.add_argument("--batch-size", type=int, default=32, help="sequences per optimizer step")
    p.add_argument("--lr", type=float, default=None,
                   help="peak learning rate (linear warmup over 6%% of the steps, then linear decay); "
                        "default: 3e-5 full fine-tuning, 3e-4 from scratch, 5e-4 LoRA, 3e-3 linear probe")
    p.add_argument("--weight-decay", type=float, default=0.01, help="AdamW weight decay")
    add_seed(p, "initialisation, batches and dropout")
    p.add_argument("--compile", action="store_true",
                   help="torch.compile the model (faster steps on a GPU; compiling takes a minute)")
    add_device(p)
    add_no_progress(p)


# ---- data ------------------------------------------------------------------------------------------


# ---- metrics ---------------------------------------------------------------------------------------


# ---- LoRA ------------------------------------------------------------------------------------------


# ---- the command -----------------------------------------------------------------------------------

def setup(args: argparse.Namespace) -> int:
    metrics = run(FinetuneArgs.from_namespace(args))
    shown = ("mcc", "accuracy", "f1", "auroc") if metrics["task"] == "classify" else ("r2", "spearman", "pearson")
    print(f"{args.out}: {metrics['mode']} {metrics['task']}, best epoch {metrics['best_epoch']} of "
          f"{metrics['epochs_run']}; " + ", ".join(f"test_{k} {metrics[f'test_{k}']:.4f}" for k in shown
                                                  if metrics.get(f"test_{k}") is not None))
    return 0
