"""Sequences joined to their samples: read the inputs (default: the sample sheet's files) and
place each sequence at a sample, by its file or by a pattern over its record id."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from genolm.errors import GenolmError
from genolm.io.arguments import CommandArgs

# ---- joining sequences to samples --------------------------------------------------------------

@dataclass(kw_only=True)
class JoinArgs(CommandArgs):
    """How sequences find their samples: the sheet's files, or patterns over record ids."""

    inputs: list[str] = field(default_factory=list)  # default: the sheet's files
    samples: str | None = None
    id_pattern: list[str] | None = None
    sample_template: str = "{sample}"
    alias: list[str] = field(default_factory=list)
    group: str | None = None  # held out together (default: station if the sheet has it, else the sample)


def read_sequences(paths: list[str]) -> tuple[list[str], list[str], list[str]]:
    """ids, source file, sequence (upper case) of every record of ``paths``."""
    from genolm.io.seqio import read_records

    ids, files, seqs = [], [], []
    for p in paths:
        if not Path(p).is_file():
            raise GenolmError("no such input file", file=p)
        for r in read_records(p, case="upper", unique_ids=False):
            ids.append(r.id)
            files.append(str(p))
            seqs.append(r.seq)
    if not seqs:
        raise GenolmError("no sequences in the input", file=paths[0] if paths else None)
    return ids, files, seqs


def place(args, sheet, ids: list[str], files: list[str]) -> list[str | None]:
    """The sample of every sequence (None: not placed), by id pattern or by file."""
    from genolm.io.samples import IdJoin

    if args.id_pattern:
        aliases = {}
        for a in args.alias:
            src, sep, dst = a.partition("=")
            if not sep or not src:
                raise GenolmError("bad --alias", expected="FROM=TO", found=repr(a))
            aliases[src] = dst
        join = IdJoin(args.id_pattern, args.sample_template, aliases)
        try:
            return [s if s in sheet.samples else None for s in map(join.sample_of, ids)]
        except (KeyError, IndexError) as e:
            raise GenolmError("--sample-template names a group the patterns do not have", found=str(e)) from None
    by_file = {f: sheet.sample_for(f) for f in set(files)}
    return [by_file[f] for f in files]


def sheet_and_sequences(args, columns: list[str], what: str):
    """The sample sheet (``columns`` checked), the column held out together (``--group``, default
    station, else the sample), and the inputs (default: the sheet's files) placed at samples:
    (sheet, group, ids, files, sequences, sample of each sequence or None)."""
    from genolm.io.samples import read_sample_sheet

    sheet = read_sample_sheet(args.samples)
    for c in columns:
        if c not in sheet.columns or c in ("sample_id", "path"):
            raise GenolmError(f"no {what} column {c!r} in the sample sheet", file=args.samples, line=1,
                              expected="one of " + ", ".join(h for h in sheet.columns if h not in ("sample_id", "path")))
    group = args.group or ("station" if "station" in sheet.columns else "sample_id")
    if group != "sample_id" and group not in sheet.columns:
        raise GenolmError(f"no group column {group!r} in the sample sheet", file=args.samples, line=1)
    ids, files, seqs = read_sequences(args.inputs or sorted({str(p) for p in sheet.paths.values()}))
    return sheet, group, ids, files, seqs, place(args, sheet, ids, files)


# ---- fit ---------------------------------------------------------------------------------------


# ---- predict -----------------------------------------------------------------------------------
