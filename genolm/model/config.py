"""Model configuration: one typed dataclass for every family, and named flavors.

A :class:`ModelConfig` says everything needed to rebuild a model's architecture; it validates
itself on construction (the error names the field) and round-trips through JSON with
:meth:`ModelConfig.to_dict` / :meth:`ModelConfig.from_dict`, so a checkpoint's ``config.json`` is
enough to rebuild the model.

Flavors (``config_for``) fix the width and depth; the family and the attention direction are
chosen separately::

    flavor   d_model  n_layers  n_heads  d_ff   transformer, non-embedding parameters
    debug         32         2        2   128     ~33 k   (every test uses it)
    tiny         128         4        4   384    ~0.85 M  (CPU)
    small        384         6        6  1024    ~10.6 M  (CPU / one GPU)
    base         768        12       12  2048    ~85 M    (12 x 768, like BERT-base / GPT-2 small)
    large       1024        24       16  2752    ~304 M

Baselines get a comparable budget: same ``d_model``, same ``n_layers``, same embedding and head,
and each block sized to spend about what a transformer block spends (``4 d^2`` attention +
``3 d d_ff`` SwiGLU):

* ``lstm``: a block is a pre-norm residual LSTM layer (``d -> h`` per direction, then ``h or 2h ->
  d``); ``lstm_hidden`` ``h`` defaults to the size whose block matches the transformer block
  (rounded to a multiple of 8), so a bidirectional LSTM gets a narrower ``h`` than a causal one.
* ``cnn``: a block is the transformer block with attention replaced by a depthwise dilated
  convolution and a gated pointwise mix (``k d + 3 d^2`` instead of ``4 d^2``), so it carries about
  92 % of the transformer's parameters at ``base``.

>>> cfg = config_for("debug", vocab_size=80)
>>> cfg.d_model, cfg.n_layers, cfg.d_ff, cfg.causal
(32, 2, 128, True)
>>> ModelConfig.from_dict(cfg.to_dict()) == cfg
True
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from genolm.errors import GenolmError

FAMILIES = ("transformer", "lstm", "cnn")

FLAVORS: dict[str, dict] = {
    "debug": dict(d_model=32, n_layers=2, n_heads=2, max_len=256),
    "tiny": dict(d_model=128, n_layers=4, n_heads=4, max_len=1024),
    "small": dict(d_model=384, n_layers=6, n_heads=6, max_len=2048),
    "base": dict(d_model=768, n_layers=12, n_heads=12, max_len=4096),
    "large": dict(d_model=1024, n_layers=24, n_heads=16, max_len=4096),
}


def default_d_ff(d_model: int) -> int:
    """SwiGLU hidden size: 8/3 of the width (same parameters as a 4x GELU MLP), up to a multiple of 64.

    >>> default_d_ff(768), default_d_ff(1024)
    (2048, 2752)
    """
    return 64 * math.ceil(round(8 * d_model / 3) / 64)


@dataclass
class ModelConfig:
    """Architecture of a genolm model (any family); see the module docstring for the flavors.

    >>> ModelConfig(vocab_size=80, d_model=30, n_heads=4)
    Traceback (most recent call last):
    ...
    genolm.errors.GenolmError: bad model config: d_model must be divisible by n_heads (expected a multiple of n_heads=4, found d_model=30); hint: change d_model or n_heads
    """

    vocab_size: int
    family: str = "transformer"
    d_model: int = 32
    n_layers: int = 2
    n_heads: int = 2  # transformer only
    d_ff: int | None = None  # SwiGLU hidden size (transformer, cnn); None -> default_d_ff(d_model)
    max_len: int = 256  # longest sequence (transformer: size of the rotary tables)
    rope_theta: float = 10000.0
    norm_eps: float = 1e-5
    causal: bool = True
    dropout: float = 0.0
    tie_embeddings: bool = True
    init_std: float = 0.02
    # cnn
    kernel_size: int = 9
    dilations: tuple[int, ...] = (1, 2, 4, 8)  # layer i uses dilations[i % len(dilations)]
    # lstm: hidden size per direction; None -> matched to the transformer block's budget
    lstm_hidden: int | None = None

    def __post_init__(self) -> None:
        _check_choice("family", self.family, FAMILIES)
        for name in ("vocab_size", "d_model", "n_layers", "n_heads", "max_len", "kernel_size"):
            _check_int(name, getattr(self, name), low=1)
        for name in ("rope_theta", "norm_eps", "init_std"):
            _check_float(name, getattr(self, name), positive=True)
        _check_float("dropout", self.dropout)
        if not 0.0 <= self.dropout < 1.0:
            raise _bad("dropout", "a probability in [0, 1)", repr(self.dropout))
        for name in ("causal", "tie_embeddings"):
            if not isinstance(getattr(self, name), bool):
                raise _bad(name, "true or false", repr(getattr(self, name)))
        self.rope_theta, self.norm_eps = float(self.rope_theta), float(self.norm_eps)
        self.init_std, self.dropout = float(self.init_std), float(self.dropout)
        if self.d_ff is None:
            self.d_ff = default_d_ff(self.d_model)
        _check_int("d_ff", self.d_ff, low=1)
        if self.family == "transformer":
            if self.d_model % self.n_heads:
                raise GenolmError("bad model config: d_model must be divisible by n_heads",
                                  expected=f"a multiple of n_heads={self.n_heads}",
                                  found=f"d_model={self.d_model}", hint="change d_model or n_heads")
            if (self.d_model // self.n_heads) % 2:
                raise GenolmError("bad model config: head size d_model / n_heads must be even (rotary "
                                  "embeddings rotate pairs of channels)", expected="an even head size",
                                  found=f"{self.d_model} / {self.n_heads} = {self.d_model // self.n_heads}",
                                  hint="change d_model or n_heads")
        if self.kernel_size < 3 or self.kernel_size % 2 == 0:
            raise _bad("kernel_size", "an odd integer >= 3", repr(self.kernel_size))
        if isinstance(self.dilations, list):
            self.dilations = tuple(self.dilations)
        if (not isinstance(self.dilations, tuple) or not self.dilations
                or not all(isinstance(x, int) and not isinstance(x, bool) and x >= 1 for x in self.dilations)):
            raise _bad("dilations", "a non-empty list of integers >= 1", repr(self.dilations))
        if self.lstm_hidden is None:
            self.lstm_hidden = matched_lstm_hidden(self)
        _check_int("lstm_hidden", self.lstm_hidden, low=1)

    @property
    def head_dim(self) -> int:
        return self.d_model // self.n_heads

    def to_dict(self) -> dict:
        """Every field, JSON-serialisable (``dilations`` as a list)."""
        d = dataclasses.asdict(self)
        d["dilations"] = list(self.dilations)
        return d

    @classmethod
    def from_dict(cls, d: dict, *, source: str | None = None) -> "ModelConfig":
        """Rebuild a config from :meth:`to_dict`; unknown or missing fields are an error."""
        if not isinstance(d, dict):
            raise GenolmError("model config is not a mapping", file=source, expected="a JSON object",
                              found=type(d).__name__)
        names = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(d) - set(names))
        if unknown:
            raise GenolmError("unknown model config field(s)", file=source, found=", ".join(map(repr, unknown)),
                              expected=" | ".join(names),
                              hint="was this config written by another genolm version?")
        if "vocab_size" not in d:
            raise GenolmError("model config is missing a field", file=source, expected="'vocab_size'")
        try:
            return cls(**d)
        except GenolmError as e:
            raise e.with_context(file=source) from None


def config_for(flavor: str, family: str = "transformer", *, vocab_size: int, causal: bool = True,
               **overrides) -> ModelConfig:
    """The config of a named flavor for one family; ``overrides`` replace single fields.

    >>> config_for("base", "lstm", vocab_size=16).lstm_hidden
    936
    >>> config_for("small", vocab_size=80, max_len=512).max_len
    512
    """
    if flavor not in FLAVORS:
        raise GenolmError("unknown model flavor", expected=" | ".join(FLAVORS), found=repr(flavor))
    names = {f.name for f in dataclasses.fields(ModelConfig)}
    unknown = sorted(set(overrides) - names)
    if unknown:
        raise GenolmError("unknown model config field(s)", found=", ".join(map(repr, unknown)),
                          expected=" | ".join(sorted(names)))
    return ModelConfig(**{**FLAVORS[flavor], "family": family, "vocab_size": vocab_size,
                          "causal": causal, **overrides})


# ---- parameter budgets ---------------------------------------------------------------------------

def transformer_block_params(d: int, d_ff: int) -> int:
    """Parameters of one transformer block: q, k, v, o (4 d^2), SwiGLU (3 d d_ff), two norms."""
    return 4 * d * d + 3 * d * d_ff + 2 * d


def lstm_block_params(d: int, h: int, directions: int) -> int:
    """Parameters of one LSTM block: per direction 4 gates over [input, state] with two biases,
    then the output projection (directions * h -> d) and one norm."""
    return directions * (4 * h * (d + h) + 8 * h) + directions * h * d + d


def matched_lstm_hidden(cfg: ModelConfig) -> int:
    """Hidden size per direction whose LSTM block costs about one transformer block.

    Solves ``lstm_block_params(d, h) = transformer_block_params(d, d_ff)`` for ``h`` (a quadratic)
    and rounds to a multiple of 8.
    """
    d, n = cfg.d_model, 1 if cfg.causal else 2
    target = transformer_block_params(d, cfg.d_ff)
    a, b, c = 4 * n, n * (5 * d + 8), d - target
    h = (-b + math.sqrt(b * b - 4 * a * c)) / (2 * a)
    return max(8, 8 * round(h / 8))


# ---- validation helpers --------------------------------------------------------------------------

def _bad(name: str, expected: str, found: str) -> GenolmError:
    return GenolmError(f"bad model config field {name!r}", expected=expected, found=found)


def _check_int(name: str, value, *, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise _bad(name, f"an integer >= {low}", repr(value))


def _check_float(name: str, value, *, positive: bool = False) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise _bad(name, "a number", repr(value))
    if positive and value <= 0:
        raise _bad(name, "a number > 0", repr(value))


def _check_choice(name: str, value, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise _bad(name, " | ".join(choices), repr(value))
