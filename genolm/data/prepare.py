"""Preparing a corpus: sequence files -> a tokenizer (trained for BPE) -> token shards of both
splits in worker processes, ``records.parquet`` and ``manifest.json``, written atomically and
reused when the inputs and options are unchanged.  The command is ``genolm prepare``.

>>> PrepareArgs(inputs=["x.fa"], out="corpus").window
1024
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from genolm import __version__
from genolm.data.build import FileResult, append_parts, tokenize_file
from genolm.data.shards import MANIFEST, RECORDS, SPLITS, TOKENIZER, ShardWriter
from genolm.errors import GenolmError
from genolm.io.alphabet import get_alphabet
from genolm.io.arguments import CommandArgs
from genolm.io.atomic import atomic_dir
from genolm.io.progress import progress
from genolm.io.samples import read_sample_sheet
from genolm.io.seqio import read_records, sniff_format
from genolm.io.workers import cpu_count
from genolm.tokenize import Tokenizer

FORMAT_VERSION = 1


@dataclass(kw_only=True)
class PrepareArgs(CommandArgs):
    """Options of ``genolm prepare``; each checks itself and names its flag when wrong."""

    inputs: list[str]
    out: str
    tokenizer: str = "char"
    alphabet: str = "dna"
    window: int = 1024
    stride: int | None = None
    val_fraction: float = 0.05
    split: str = "record"  # record: whole records by hash | region: the tail of every record
    samples: str | None = None
    unknown: str = "error"
    case: str = "fold"
    workers: int = 0  # 0: one per CPU core (the output does not depend on it)
    shard_tokens: int = 1 << 30
    bpe_train_bases: int = 20_000_000
    rotate_to: str | None = None  # circular genomes: turn each to this reference's strand and first base
    annotation: str | None = None  # GFF3 of the --rotate-to reference's genes (for --synonymous-copies)
    synonymous_copies: int = 0  # recoded copies of every training genome (genolm.bio.recode)
    synonymous_rate: float = 0.08  # share of a copy's synonymous sites changed
    force: bool = False

    def check(self) -> None:
        if self.window < 2:
            raise GenolmError("--window must be at least 2 tokens", found=str(self.window))
        self.stride = self.stride or self.window
        if not 1 <= self.stride:
            raise GenolmError("--stride must be positive", found=str(self.stride))
        if not 0 <= self.val_fraction <= 1:
            raise GenolmError("--val-fraction must be in [0, 1]", found=str(self.val_fraction),
                              hint="1 makes an evaluation-only corpus (e.g. an unseen species)")
        if self.split not in ("record", "region"):
            raise GenolmError("unknown --split", expected="record | region", found=self.split)
        if self.unknown not in ("error", "n", "skip"):
            raise GenolmError("unknown --unknown policy", expected="error | n | skip", found=self.unknown)
        if self.case not in ("fold", "keep"):
            raise GenolmError("unknown --case", expected="fold | keep", found=self.case)
        if self.workers < 0:
            raise GenolmError("--workers must be 0 (one per core) or more", found=str(self.workers))
        if self.shard_tokens < self.window:
            raise GenolmError("--shard-tokens must hold at least one window", found=str(self.shard_tokens))
        get_alphabet(self.alphabet)
        if self.rotate_to is not None:
            if self.alphabet != "dna":
                raise GenolmError("--rotate-to turns DNA genomes", expected="--alphabet dna", found=self.alphabet)
            if not Path(self.rotate_to).is_file():
                raise GenolmError("no such file", file=self.rotate_to, hint="--rotate-to takes the reference genome's FASTA")
        if self.synonymous_copies < 0:
            raise GenolmError("--synonymous-copies must be 0 or more", found=str(self.synonymous_copies))
        if not 0 < self.synonymous_rate <= 1:
            raise GenolmError("--synonymous-rate must be in (0, 1]", found=str(self.synonymous_rate))
        if self.synonymous_copies:
            if self.rotate_to is None or self.annotation is None:
                raise GenolmError("--synonymous-copies recodes the reference's genes in every genome",
                                  hint="give the reference with --rotate-to FASTA and its genes with --annotation GFF")
            if self.split != "record":
                raise GenolmError("--synonymous-copies keeps each genome's copies on its side of the split",
                                  expected="--split record", found=f"--split {self.split}")
        if self.annotation is not None and not Path(self.annotation).is_file():
            raise GenolmError("no such file", file=self.annotation, hint="--annotation takes the reference's GFF3")
        if not self.inputs and not self.samples:
            raise GenolmError("no input files", hint="give FASTA/FASTQ paths or --samples SHEET")


# ----------------------------------------------------------------------------- the job


@dataclass
class _Job:
    index: int
    path: str
    tmp: str
    tokenizer: dict  # Tokenizer.to_dict(), rebuilt in the worker process
    seed: int
    val_fraction: float
    split: str
    rotate_to: str | None = None  # the reference's bases
    recode: tuple | None = None  # (reference proteins, copies, rate): --synonymous-copies


def prepare(opts: PrepareArgs) -> dict:
    """Run ``genolm prepare``; return the manifest (also written to ``OUT/manifest.json``)."""
    t0 = time.perf_counter()
    sheet = read_sample_sheet(opts.samples) if opts.samples else None
    inputs = _resolve_inputs(opts, sheet)
    fingerprint = _fingerprint(opts, inputs)
    out = Path(opts.out)
    if not opts.force and (out / MANIFEST).is_file():
        try:
            old = json.loads((out / MANIFEST).read_text())
        except (OSError, ValueError):
            old = {}
        if old.get("fingerprint") == fingerprint:
            old["reused"] = True
            return old
    for path, _ in inputs:  # fail fast on a broken header before any work
        sniff_format(path)
    tok = _build_tokenizer(opts, inputs)
    sep = tok.token_to_id("<sep>")
    with atomic_dir(out, replaceable=_is_prepared) as tmp:
        tok.save(tmp / TOKENIZER)
        ref = _reference(opts.rotate_to) if opts.rotate_to else None  # read once: the jobs and the manifest
        recode = None
        if opts.synonymous_copies:
            from genolm.bio.genome_match import reference_proteins

            proteins = reference_proteins(opts.rotate_to, opts.annotation)[1]
            recode = (proteins, opts.synonymous_copies, opts.synonymous_rate)
        results = _run_jobs(opts, inputs, tok, tmp, ref.seq if ref else None, recode)
        writers = {s: ShardWriter(tmp, s, tok.dtype, opts.shard_tokens) for s in SPLITS}
        rows = []
        for res in results:
            for split, r in append_parts(res, writers, tok.dtype).items():
                rows.append((split, res.index, inputs[res.index][1], r))
        splits = {}
        for s, w in writers.items():
            shards = w.close()
            mine = [r for split, _, _, r in rows if split == s]
            splits[s] = {"shards": shards, "tokens": sum(x["tokens"] for x in shards),
                         "windows": sum(max(0, (x["tokens"] - opts.window) // opts.stride + 1)
                                        for x in shards),
                         "records": sum(len(r["record_id"]) for r in mine),
                         "bases": int(sum(r["n_bases"].sum() for r in mine))}
        (tmp / ".parts").rmdir()  # every part has become (or been copied into) a shard
        _write_records(tmp / RECORDS, rows)
        files = []
        for res in sorted(results, key=lambda r: r.index):
            path, sample = inputs[res.index]
            files.append({"path": str(path), "size": os.path.getsize(path), "format": res.format,
                          "compression": res.compression, "records": res.n_records,
                          "bases": res.n_bases, "skipped_records": res.skipped,
                          "replaced_characters": res.replaced, "sample_id": sample})
        manifest = {
            "format": "genolm.prepared", "format_version": FORMAT_VERSION, "genolm": __version__,
            "out": str(out), "fingerprint": fingerprint,
            "tokenizer": tok.describe(), "dtype": np.dtype(tok.dtype).name, "sep_id": sep,
            "window": opts.window, "stride": opts.stride, "seed": opts.seed,
            "val_fraction": opts.val_fraction, "split": opts.split, "unknown": opts.unknown, "case": opts.case,
            "inputs": files, "splits": splits,
            "totals": {"records": sum(f["records"] for f in files), "bases": sum(f["bases"] for f in files),
                       "skipped_records": sum(f["skipped_records"] for f in files)},
            "rotate_to": _rotation(opts, ref, results),
            "synonymous_copies": ({"annotation": str(opts.annotation), "copies_per_genome": opts.synonymous_copies,
                                   "rate": opts.synonymous_rate, "copies": sum(len(r.recoded) for r in results),
                                   "changes_median": float(np.median([c for r in results for c in r.recoded] or [0]))}
                                  if opts.synonymous_copies else None),
            "samples": ({"sheet": str(sheet.path), "columns": sheet.columns, "metadata": sheet.samples}
                        if sheet else None),
            "seconds": round(time.perf_counter() - t0, 3),
        }
        if 0 < opts.val_fraction < 1 and splits["val"]["records"] == 0:
            n = manifest["totals"]["records"]
            manifest["warnings"] = [f"validation split is empty: {'its one record was' if n == 1 else f'all {n:,} records were'} "
                                    "hashed into train (a record is never split); add records, raise "
                                    "--val-fraction, or hold out the end of every record with --split region"]
            print(f"genolm prepare: warning: {manifest['warnings'][0]}", file=sys.stderr)
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n")
    return manifest


def _is_prepared(path: Path) -> bool:
    """Is ``path`` an earlier output of ``genolm prepare`` (and so safe to replace)?"""
    try:
        return json.loads((path / MANIFEST).read_text()).get("format") == "genolm.prepared"
    except (OSError, ValueError, AttributeError):
        return False


def _resolve_inputs(opts: PrepareArgs, sheet) -> list[tuple[Path, str | None]]:
    seen: dict[Path, str] = {}
    for p in opts.inputs:
        real = Path(p).resolve()
        if real in seen:
            raise GenolmError("the same input file is given twice", file=p, found=f"also as {seen[real]}",
                              hint="each record would be counted twice; give every file once")
        seen[real] = p
    if sheet is None:
        paths = [Path(p) for p in opts.inputs]
        for p in paths:
            if not p.is_file():
                raise GenolmError("no such input file", file=p, hint="check the path")
        return [(p, None) for p in paths]
    if not opts.inputs:
        return [(p, sid) for sid, p in sheet.paths.items()]
    out = []
    for p in map(Path, opts.inputs):
        sid = sheet.sample_for(p)
        if sid is None:
            raise GenolmError("input file is not in the sample sheet", file=p,
                              hint=f"add a row for it to {sheet.path}, or leave INPUT out to use the sheet's files")
        out.append((p, sid))
    return out


def _fingerprint(opts: PrepareArgs, inputs) -> str:
    """Same inputs (path, size, mtime) and same options -> same fingerprint -> reuse."""
    keep = {k: v for k, v in asdict(opts).items() if k not in ("inputs", "out", "workers", "force", "device",
                                                                "no_progress", "samples")}
    stats = []
    for p, sid in inputs:
        st = os.stat(p)
        stats.append([str(Path(p).resolve()), st.st_size, st.st_mtime_ns, sid])
    for extra in (opts.samples, opts.rotate_to, opts.annotation):
        if extra:
            st = os.stat(extra)
            stats.append([str(Path(extra).resolve()), st.st_size, st.st_mtime_ns])
    blob = json.dumps([FORMAT_VERSION, keep, stats], sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()


def _build_tokenizer(opts: PrepareArgs, inputs) -> Tokenizer:
    kw = dict(alphabet=opts.alphabet, case=opts.case, unknown=opts.unknown)
    if not opts.tokenizer.startswith("bpe"):
        return Tokenizer.from_spec(opts.tokenizer, **kw)
    from genolm.tokenize import train_bpe

    vocab = int(opts.tokenizer.split(":")[1]) if ":" in opts.tokenizer else 4096
    return train_bpe(_bpe_sample(opts, inputs), vocab, alphabet=opts.alphabet, unknown=opts.unknown)


def _bpe_sample(opts: PrepareArgs, inputs):
    """Up to ``bpe_train_bases`` bases, taken evenly from every input, for training BPE."""
    budget = opts.bpe_train_bases // max(1, len(inputs))
    for path, _ in inputs:
        left = budget
        for rec in read_records(path, alphabet=None):
            yield rec.seq[:left]
            left -= len(rec.seq)
            if left <= 0:
                break


def _run_jobs(opts: PrepareArgs, inputs, tok: Tokenizer, tmp: Path, ref: str | None = None,
              recode: tuple | None = None) -> list[FileResult]:
    """Tokenize every input (in ``opts.workers`` processes), with a progress bar in bytes read."""
    parts = tmp / ".parts"
    parts.mkdir()
    jobs = [_Job(i, str(p), str(parts), tok.to_dict(), opts.seed, opts.val_fraction, opts.split, ref, recode)
            for i, (p, _) in enumerate(inputs)]
    sizes = [os.path.getsize(p) for p, _ in inputs]
    workers = min(opts.workers or cpu_count(), len(jobs))
    bar = _progress_bar(opts, sum(sizes))
    results: list[FileResult] = []
    try:
        if workers == 1:
            for job in jobs:
                results.append(_work(job, tok, bar.update))
        else:
            results = _run_pool(jobs, sizes, workers, bar)
    finally:
        bar.close()
    results.sort(key=lambda r: r.index)
    return results


_BYTES_READ = None  # multiprocessing.Value shared with the forked workers: bytes of input read


def _run_pool(jobs: list[_Job], sizes: list[int], workers: int, bar) -> list[FileResult]:
    import multiprocessing as mp

    global _BYTES_READ
    ctx = mp.get_context("fork")
    _BYTES_READ = ctx.Value("q", 0)
    # Largest files first so the workers finish together; results are reordered by the caller.
    order = sorted(range(len(jobs)), key=lambda i: -sizes[i])
    results = []
    try:
        with ctx.Pool(workers) as pool:
            pending = pool.imap_unordered(_work, [jobs[i] for i in order])
            while len(results) < len(jobs):
                try:
                    results.append(pending.next(timeout=0.25))
                except mp.TimeoutError:
                    pass
                bar.update(_BYTES_READ.value - bar.n)
    finally:
        _BYTES_READ = None
    return results


def _work(job: _Job, tok: Tokenizer | None = None, progress=None) -> FileResult:
    tok = tok or Tokenizer.from_dict(job.tokenizer)
    if progress is None and _BYTES_READ is not None:  # in a worker process
        counter = _BYTES_READ

        def progress(n: int) -> None:
            with counter.get_lock():
                counter.value += n

    return tokenize_file(job.index, job.path, tok, job.tmp, seed=job.seed,
                         val_fraction=job.val_fraction, split=job.split, progress=progress, rotate_to=job.rotate_to,
                         recode=job.recode)


def _reference(path: str):
    """The first record of ``--rotate-to``'s FASTA, upper case."""
    first = next(iter(read_records(path, case="upper")), None)
    if first is None:
        raise GenolmError("no sequence in the --rotate-to file", file=path)
    return first


def _rotation(opts: PrepareArgs, first, results) -> dict | None:
    """The manifest's account of --rotate-to (and a warning for genomes it could not place)."""
    if first is None:
        return None
    out = {"reference": str(opts.rotate_to), "reference_id": first.id, "reference_bases": len(first.seq),
           "turned": sum(r.turned for r in results), "reverse_complemented": sum(r.reversed for r in results),
           "unplaced": sum(r.unplaced for r in results)}
    if out["unplaced"]:
        print(f"genolm prepare: warning: {out['unplaced']:,} records share no 16-mer with {opts.rotate_to} "
              f"({first.id}) and keep their own start", file=sys.stderr)
    return out


def _progress_bar(opts: PrepareArgs, total: int):
    return progress(total, "prepare", "B", enabled=not opts.no_progress, unit_scale=True)


def _write_records(path: Path, rows: list) -> None:
    """records.parquet: one row per record, in file order, train rows then val rows per file.

    ``rows`` holds (split, file index, sample id, arrays) per file and split; the per-record
    columns are built with np.repeat and dictionary arrays, not Python loops over records.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    n = np.array([len(r["record_id"]) for *_, r in rows], np.int64)

    def col(key, dtype):
        return pa.array(np.concatenate([r[key] for *_, r in rows]) if rows else [], dtype)

    def repeated(values: list) -> pa.Array:  # one value per (file, split) group -> per record
        names = sorted({v for v in values if v is not None})
        codes = np.array([names.index(v) if v is not None else -1 for v in values], np.int32)
        codes = np.repeat(codes, n)
        return pa.DictionaryArray.from_arrays(pa.array(codes, mask=codes < 0), pa.array(names, pa.string()))

    table = pa.table({
        "split": repeated([split for split, *_ in rows]),
        "shard": col("shard", pa.int32()),
        "start": col("start", pa.int64()),
        "n_tokens": col("n_tokens", pa.int64()),
        "n_bases": col("n_bases", pa.int64()),
        "base_offset": col("base_offset", pa.int64()),
        "file": pa.array(np.repeat(np.array([f for _, f, _, _ in rows], np.int32), n), pa.int32()),
        "record_id": pa.array(list(itertools.chain.from_iterable(r["record_id"] for *_, r in rows)),
                              pa.string()),
        "sample_id": repeated([sid for _, _, sid, _ in rows]),
    })
    pq.write_table(table, path, compression="zstd")
