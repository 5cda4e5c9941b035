"""Sample conditions as tokens: one reserved ``<cond_i>`` token per conditioning variable,
prepended to every window of a conditioned model (``genolm env condition``).

A numeric variable (``temperature_c``) is cut into bins at quantiles of the training samples'
values (one value per sample, not per sequence, so that a sample with many contigs does not
set the edges); a text variable (``layer``) gets one token per level.  Every variable also has an
*unknown* token, used for a missing value, for condition dropout in training, and to ask the
model for its unconditional likelihood.  The layout is stored with the model (``config.json``
key ``conditions``), so that ``env explain`` and ``generate --condition`` read values the same way.

>>> codec = ConditionCodec.fit({"temperature_c": [2.0, 8.0, 15.0, 22.0, 28.0], "layer": ["SUR", "DCM", "SUR", None, "MES"]}, bins=2)
>>> codec.indices({"temperature_c": 25.0, "layer": "DCM"}), codec.indices({})
([1, 3], [2, 6])
>>> [label for label, _ in codec.grid()]
['temperature_c<15', 'temperature_c>=15', 'layer=DCM', 'layer=MES', 'layer=SUR']
>>> codec.parse("temperature_c=4, layer=MES")
{'temperature_c': 4.0, 'layer': 'MES'}
"""

from __future__ import annotations

import math

import numpy as np

from genolm.errors import GenolmError


class ConditionCodec:
    """Values of named conditions -> condition-token indices (``tok.condition_id(i)`` gives ids)."""

    def __init__(self, variables: list[dict]) -> None:
        self.variables = variables
        self.names = [v["name"] for v in variables]
        offset = 0
        for v in variables:
            v["offset"] = offset
            offset += self.n_values(v) + 1  # + the unknown token
        self.n_tokens = offset

    @staticmethod
    def n_values(v: dict) -> int:
        return len(v["edges"]) + 1 if v["kind"] == "numeric" else len(v["levels"])

    # ---- building --------------------------------------------------------------------------------

    @classmethod
    def fit(cls, values: dict[str, list], bins: int = 8) -> "ConditionCodec":
        """Layout from each variable's values over the training samples (None = missing).

        Numeric variables get up to ``bins`` quantile bins (fewer when values repeat); each bin
        remembers the median of its samples' values as the value it stands for.
        """
        if bins < 2:
            raise GenolmError("--bins must be at least 2", found=str(bins))
        variables = []
        for name, vals in values.items():
            known = [v for v in vals if v is not None]
            if not known:
                raise GenolmError(f"condition {name!r} has no value in the training samples",
                                  hint="choose a column the sheet fills for these samples")
            if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in known):
                x = np.asarray(known, float)
                edges = np.unique(np.quantile(x, np.linspace(0, 1, bins + 1)[1:-1]))
                edges = edges[(edges > x.min()) & (edges <= x.max())]
                which = np.searchsorted(edges, x, side="right")
                centres = [float(np.median(x[which == b])) for b in range(len(edges) + 1)]
                variables.append({"name": name, "kind": "numeric", "edges": [float(e) for e in edges],
                                  "values": centres, "range": [float(x.min()), float(x.max())]})
            else:
                levels = sorted({str(v) for v in known})
                variables.append({"name": name, "kind": "category", "levels": levels})
        return cls(variables)

    def to_dict(self) -> dict:
        return {"variables": [{k: v for k, v in var.items() if k != "offset"} for var in self.variables],
                "n_tokens": self.n_tokens}

    @classmethod
    def from_dict(cls, d: dict) -> "ConditionCodec":
        return cls([dict(v) for v in d["variables"]])

    def check_tokenizer(self, tok) -> None:
        if self.n_tokens > tok.n_conditions:
            raise GenolmError("too many condition tokens for the tokenizer",
                              expected=f"at most {tok.n_conditions}", found=f"{self.n_tokens}",
                              hint="use fewer --bins or fewer --condition columns")

    # ---- values -> tokens ------------------------------------------------------------------------

    def index(self, name: str, value, unseen: str = "error") -> int:
        """Condition-token index of one variable's value (its unknown token for None).  A text
        value the training samples did not have is an error, or with ``unseen="unknown"`` the
        unknown token (a held-out sample from a layer no training sample came from)."""
        v = self._variable(name)
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return v["offset"] + self.n_values(v)
        if v["kind"] == "numeric":
            if isinstance(value, str):
                value = self._number(name, value)
            return v["offset"] + int(np.searchsorted(v["edges"], float(value), side="right"))
        if str(value) not in v["levels"]:
            if unseen == "unknown":
                return v["offset"] + self.n_values(v)
            raise GenolmError(f"unknown value of condition {name!r}", found=repr(value),
                              expected=" | ".join(v["levels"]))
        return v["offset"] + v["levels"].index(str(value))

    def bin_of(self, name: str, value, unseen: str = "error") -> int:
        """Position of a value among its column's values (0 .. n_values - 1; n_values = unknown)."""
        return self.index(name, value, unseen) - self._variable(name)["offset"]

    def indices(self, values: dict, unseen: str = "error") -> list[int]:
        """One index per variable, in layout order; variables not in ``values`` are unknown."""
        extra = set(values) - set(self.names)
        if extra:
            raise GenolmError("the model is not conditioned on " + ", ".join(sorted(extra)),
                              expected=" | ".join(self.names))
        return [self.index(n, values.get(n), unseen) for n in self.names]

    def ids(self, values: dict, tok, unseen: str = "error") -> list[int]:
        """Token ids of the prefix for ``values``."""
        return [tok.condition_id(i) for i in self.indices(values, unseen)]

    def parse(self, text: str) -> dict:
        """``"temperature_c=25,layer=SUR"`` -> {"temperature_c": 25.0, "layer": "SUR"} (checked)."""
        out = {}
        for part in filter(None, (p.strip() for p in text.split(","))):
            name, sep, value = part.partition("=")
            name, value = name.strip(), value.strip()
            if not sep or not name or not value:
                raise GenolmError("bad condition", expected="NAME=VALUE[,NAME=VALUE…]", found=repr(text))
            v = self._variable(name)
            out[name] = self._number(name, value) if v["kind"] == "numeric" else value
            self.index(name, out[name])
        return out

    def grid(self) -> list[tuple[str, dict]]:
        """Every value of every variable alone (the others unknown), as (label, values)."""
        out = []
        for v in self.variables:
            if v["kind"] == "numeric":
                e = v["edges"]
                for b, centre in enumerate(v["values"]):
                    if b == 0:
                        label = f"{v['name']}<{e[0]:.4g}" if e else f"{v['name']}"
                    elif b == len(e):
                        label = f"{v['name']}>={e[-1]:.4g}"
                    else:
                        label = f"{v['name']}={e[b - 1]:.4g}..{e[b]:.4g}"
                    out.append((label, {v["name"]: centre}))
            else:
                out.extend((f"{v['name']}={lv}", {v["name"]: lv}) for lv in v["levels"])
        return out

    def _variable(self, name: str) -> dict:
        for v in self.variables:
            if v["name"] == name:
                return v
        raise GenolmError(f"the model is not conditioned on {name!r}", expected=" | ".join(self.names))

    @staticmethod
    def _number(name: str, value: str) -> float:
        try:
            return float(value)
        except ValueError:
            raise GenolmError(f"condition {name!r} is numeric", expected="a number", found=repr(value)) from None
