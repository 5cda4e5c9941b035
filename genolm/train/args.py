"""Training arguments: one dataclass that checks itself, loadable from a YAML recipe.

Precedence: defaults < recipe (``--config recipe.yaml``) < flags given on the command line.

>>> TrainArgs(data="corpus", out="run", steps=10).warmup
1
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from genolm.errors import GenolmError

OBJECTIVES = ("clm", "mlm")
FAMILIES = ("transformer", "lstm", "cnn")
PRECISIONS = ("auto", "fp32", "bf16")
PARALLEL = ("ddp", "fsdp", "none")


@dataclass
class TrainArgs:
    data: str
    out: str
    model: str = "tiny"              # flavor: debug | tiny | small | base | large
    family: str = "transformer"      # transformer | lstm | cnn
    objective: str = "clm"           # clm (next token) | mlm (masked tokens)
    steps: int = 1000                # optimizer steps (with minutes: the most)
    minutes: float | None = None     # wall-clock budget: the step count is planned from the measured speed
    batch_size: int = 16             # windows per step, over all ranks and accumulation
    grad_accum: int = 1              # micro-batches per step
    window: int | None = None        # tokens per window (default: the corpus's)
    lr: float = 1e-3
    min_lr_ratio: float = 0.1
    warmup: int | None = None        # steps (default: 5% of steps, at least 1)
    weight_decay: float = 0.1
    grad_clip: float = 1.0
    mask_prob: float = 0.15          # mlm: fraction of sequence tokens scored
    rc_augment: bool = True          # reverse-complement half the windows (nucleotide letters)
    seed: int = 0
    eval_every: int = 100
    eval_batches: int = 20
    save_every: int = 200
    patience: int = 0                # stop after this many validations without a new best (0: never); the checkpoint is the best
    log_every: int = 10
    device: str = "auto"             # auto | cpu | cuda
    precision: str = "auto"          # auto (bf16 on GPU, fp32 on CPU) | fp32 | bf16
    compile: bool = False
    parallel: str = "ddp"            # how several ranks share the work: ddp | fsdp | none
    resume: bool = False
    init: str | None = None          # start from another run's weights (continued pretraining on this corpus)
    progress: bool = True            # a bar on a terminal, a line every 30 s otherwise
    overrides: dict = dataclasses.field(default_factory=dict)  # model config fields

    def __post_init__(self) -> None:
        def bad(flag, expected, found):
            raise GenolmError(f"bad value for --{flag.replace('_', '-')}", expected=expected, found=repr(found))

        for flag, choices in (("objective", OBJECTIVES), ("family", FAMILIES),
                              ("precision", PRECISIONS), ("parallel", PARALLEL)):
            if getattr(self, flag) not in choices:
                bad(flag, " | ".join(choices), getattr(self, flag))
        for flag in ("steps", "batch_size", "grad_accum", "eval_every", "eval_batches", "save_every",
                     "patience", "log_every"):
            least = 0 if flag in ("save_every", "patience") else 1  # --save-every 0: no checkpoint (a timing run)
            if not isinstance(getattr(self, flag), int) or getattr(self, flag) < least:
                bad(flag, "a positive integer" + (" or 0" if least == 0 else ""), getattr(self, flag))
        if self.patience and not self.save_every:
            bad("patience", "0 with --save-every 0 (early stopping keeps the best checkpoint)", self.patience)
        if self.batch_size % self.grad_accum:
            bad("batch_size", f"a multiple of --grad-accum ({self.grad_accum})", self.batch_size)
        if not 0 < self.lr < 1:
            bad("lr", "0 < lr < 1", self.lr)
        if not 0 <= self.min_lr_ratio <= 1:
            bad("min_lr_ratio", "0 to 1", self.min_lr_ratio)
        if not 0 < self.mask_prob < 1:
            bad("mask_prob", "0 < p < 1", self.mask_prob)
        if self.minutes is not None and not self.minutes > 0:
            bad("minutes", "a positive number of minutes", self.minutes)
        if self.window is not None and self.window < 2:
            bad("window", "at least 2 tokens", self.window)
        if self.warmup is None:
            self.warmup = max(1, self.steps // 20)
        if not isinstance(self.overrides, dict):
            bad("overrides", "a mapping of model config fields", self.overrides)

    @classmethod
    def from_sources(cls, flags: dict, recipe: str | None = None) -> "TrainArgs":
        """Defaults, then the YAML recipe, then the flags that were given (not None)."""
        values: dict = {}
        if recipe:
            values.update(load_recipe(recipe))
        values.update({k: v for k, v in flags.items() if v is not None})
        return cls(**values)


def load_recipe(path: str | Path) -> dict:
    """A YAML recipe: keys are TrainArgs fields (``model_config:`` holds model overrides)."""
    import yaml

    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise GenolmError("no such recipe", file=path) from None
    except yaml.YAMLError as err:
        raise GenolmError(f"recipe is not valid YAML ({err})".replace("\n", " "), file=path) from None
    if not isinstance(data, dict):
        raise GenolmError("recipe must be a mapping of options", file=path, found=type(data).__name__)
    if "model_config" in data:
        data["overrides"] = data.pop("model_config")
    known = {f.name for f in dataclasses.fields(TrainArgs)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise GenolmError(f"unknown recipe key {unknown[0]!r}", file=path,
                          expected=", ".join(sorted(known - {"data", "out"})),
                          hint="model settings go under model_config:")
    return data
