"""Reads and truth tables of a metagenome, shared by binning and classification: the input
sequences (unique ids across files), and a truth table's read -> genome (or taxon) column, in
genolm simulate's and CAMISIM's layouts; a read's /1 or /2 mate suffix is ignored."""

from __future__ import annotations

import csv
from pathlib import Path

from genolm.errors import GenolmError

# Truth-table columns: genolm simulate's, and CAMISIM's reads_mapping.tsv.
READ_COLUMNS = ("read", "id", "anonymous_read_id")
GENOME_COLUMNS = ("genome", "genome_id")


def read_inputs(paths: list[str], min_length: int, what: str = "bin") -> tuple[list[str], list[str], list[str]]:
    from genolm.io.seqio import read_records

    ids, files, seqs = [], [], []
    seen: set[str] = set()
    for p in map(Path, paths):
        if not p.is_file():
            raise GenolmError("no such input file", file=p)
        for rec in read_records(p, case="upper"):
            if len(rec.seq) < min_length:
                continue
            if rec.id in seen:
                raise GenolmError("duplicate sequence id across the inputs", file=p, record=rec.id,
                                  hint=f"{what} one file of a pair (R1), or give the reads unique ids")
            seen.add(rec.id)
            ids.append(rec.id)
            files.append(p.name)
            seqs.append(rec.seq)
    if not seqs:
        raise GenolmError(f"no sequences to {what}", found=", ".join(paths)[:100],
                          hint="lower --min-length" if min_length else None)
    return ids, files, seqs


def read_truth(path: str, columns: tuple[str, ...] = GENOME_COLUMNS) -> dict[str, str]:
    """{read id: label} from a TSV whose header names a read (or id) column and one of ``columns``
    (default: a genome column)."""
    try:
        with open(path, newline="") as f:
            rows = csv.reader(f, delimiter="\t")
            header = next(rows, [])
            cols = {c.lower(): i for i, c in enumerate(header)}
            key = next((cols[c] for c in READ_COLUMNS if c in cols), None)
            label = next((cols[c] for c in columns if c in cols), None)
            if key is None or label is None:
                raise GenolmError(f"truth table needs a read and a {columns[0]} column", file=path, line=1,
                                  expected=f"one of {', '.join(READ_COLUMNS)}; one of {', '.join(columns)}",
                                  found="\t".join(header)[:80])
            return {strip_mate(r[key]): r[label] for r in rows if len(r) > max(key, label)}
    except OSError:
        raise GenolmError("no such truth table", file=path) from None


def strip_mate(read_id: str) -> str:
    return read_id[:-2] if read_id.endswith(("/1", "/2")) else read_id
