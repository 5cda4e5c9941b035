"""Sample sheets: one row per sample, joining sequence files to where and when they were taken.

A sheet is TSV or CSV (detected from the header line) with ``sample_id`` and ``path`` (relative to
the sheet's folder, or absolute) and any metadata columns.  Quantities carry their unit in the
column name, so ``temperature_c`` is fine and ``temperature`` is an error; known columns are
type- and range-checked:

======================  ==========================  ==================
column                  meaning                     allowed values
======================  ==========================  ==================
date                    sampling date               YYYY, YYYY-MM or YYYY-MM-DD
latitude, longitude     position (decimal degrees)  [-90, 90], [-180, 180]
depth_m                 depth below surface         >= 0
temperature_c / _k      water temperature           [-5, 150] °C / [268, 423] K
ph                      acidity                     [0, 14]
pressure_dbar / _bar    pressure                    >= 0
salinity_psu            salinity                    [0, 300]
======================  ==========================  ==================

Other columns are kept: numeric when every value parses as a number, text otherwise.  Empty,
``NA`` and ``nan`` mean missing.

>>> import tempfile, pathlib
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> _ = (d / "a.fa").write_text(">x\\nACGT\\n")
>>> _ = (d / "s.tsv").write_text("sample_id\\tpath\\tdepth_m\\tdate\\nS1\\ta.fa\\t5\\t2009-09-12\\n")
>>> sheet = read_sample_sheet(d / "s.tsv")
>>> sheet.samples["S1"]["depth_m"], sheet.samples["S1"]["date"]
(5.0, '2009-09-12')
"""

from __future__ import annotations

import csv
import datetime
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from genolm.errors import GenolmError

MISSING = {"", "na", "nan", "n/a", "null", "none"}
# quantity -> {unit suffix: (low, high)}; a column named after a quantity must carry a unit.
QUANTITIES: dict[str, dict[str, tuple[float, float]]] = {
    "depth": {"m": (0, 11_000)},
    "temperature": {"c": (-5, 150), "k": (268, 423)},
    "pressure": {"dbar": (0, 120_000), "bar": (0, 12_000), "kpa": (0, 1_200_000), "atm": (0, 12_000)},
    "salinity": {"psu": (0, 300), "ppt": (0, 300)},
    "oxygen": {"umol_kg": (0, 1000), "umol_l": (0, 1000), "mg_l": (0, 50)},
    "chlorophyll": {"mg_m3": (0, 1000), "ug_l": (0, 1000)},
    "nitrate": {"umol_l": (0, 1000)},
    "phosphate": {"umol_l": (0, 1000)},
}
UNITLESS: dict[str, tuple[float, float]] = {"latitude": (-90, 90), "longitude": (-180, 180), "ph": (0, 14)}
DATE = re.compile(r"^\d{4}(-\d{2}(-\d{2})?)?$")


@dataclass
class SampleSheet:
    """A validated sample sheet: ``samples[sample_id] -> {column: value}`` and ``paths[sample_id]``."""

    path: Path
    columns: list[str]
    samples: dict[str, dict] = field(default_factory=dict)
    paths: dict[str, Path] = field(default_factory=dict)

    def sample_for(self, path: str | os.PathLike) -> str | None:
        """The sample a sequence file belongs to (matched by resolved path), or None."""
        target = Path(path).resolve()
        for sample_id, p in self.paths.items():
            if p == target:
                return sample_id
        return None


def read_sample_sheet(path: str | os.PathLike, *, check_files: bool = True) -> SampleSheet:
    """Read and validate a TSV/CSV sample sheet (see the module docstring for the columns)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise GenolmError("no such sample sheet", file=path, hint="check the --samples path") from None
    except UnicodeDecodeError:
        raise GenolmError("sample sheet is not UTF-8 text", file=path) from None
    lines = text.splitlines()
    if not lines or not lines[0].strip():
        raise GenolmError("empty sample sheet", file=path, expected="a header: sample_id, path, …")
    delimiter = "\t" if "\t" in lines[0] else ","
    rows = list(csv.reader(lines, delimiter=delimiter))
    header = [h.strip() for h in rows[0]]
    _check_header(path, header)
    sheet = SampleSheet(path=path, columns=header)
    raw: dict[str, list[tuple[int, str]]] = {h: [] for h in header}
    for lineno, row in enumerate(rows[1:], 2):
        if not any(c.strip() for c in row):
            continue
        if len(row) != len(header):
            raise GenolmError("wrong number of columns", file=path, line=lineno,
                              expected=f"{len(header)} ({delimiter!r}-separated)", found=str(len(row)),
                              hint="quote values that contain the separator")
        values = dict(zip(header, (c.strip() for c in row)))
        sid = values["sample_id"]
        if not sid:
            raise GenolmError("missing sample_id", file=path, line=lineno)
        if sid in sheet.samples:
            raise GenolmError("duplicate sample_id", file=path, line=lineno, record=sid,
                              expected="one row per sample")
        sheet.samples[sid] = {}
        p = Path(values["path"])
        p = p if p.is_absolute() else path.parent / p
        if check_files and not p.is_file():
            raise GenolmError("sequence file of the sample does not exist", file=path, line=lineno,
                              record=sid, found=str(p), hint="paths are relative to the sheet's folder")
        sheet.paths[sid] = p.resolve()
        for h in header:
            raw[h].append((lineno, values[h]))
    if not sheet.samples:
        raise GenolmError("sample sheet has a header but no samples", file=path)
    ids = list(sheet.samples)
    for h in header:
        if h in ("sample_id", "path"):
            continue
        for sid, value in zip(ids, _column_values(path, h, raw[h])):
            sheet.samples[sid][h] = value
    return sheet


def _check_header(path: Path, header: list[str]) -> None:
    for required in ("sample_id", "path"):
        if required not in header:
            raise GenolmError(f"sample sheet has no {required!r} column", file=path, line=1,
                              expected="columns sample_id, path, then metadata", found=", ".join(header))
    seen = set()
    for h in header:
        if h in seen:
            raise GenolmError("duplicate column", file=path, line=1, found=repr(h))
        seen.add(h)
        if h.lower() in QUANTITIES:
            units = ", ".join(f"{h.lower()}_{u}" for u in QUANTITIES[h.lower()])
            raise GenolmError(f"column {h!r} has no unit", file=path, line=1, expected=units,
                              found=repr(h), hint="put the unit in the column name")
        if h.lower() == "date":
            continue
        q, _, unit = h.lower().partition("_")
        if q in QUANTITIES and unit and unit not in QUANTITIES[q]:
            units = ", ".join(f"{q}_{u}" for u in QUANTITIES[q])
            raise GenolmError(f"unknown unit in column {h!r}", file=path, line=1, expected=units,
                              found=repr(h))


def _column_values(path: Path, column: str, cells: list[tuple[int, str]]) -> list:
    name = column.lower()
    if name == "date":
        out = []
        for lineno, v in cells:
            if v.lower() in MISSING:
                out.append(None)
            elif not DATE.match(v) or not _valid_date(v):
                raise GenolmError("bad date", file=path, line=lineno, expected="YYYY, YYYY-MM or YYYY-MM-DD",
                                  found=repr(v), hint="write dates in ISO 8601 form")
            else:
                out.append(v)
        return out
    q, _, unit = name.partition("_")
    bounds = UNITLESS.get(name) or QUANTITIES.get(q, {}).get(unit)
    numbers = []
    for lineno, v in cells:
        if v.lower() in MISSING:
            numbers.append(None)
            continue
        try:
            x = float(v)
        except ValueError:
            if bounds is not None:
                raise GenolmError(f"column {column!r} must be numeric", file=path, line=lineno,
                                  expected="a number", found=repr(v)) from None
            return [None if v.lower() in MISSING else v for _, v in cells]  # a text column
        if bounds is not None and not (bounds[0] <= x <= bounds[1]) or math.isinf(x):
            raise GenolmError(f"value out of range in column {column!r}", file=path, line=lineno,
                              expected=f"{bounds[0]} to {bounds[1]}" if bounds else "a finite number",
                              found=v, hint="check the unit in the column name")
        numbers.append(x)
    return numbers


def _valid_date(v: str) -> bool:
    """A real calendar date (2009-02-30 is not), at year, month or day precision."""
    parts = [int(p) for p in v.split("-")]
    try:
        datetime.date(parts[0], parts[1] if len(parts) > 1 else 1, parts[2] if len(parts) > 2 else 1)
    except ValueError:
        return False
    return True


class IdJoin:
    """Places sequences at samples by their record ids, for sheets whose samples share one file
    (an assembly whose contig ids start with the station and depth layer, e.g. ``46SUR1MMQQ14_…``
    or ``TARA_078_SRF_0.22-3_…``).  ``patterns`` are regular expressions with named groups, tried
    in order; the first that matches fills ``template`` (``str.format`` with the groups).  A group
    that is all digits loses its leading zeros (``078`` → ``78``); ``aliases`` rename group values
    (``{"SRF": "SUR"}``: two spellings of the surface layer).

    >>> j = IdJoin([r"^(?P<station>\\d+)(?P<layer>[A-Z]{3})\\d", r"^TARA_(?P<station>\\d+)_(?P<layer>[A-Z]{3})_"],
    ...            "S{station}{layer}", {"SRF": "SUR"})
    >>> j.sample_of("46SUR1MMQQ14_2_ERR1711976_contig_849636"), j.sample_of("TARA_078_SRF_0.22-3_k119_405275")
    ('S46SUR', 'S78SUR')
    >>> j.sample_of("scaffold_7") is None
    True
    """

    def __init__(self, patterns: list[str], template: str, aliases: dict[str, str] | None = None) -> None:
        self.patterns = []
        for p in patterns:
            try:
                rx = re.compile(p)
            except re.error as e:
                raise GenolmError("bad id pattern", found=repr(p), expected="a Python regular expression",
                                  hint=str(e)) from None
            self.patterns.append(rx)
        self.template, self.aliases = template, dict(aliases or {})
        names = set(re.findall(r"{(\w+)", template))
        for rx in self.patterns:
            if not names <= set(rx.groupindex):
                raise GenolmError("id pattern lacks a group the sample template uses", found=rx.pattern,
                                  expected=f"named groups {', '.join(sorted(names))} (template {template!r})",
                                  hint="name groups as (?P<station>...)")

    def sample_of(self, record_id: str) -> str | None:
        for rx in self.patterns:
            m = rx.search(record_id)
            if m:
                groups = {k: self.aliases.get(v, v) for k, v in m.groupdict().items() if v is not None}
                groups = {k: str(int(v)) if v.isdigit() else v for k, v in groups.items()}
                return self.template.format(**groups)
        return None

    def place(self, ids: list[str], samples) -> tuple[dict[str, str], list[str], dict[str, str]]:
        """(id -> sample for ids whose sample is in ``samples``, ids no pattern matched,
        id -> sample name for ids that matched but whose sample is not in ``samples``)."""
        placed, unmatched, unknown = {}, [], {}
        for i in ids:
            s = self.sample_of(i)
            if s is None:
                unmatched.append(i)
            elif s in samples:
                placed[i] = s
            else:
                unknown[i] = s
        return placed, unmatched, unknown
