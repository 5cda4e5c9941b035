"""A mock metagenome with known answers: Illumina reads of reference genomes at chosen
abundances, through InSilicoSeq's error models, with a truth table (read -> genome, taxon).
The command is ``genolm simulate``."""

from __future__ import annotations

import csv
import json
import os
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from genolm.errors import GenolmError
from genolm.io.arguments import CommandArgs
from genolm.io.progress import plural, progress

MODELS = {"novaseq": "NovaSeq", "hiseq": "HiSeq", "miseq": "MiSeq", "nextseq": "NextSeq"}
MODES = ("perfect", "basic")
DISTRIBUTIONS = ("lognormal", "uniform", "exponential", "halfnormal")
# InSilicoSeq's command line, with one fix: its PerfectErrorModel lacks the store_mutations
# attribute the read generator reads (version 2.0.1), so --mode perfect fails there.
ISS_RUNNER = """import sys
from iss.error_models.perfect import PerfectErrorModel
if not hasattr(PerfectErrorModel, "store_mutations"):
    PerfectErrorModel.store_mutations = False
from iss.app import main
sys.argv = ["iss"] + sys.argv[1:]
main()
"""
MIN_RECORD = 1000  # records shorter than this get no reads (shorter than a sequenced fragment)
SUFFIX = re.compile(r"(\.(fasta|fa|fna|ffn|fas|seq))?(\.(gz|bz2|xz|zst))?$", re.IGNORECASE)


@dataclass
class Genome:
    name: str
    path: Path
    records: list[tuple[str, int]]  # (id, length)

    @property
    def length(self) -> int:
        return sum(n for _, n in self.records)


def genome_name(path: Path) -> str:
    return SUFFIX.sub("", path.name) or path.name


def load_genomes(paths: list[str]) -> list[Genome]:
    from genolm.io.seqio import read_records

    genomes, seen = [], {}
    for p in map(Path, paths):
        name = genome_name(p)
        if name in seen:
            raise GenolmError("two genome files have the same name", file=p, found=f"{name} (also {seen[name]})",
                              hint="each file is one genome, named after the file: rename one")
        seen[name] = p
        genomes.append(Genome(name, p, [(r.id, len(r.seq)) for r in read_records(p, unique_ids=True)]))
    return genomes


def read_table(path: str, what: str, names: list[str], number: bool) -> dict:
    """A two-column TSV (genome, value) covering every genome."""
    try:
        with open(path, newline="") as f:
            rows = [r for r in csv.reader(f, delimiter="\t") if r and not r[0].startswith("#")]
    except OSError:
        raise GenolmError(f"no such {what} table", file=path) from None
    table = {}
    for line, row in enumerate(rows, 1):
        if len(row) < 2:
            raise GenolmError(f"{what} table needs two tab-separated columns", file=path, line=line,
                              expected="genome<TAB>value", found=repr("\t".join(row))[:60])
        if number:
            try:
                value = float(row[1])
            except ValueError:
                if line == 1:
                    continue  # a header
                raise GenolmError(f"{what} is not a number", file=path, line=line, found=repr(row[1])) from None
            if not value >= 0:
                raise GenolmError(f"{what} must be zero or more", file=path, line=line, found=row[1])
            table[row[0]] = value
        else:
            table[row[0]] = row[1]
    missing = [n for n in names if n not in table]
    if missing:
        raise GenolmError(f"genomes missing from the {what} table", file=path, found=", ".join(missing[:5]),
                          hint="the first column names each genome file without its extension")
    return table


def abundances(spec: str, names: list[str], rng: np.random.Generator) -> np.ndarray:
    if spec in DISTRIBUTIONS:
        n = len(names)
        draw = {"lognormal": lambda: rng.lognormal(0.0, 1.0, n), "uniform": lambda: np.ones(n),
                "exponential": lambda: rng.exponential(1.0, n), "halfnormal": lambda: np.abs(rng.normal(0, 1, n))}
        a = draw[spec]()
    else:
        table = read_table(spec, "abundance", names, number=True)
        a = np.array([table[n] for n in names], float)
    if not a.sum() > 0:
        raise GenolmError("abundances sum to zero", found=spec)
    return a / a.sum()


def apportion(total: int, weights: np.ndarray) -> np.ndarray:
    """Integers summing to ``total`` in proportion to ``weights`` (largest remainders).

    >>> apportion(10, np.array([1.0, 1.0, 1.0])).tolist()
    [4, 3, 3]
    """
    w = np.asarray(weights, float)
    if total <= 0 or not w.sum() > 0:
        return np.zeros(len(w), int)
    exact = total * w / w.sum()
    out = np.floor(exact).astype(int)
    out[np.argsort(-(exact - out), kind="stable")[: total - out.sum()]] += 1
    return out


@dataclass(kw_only=True)
class SimulateArgs(CommandArgs):
    """Options of ``genolm simulate`` (see its --help)."""

    genomes: list[str]
    reads: int = 100000
    model: str = "novaseq"
    abundance: str = "lognormal"  # a distribution, or a TSV of genome, abundance
    taxa: str | None = None
    single: bool = False
    read_length: int | None = None
    cpus: int = min(4, os.cpu_count() or 1)

    def check(self) -> None:
        if self.model not in (*MODELS, *MODES):
            self.fail("model", " | ".join((*MODELS, *MODES)), self.model)
        self.at_least("reads", 1)
        self.at_least("read_length", 1, optional=True)
        self.at_least("cpus", 1)


def simulate(args: SimulateArgs) -> dict:
    from genolm.io.atomic import atomic_dir
    from genolm.io.seqio import SeqRecord, read_records, write_fasta

    genomes = load_genomes(args.genomes)
    names = [g.name for g in genomes]
    taxa = read_table(args.taxa, "taxa", names, number=False) if args.taxa else {n: n for n in names}
    rng = np.random.default_rng(args.seed)
    abundance = abundances(args.abundance, names, rng)
    pairs = args.reads if args.single else (args.reads + 1) // 2
    per_genome = apportion(pairs, abundance * np.array([g.length for g in genomes]))
    # Safe record names for InSilicoSeq (it splits read names on "_"), mapped back for the truth.
    plan, source = [], {}
    for gi, (g, n) in enumerate(zip(genomes, per_genome)):
        lengths = np.array([length if length >= MIN_RECORD else 0 for _, length in g.records], float)
        if n and not lengths.sum():
            raise GenolmError(f"no record of at least {MIN_RECORD} bases to sequence", file=g.path)
        for ri, ((rid, _), k) in enumerate(zip(g.records, apportion(int(n), lengths))):
            if k:
                safe = f"g{gi}r{ri}"
                plan.append((safe, int(k)))
                source[safe] = (g.name, rid)
    if not plan:
        raise GenolmError("nothing to simulate", hint="raise --reads")
    with tempfile.TemporaryDirectory(prefix="genolm-simulate-") as work, atomic_dir(
            args.out, replaceable=lambda p: (p / "manifest.json").is_file() and (p / "truth.tsv").is_file()) as out:
        work = Path(work)
        wanted = {safe for safe, _ in plan}

        def renamed():
            for gi, g in enumerate(genomes):
                for ri, rec in enumerate(read_records(g.path)):
                    if f"g{gi}r{ri}" in wanted:
                        yield SeqRecord(f"g{gi}r{ri}", rec.seq.upper())
        write_fasta(renamed(), work / "genomes.fasta", width=0)
        (work / "readcount.tsv").write_text("".join(f"{safe}\t{2 * k}\n" for safe, k in plan))
        cmd = [sys.executable, "-c", ISS_RUNNER, "generate", "--genomes", str(work / "genomes.fasta"),
               "--readcount_file", str(work / "readcount.tsv"), "--output", str(work / "iss"),
               "--seed", str(args.seed), "--cpus", str(max(1, args.cpus)), "--debug"]
        cmd += ["--mode", args.model] if args.model in MODES else ["--model", MODELS[args.model]]
        print(f"genolm simulate: {plural(sum(k for _, k in plan), 'read' if args.single else 'pair')} "
              f"from {plural(len(genomes), 'genome')} with InSilicoSeq ({args.model})", file=sys.stderr)
        bar = progress(sum(k for _, k in plan), "simulate", "read" if args.single else "pair",
                       enabled=not args.no_progress)
        with bar, subprocess.Popen(cmd, cwd=work, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                   text=True) as iss:
            log = []
            for pairs in record_progress(iss.stdout, log):
                bar.update(pairs)
            returncode = iss.wait()
        if returncode or not (work / "iss_R1.fastq").is_file():
            # InSilicoSeq reports some failures only in its debug log, and exits 0 after them.
            lines = [ln for ln in log if ln.startswith(("ERROR", "DEBUG:iss.app")) or "Error" in ln]
            raise GenolmError("InSilicoSeq failed", found=(lines[-1] if lines else "no reads written")[:200],
                              hint="check that insilicoseq is installed (pip install insilicoseq)")
        counts = _write_reads(work, out, args, source, taxa)
        genome_reads = {n: 0 for n in names}
        for (g, _), k in counts.items():
            genome_reads[g] += k
        with open(out / "abundance.tsv", "w") as f:
            f.write("genome\ttaxon\tabundance\tlength\treads\n")
            for g, a in zip(genomes, abundance):
                f.write(f"{g.name}\t{taxa[g.name]}\t{a:.6g}\t{g.length}\t{genome_reads[g.name]}\n")
        manifest = {"command": "simulate", "genomes": {g.name: str(g.path) for g in genomes},
                    "model": args.model, "single": args.single, "read_length": args.read_length,
                    "seed": args.seed, "abundance": args.abundance, "reads": sum(counts.values()),
                    "insilicoseq": _iss_version()}
        (out / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    return manifest


WILL_GENERATE = re.compile(r"Will generate (\d+) read pairs for (\S+)")


def record_progress(lines, log: list[str]):
    """Read pairs done, from InSilicoSeq's debug log as it runs: a record is done when the next
    one starts, the last when the log ends.  Every line is kept in ``log``.

    >>> log = []
    >>> list(record_progress(["x", "DEBUG:iss.generator:Will generate 5 read pairs for g0r0",
    ...                       "DEBUG:iss.generator:Will generate 3 read pairs for g1r0", "done"], log))
    [5, 3]
    >>> len(log)
    4
    """
    pending = 0
    for line in lines:
        line = line.rstrip("\n")
        log.append(line)
        m = WILL_GENERATE.search(line)
        if m:
            if pending:
                yield pending
            pending = int(m.group(1))
    if pending:
        yield pending


def _write_reads(work: Path, out: Path, args, source: dict, taxa: dict) -> dict:
    """Rename InSilicoSeq's reads to S0R{i}/1|2, trim them, write them and the truth table;
    returns reads per (genome, record)."""
    from genolm.io.compression import open_write
    from genolm.io.seqio import SeqRecord, read_records, write_fastq

    trim = args.read_length
    r1 = read_records(work / "iss_R1.fastq", alphabet=None)
    r2 = None if args.single else read_records(work / "iss_R2.fastq", alphabet=None)
    counts: dict = {}
    names = ["reads.fastq.gz"] if args.single else ["reads_R1.fastq.gz", "reads_R2.fastq.gz"]
    handles = [open_write(out / n) for n in names]
    try:
        with open(out / "truth.tsv", "w") as truth:
            truth.write("read\tgenome\trecord\ttaxon\n")
            for i, a in enumerate(r1):
                safe = a.id.rsplit("_", 2)[0]
                genome, record = source[safe]
                mates = [a] if r2 is None else [a, next(r2)]
                for k, (mate, fh) in enumerate(zip(mates, handles), 1):
                    seq, qual = (mate.seq, mate.qual) if trim is None else (mate.seq[:trim], mate.qual[:trim])
                    write_fastq([SeqRecord(f"S0R{i}/{k}", seq, qual)], fh)
                truth.write(f"S0R{i}\t{genome}\t{record}\t{taxa[genome]}\n")
                counts[genome, record] = counts.get((genome, record), 0) + len(mates)
    finally:
        for fh in handles:
            fh.close()
    return counts


def _iss_version() -> str | None:
    try:
        from importlib.metadata import version

        return version("insilicoseq")
    except Exception:  # noqa: BLE001 - the version is provenance only
        return None
