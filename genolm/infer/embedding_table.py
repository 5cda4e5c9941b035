"""Embedding files into one Parquet table: sequence files (or a sample sheet's) streamed in chunks,
each chunk embedded and written as a row group, on one device or spread over torchrun's
processes (chunk k on rank k mod N, the parts merged in input order).  The command is
``genolm embed``."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from genolm.errors import GenolmError
from genolm.io.arguments import CommandArgs
from genolm.io.progress import progress


def input_files(args) -> tuple[list[tuple[Path, str | None]], object]:
    """(file, sample id or None) pairs, and the sample sheet (or None)."""
    from genolm.io.samples import read_sample_sheet

    sheet = read_sample_sheet(args.samples) if args.samples else None
    files = [(Path(f), sheet.sample_for(f) if sheet else None) for f in args.inputs]
    if sheet:
        files += [(p, sid) for sid, p in sheet.paths.items() if p not in {f.resolve() for f, _ in files}]
    for f, _ in files:
        if not f.is_file():
            raise GenolmError("no such input file", file=f)
    return files, sheet


def chunks(files, alphabet: str, size: int, unknown: str = "error"):
    """Lists of up to ``size`` (file name, sample id, record id, sequence), streaming the files.

    ``unknown``: a character outside ``alphabet`` is an error (with its file and line), becomes
    N (X for protein), or drops its record."""
    from genolm.io.alphabet import get_alphabet
    from genolm.io.seqio import read_records

    alpha = get_alphabet(alphabet)
    filler = "X" if alpha.name == "protein" else "N"
    chunk = []
    for f, sample in files:
        records = read_records(f, alphabet=alphabet if unknown == "error" else None, case="upper", unique_ids=True)
        try:
            for rec in records:
                seq = rec.seq
                if unknown != "error" and alpha.first_invalid(seq.encode("latin-1", "replace")) >= 0:
                    if unknown == "skip":
                        continue
                    seq = "".join(c if c in alpha.symbols else filler for c in seq)
                chunk.append((f.name, sample, rec.id, seq))
                if len(chunk) == size:
                    yield chunk
                    chunk = []
        except GenolmError as e:
            if e.hint and "--unknown" in e.hint:
                e.hint = "fix the sequence, or pass --unknown n (replace with N) or skip (drop the record)"
            raise
    if chunk:
        yield chunk


def output_schema(emb, sheet, args):
    import json

    import pyarrow as pa

    from genolm import __version__

    fields = [pa.field("id", pa.string()), pa.field("file", pa.string()), pa.field("length", pa.int64())]
    if sheet is not None:
        fields.append(pa.field("sample", pa.string()))
        for col in sheet.columns:
            if col not in ("sample_id", "path"):
                values = [m.get(col) for m in sheet.samples.values()]
                fields.append(pa.field(col, pa.array(values).type if any(v is not None for v in values) else pa.string()))
    fields.append(pa.field("embedding", pa.list_(pa.float32(), emb.hidden_size)))
    meta = {"genolm": __version__, "model": str(Path(args.model).resolve()), "model_kind": emb.kind,
            "pool": args.pool, "layer": "output" if args.layer is None else str(args.layer),
            "strand": args.strand, "dim": str(emb.hidden_size)}
    return pa.schema(fields, metadata={"genolm_embed": json.dumps(meta)})


def chunk_table(chunk, vecs, schema, sheet):
    import pyarrow as pa

    cols = {"id": [c[2] for c in chunk], "file": [c[0] for c in chunk], "length": [len(c[3]) for c in chunk]}
    if sheet is not None:
        sids = [c[1] for c in chunk]
        cols["sample"] = sids
        for name in schema.names:
            if name not in cols and name != "embedding":
                cols[name] = [sheet.samples[s].get(name) if s else None for s in sids]
    arrays = [pa.array(cols[n], type=schema.field(n).type) for n in schema.names if n != "embedding"]
    flat = pa.array(vecs.reshape(-1), type=pa.float32())
    arrays.append(pa.FixedSizeListArray.from_arrays(flat, vecs.shape[1]))
    return pa.Table.from_arrays(arrays, schema=schema)


def merge_parts(out: Path, parts: list[Path], n_chunks: int) -> None:
    """One Parquet file from the ranks' parts: chunk k is row group k // world of part k % world."""
    import pyarrow.parquet as pq

    from genolm.io.atomic import atomic_file

    readers = [pq.ParquetFile(p) for p in parts]
    with atomic_file(out) as tmp:
        writer = pq.ParquetWriter(tmp, readers[0].schema_arrow)
        for k in range(n_chunks):
            writer.write_table(readers[k % len(parts)].read_row_group(k // len(parts)))
        writer.close()
    for p in parts:
        p.unlink()


@dataclass(kw_only=True)
class EmbedArgs(CommandArgs):
    """Options of ``genolm embed`` (see its --help)."""

    inputs: list[str] = field(default_factory=list)
    model: str
    samples: str | None = None
    pool: str = "mean"
    layer: int | None = None
    strand: str = "forward"
    batch_tokens: int | None = None
    unknown: str = "error"
    chunk: int = 4096
    compile: bool = False

    def check(self) -> None:
        from genolm.infer.embedding import POOLS, STRANDS

        if not self.inputs and not self.samples:
            raise GenolmError("no input files", hint="give FASTA/FASTQ paths or --samples SHEET")
        for name, choices in (("pool", POOLS), ("strand", STRANDS), ("unknown", ("error", "n", "skip"))):
            if getattr(self, name) not in choices:
                self.fail(name, " | ".join(choices), getattr(self, name))
        self.at_least("chunk", 1)
        self.at_least("batch_tokens", 1, optional=True)
        if Path(str(self.out)).suffix != ".parquet":
            out = Path(str(self.out))
            raise GenolmError("--out must be a .parquet file", found=out.name, hint=f"e.g. --out {out.stem}.parquet")


def run(args: EmbedArgs) -> dict | None:
    """Embed the inputs into ``args.out``; a summary on rank 0 (None on the other ranks)."""
    import pyarrow.parquet as pq

    from genolm.infer.embedding import Embedder
    from genolm.io.atomic import atomic_file
    from genolm.train import distributed

    out = Path(args.out)
    files, sheet = input_files(args)
    d = distributed.setup(args.device)
    try:
        emb = Embedder.load(args.model, d.device)
        emb.check_options(args.pool, args.layer, args.strand)
        if args.compile:
            emb.compile()
        t0 = time.perf_counter()
        batch_tokens = args.batch_tokens or (65536 if d.device.startswith("cuda") else 16384)
        batch_tokens = max(batch_tokens, emb.max_len)
        schema = output_schema(emb, sheet, args)
        part = out.with_name(f".{out.name}.rank{d.rank}.tmp") if d.enabled else None
        n_chunks = 0
        with atomic_file(part or out) as tmp:
            writer = pq.ParquetWriter(tmp, schema)
            bar = progress(None, "embed", "seq", enabled=not args.no_progress and d.main)
            for k, chunk in enumerate(chunks(files, emb.alphabet, args.chunk, args.unknown)):
                n_chunks = k + 1
                if k % d.world != d.rank:
                    continue
                seqs = [c[3] for c in chunk]
                vecs = emb.embed(seqs, pool=args.pool, layer=args.layer, strand=args.strand,
                                 batch_tokens=batch_tokens, progress=bar.update)
                writer.write_table(chunk_table(chunk, vecs, schema, sheet), row_group_size=len(chunk))
            writer.close()
            bar.close()
        if d.enabled:
            import torch.distributed as dist

            dist.barrier()
            if d.main:
                merge_parts(out, [out.with_name(f".{out.name}.rank{r}.tmp") for r in range(d.world)], n_chunks)
    finally:
        distributed.teardown()
    if not d.main:
        return None
    return {"out": str(out), "rows": pq.read_metadata(out).num_rows, "dim": emb.hidden_size, "pool": args.pool,
            "kind": emb.kind, "layer": "output" if args.layer is None else args.layer, "strand": args.strand,
            "seconds": time.perf_counter() - t0, "processes": d.world}
