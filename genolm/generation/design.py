"""Designing whole genomes: generate many with a causal model, put each through the filter funnel
(:mod:`genolm.generation.funnel`), rank the survivors by the model's own likelihood, cluster them
at 99% identity, and keep the best of each cluster.  The command is ``genolm design`` (its --help
lists the outputs).

The rank is the design model's bits per base (lower first: on lab-tested phage designs the
plain likelihood of a small model told viable from dead better than any simple score did), or a
viability score fitted by ``genolm viability --score`` (higher first)."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from genolm.bio.genome_match import protein_hits
from genolm.errors import GenolmError
from genolm.generation.funnel import STAGES, Limits, Reference, cluster, funnel, judge, read_genomes
from genolm.infer.sampling import ENGINES
from genolm.io.arguments import CommandArgs
from genolm.io.progress import progress


@dataclass(kw_only=True)
class DesignArgs(CommandArgs):
    """Options of ``genolm design`` (see its --help)."""

    model: str
    num: int = 100
    length: int | None = None  # the most bases (a genome ends at the model's <sep>); default: the reference's + 10%
    prompt: str | None = None
    reference: str | None = None  # the genome designs are held against (FASTA)
    annotation: str | None = None  # its CDS (GFF3)
    spike: str | None = None  # a gene name or a protein FASTA: the spike-identity stage
    train: list[str] = field(default_factory=list)  # genomes the model learnt from: novelty
    viability_score: str | None = None  # a score fitted by genolm viability --score: the rank
    keep: int = 10
    per_cluster: int = 1
    cluster_identity: float = 0.99
    temperature: float = 1.0
    top_k: int = 0
    top_p: float = 1.0
    min_p: float = 0.0
    batch_size: int = 16
    engine: str = "auto"
    workers: int = 0  # processes judging genomes (0: one per core)
    min_length: int = Limits.min_length  # the funnel's default
    max_length: int = Limits.max_length  # the funnel's default
    min_gc: float = Limits.min_gc  # the funnel's default
    max_gc: float = Limits.max_gc  # the funnel's default
    max_homopolymer: int = Limits.max_homopolymer  # the funnel's default
    max_identity: float = Limits.max_identity  # the funnel's default
    min_spike_identity: float = Limits.min_spike_identity  # the funnel's default

    def check(self) -> None:
        if not self.out:
            self.fail("out", "an output directory", self.out)
        for name in ("num", "keep", "per_cluster", "batch_size"):
            self.at_least(name, 1)
        self.at_least("workers", 0)
        self.at_least("length", 1, optional=True)
        self.at_least("temperature", 0)
        self.at_least("top_k", 0)
        self.within("top_p", 1e-9, 1.0)
        self.within("min_p", 0.0, 0.999)
        self.within("cluster_identity", 0.5, 1.0)
        if self.engine not in ENGINES:
            self.fail("engine", " | ".join(ENGINES), self.engine)
        if (self.reference is None) != (self.annotation is None):
            raise GenolmError("--reference and --annotation go together",
                              hint="give the reference genome (FASTA) and its genes (GFF3), or neither")
        if self.spike and not self.reference:
            raise GenolmError("--spike needs --reference and --annotation")
        if self.viability_score and not (self.reference and self.train):
            raise GenolmError("--viability-score needs --reference, --annotation and --train (what it measures against)")
        if self.length is None and self.reference is None:
            raise GenolmError("give --length (new bases per genome) or a --reference to take it from")
        for path in [p for p in (self.reference, self.annotation, self.viability_score) if p] + list(self.train):
            if not Path(path).is_file():
                raise GenolmError("no such file", file=path)
        self.limits()  # checks the funnel's limits

    def limits(self) -> Limits:
        return Limits(min_length=self.min_length, max_length=self.max_length, min_gc=self.min_gc,
                      max_gc=self.max_gc, max_homopolymer=self.max_homopolymer, max_identity=self.max_identity,
                      min_spike_identity=self.min_spike_identity)


def run(args: DesignArgs) -> dict:
    from genolm.generation.generate import GenerateArgs, read_prompt
    from genolm.generation.generate import run as generate
    from genolm.io.atomic import atomic_dir
    from genolm.io.seqio import read_records

    t0 = time.perf_counter()
    reference = (Reference.load(args.reference, args.annotation, args.spike)
                 if args.reference else None)
    length = args.length or round(len(reference.genome) * 1.1)
    # a genome shorter than the funnel's least length fails it anyway: none ends before it
    shortest = min(max(0, args.min_length - len(read_prompt(args.prompt))), length)
    training = [s for path in args.train for s in read_genomes(path)[1]]
    replaceable = lambda p: (p / "funnel.tsv").is_file()  # noqa: E731 - an earlier design
    with atomic_dir(args.out, replaceable=replaceable) as tmp:
        gen = generate(GenerateArgs(model=args.model, num=args.num, length=length, out=str(tmp / "generated.fasta"),
                                    prompt=args.prompt, temperature=args.temperature, top_k=args.top_k,
                                    top_p=args.top_p, min_p=args.min_p, batch_size=args.batch_size, prefix="gen", engine=args.engine,
                                    seed=args.seed, device=args.device, no_progress=args.no_progress,
                                    stop_at_end=True, min_length=shortest))
        records = list(read_records(tmp / "generated.fasta", case="upper"))
        ids, seqs = [r.id for r in records], [r.seq for r in records]
        hits: list = []
        with progress(len(seqs), "design: funnel", "genome", enabled=not args.no_progress) as bar:
            table = judge(seqs, reference, training, args.limits(), progress=bar.update, hits_out=hits,
                          workers=args.workers)
        table["bits_per_base"] = model_bits(args, seqs)
        passed = np.flatnonzero(table["passes"])
        if args.viability_score:
            table["viability_score"] = viability(args, reference, training, seqs)
            ranked = passed[np.argsort(-table["viability_score"][passed], kind="stable")]
        else:
            ranked = passed[np.argsort(table["bits_per_base"][passed], kind="stable")]
        table["cluster"] = cluster(seqs, list(ranked), args.cluster_identity)
        keep = choose(ranked, table["cluster"], args.keep, args.per_cluster)
        table["rank"] = np.full(len(seqs), -1)
        table["rank"][ranked] = np.arange(1, len(ranked) + 1)
        table["kept"] = np.isin(np.arange(len(seqs)), keep)
        stages = funnel(table)
        summary = {
            "generated": len(seqs), "passed": int(len(passed)), "kept": len(keep),
            "clusters": int(len(set(table["cluster"][passed].tolist()))),
            "clusters_kept": int(len(set(table["cluster"][keep].tolist()))),
            "funnel": [{"stage": s, "passing": a, "passing_so_far": b} for s, a, b in stages],
            "checked": [s for s in STAGES if reference is not None or s not in ("genes_present", "genes_intact",
                                                                                "gene_order", "spike")],
            "reference": reference.name if reference else None, "length": length,
            "median_length": float(np.median([len(x) for x in seqs])) if seqs else 0.0,
            "genes": list(reference.order) if reference else [], "spike": reference.spike if reference else None,
            "limits": args.limits().__dict__, "training_genomes": len(training),
            "generation_seconds": gen["seconds"], "seconds": time.perf_counter() - t0,
            "notes": reference.notes if reference else [],
            "ranked_by": "viability_score" if args.viability_score else "bits_per_base",
        }
        reference_hits = ({reference.name: protein_hits(reference.proteins, reference.genome)}
                          if reference is not None else {})
        lengths = {g: 3 * len(p) + 3 for g, p in reference.proteins.items()} if reference is not None else {}
        write(tmp, ids, seqs, table, hits, keep, summary, reference_hits, lengths)
    return summary


def model_bits(args: DesignArgs, seqs: list[str]) -> np.ndarray:
    """Each genome's bits per A/C/G/T base under the design model."""
    from genolm.infer.likelihood import bits_per_base, letters_only
    from genolm.train.checkpoint import load_model
    from genolm.train.distributed import resolve_device

    device = resolve_device(args.device)
    model, tok, _ = load_model(args.model, device)
    model.eval()
    return bits_per_base(model, tok, [np.asarray(tok.encode(s), np.int64) for s in seqs], device=device,
                         batch_size=args.batch_size, weight=letters_only(tok), progress=not args.no_progress)


def viability(args: DesignArgs, reference: Reference, training: list[str], seqs: list[str]) -> np.ndarray:
    """Each genome's score under a fitted viability score (``genolm viability --score``)."""
    from genolm.generation.viability_score import Context, ViabilityScore, components
    from genolm.model.markov import MarkovModel
    from genolm.train.checkpoint import load_model
    from genolm.train.distributed import resolve_device

    score = ViabilityScore.from_json(Path(args.viability_score).read_text())
    model = None
    if any(k.startswith("lm_") for k in score.used):
        device = resolve_device(args.device)
        m, tok, _ = load_model(args.model, device)
        model = (m, tok, device)
    ctx = Context(reference, training, MarkovModel(score.markov_order).fit(training, unknown="n"), model,
                  args.batch_size)
    with progress(len(seqs), "design: viability score", "genome", enabled=not args.no_progress) as bar:
        return score.score(components(seqs, ctx, bar.update))


def choose(ranked: np.ndarray, clusters: np.ndarray, keep: int, per_cluster: int) -> np.ndarray:
    """The first ``keep`` of ``ranked`` taking at most ``per_cluster`` from any cluster.

    >>> choose(np.array([4, 2, 0, 3]), np.array([1, -1, 0, 1, 0]), keep=3, per_cluster=1).tolist()
    [4, 0]
    """
    taken: dict[int, int] = {}
    out = []
    for i in ranked:
        c = int(clusters[i])
        if taken.get(c, 0) < per_cluster:
            taken[c] = taken.get(c, 0) + 1
            out.append(int(i))
            if len(out) == keep:
                break
    return np.asarray(out, dtype=np.int64)


def write(out: Path, ids, seqs, table, hits, keep, summary, reference_hits=None, lengths=None) -> None:
    """designs.fasta (the kept, best first), designs.parquet and designs.tsv (every genome), genes.tsv
    (the reference genes' hits in the reference and the kept designs, each turned to the
    reference's start), funnel.tsv and summary.json."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from genolm.io.atomic import json_safe
    from genolm.io.seqio import write_fasta

    order = sorted(keep.tolist(), key=lambda i: table["rank"][i])
    write_fasta([(f"design_{n} {ids[i]} bits_per_base={table['bits_per_base'][i]:.4f} cluster={table['cluster'][i]}",
                  seqs[i]) for n, i in enumerate(order, 1)], out / "designs.fasta")
    cols = {"id": list(ids)} | {k: v for k, v in table.items()}
    pq.write_table(pa.table(cols), out / "designs.parquet")
    with open(out / "designs.tsv", "w") as f:
        f.write("\t".join(cols) + "\n")
        for r in range(len(ids)):
            f.write("\t".join(_cell(cols[k][r]) for k in cols) + "\n")
    with open(out / "genes.tsv", "w") as f:
        f.write("id\tgene\tposition\tstrand\tidentity\tcoverage\tscore\tlength\n")
        found = [(name, h) for name, h in (reference_hits or {}).items()]
        found += [(ids[i], hits[i]) for i in order] if hits else []
        for name, genes in found:
            for gene, h in genes.items():
                f.write(f"{name}\t{gene}\t{h.position}\t{h.strand}\t{h.identity:.4f}\t{h.coverage:.4f}\t"
                        f"{h.score:.4f}\t{(lengths or {}).get(gene, 0)}\n")
    with open(out / "funnel.tsv", "w") as f:
        f.write("stage\tchecked\tpassing\tpassing_so_far\n")
        for row in summary["funnel"]:
            f.write(f"{row['stage']}\t{'yes' if row['stage'] in summary['checked'] else 'no'}\t{row['passing']}\t"
                    f"{row['passing_so_far']}\n")
    (out / "summary.json").write_text(json.dumps(json_safe(summary), indent=1, allow_nan=False) + "\n")


def _cell(v) -> str:
    if isinstance(v, (float, np.floating)):
        return "nan" if np.isnan(v) else f"{v:.6g}"
    if isinstance(v, (bool, np.bool_)):
        return "yes" if v else "no"
    return str(v)
