"""Small inputs for the benchmarks' SMOKE=1 runs: stand-ins for the shared data, made in a second
from a seeded random generator or the repo's own data/ (never ../shared, which CI may lack).

  python benchmarks/smoke_inputs.py DIR [WHAT ...]     # WHAT: genomes reads gue 16s tara ha1 mlm clm
  python benchmarks/smoke_inputs.py                    # all of them, into $BENCH_OUT/smoke_inputs
                                                       # (its SMOKE=1 run is the same: it is small already)

DIR gets the layout the GPU scripts expect of their DATA folder:

  genomes/bacteria/, bacteria/   9 random genomes of 20 kb named like the real ones (E.Coli__MG1655-K12,
                                 H.Pylori__G27, S.Aureus__COL, V.Cholerae__O395, ...): 4 species,
                                 2-3 strains each (0.5% substitutions from the species' ancestor);
                                 uniform bases, so every model ends near 2 bits per base
  species.tsv                    genome <TAB> species
  sp4/, sa5/                     reads.fastq.gz + truth.tsv(.gz): 150 bp single reads of one strain
                                 of each species, and of the 3 S. aureus strains
  ocean/18S.fasta.gz             the first 200 BioMarKs 18S amplicons of data/
  gue/TASK/{train,dev,test}.csv  five GUE-named tasks, 48/16/16 sequences of 70 bp, label = GC-rich
  16S.fasta.gz                   16S-like records with a lineage in the header's last tab field
  tara/                          the three files data/tara_sheet.py reads, from data/tara/ (90 contigs)
  ha1.fasta                      every third H3N2 HA1 of data/ from 2006 on (1,363), cut to 150 nt
  mlm/, clm/                     tiny `debug` genolm runs (masked, causal), 2 training steps

Scripts import it (``from smoke_inputs import make``); shell scripts run it.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import os
import shutil
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

OUT = Path(os.environ.get("BENCH_OUT", ROOT / "benchmarks" / "out"))
WHAT = ("genomes", "reads", "gue", "16s", "tara", "ha1", "mlm", "clm")
SPECIES = {"E.Coli": ("MG1655-K12", "DH1"), "H.Pylori": ("G27", "SJM180"), "S.Aureus": ("COL", "USA300", "MW2"),
           "V.Cholerae": ("O395", "N16961")}
SP4 = ("E.Coli__MG1655-K12", "H.Pylori__G27", "S.Aureus__COL", "V.Cholerae__O395")


def _random(rng, n: int, gc: float = 0.5) -> str:
    p = [(1 - gc) / 2, gc / 2, gc / 2, (1 - gc) / 2]
    return np.frombuffer(b"ACGT", np.uint8)[rng.choice(4, n, p=p)].tobytes().decode()


def _mutate(rng, seq: str, rate: float) -> str:
    s = bytearray(seq.encode())
    for i in np.flatnonzero(rng.random(len(s)) < rate):
        s[i] = b"ACGT"[(b"ACGT".index(s[i]) + rng.integers(1, 4)) % 4]
    return s.decode()


def _fasta(path: Path, records) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with (gzip.open(path, "wt") if path.suffix == ".gz" else open(path, "w")) as f:
        for rid, seq in records:
            f.write(f">{rid}\n{seq}\n")
    return path


def genomes(out: Path, length: int = 20_000) -> list[Path]:
    """out/genomes/bacteria/Species__strain.fasta.gz (and the same files in out/bacteria/)."""
    rng = np.random.default_rng(1)
    paths = []
    for species, strains in SPECIES.items():
        ancestor = _random(rng, length)
        for strain in strains:
            name = f"{species}__{strain}"
            paths.append(_fasta(out / "genomes" / "bacteria" / f"{name}.fasta.gz",
                                [(f"{name}_chr", _mutate(rng, ancestor, 0.005))]))
    shutil.copytree(out / "genomes" / "bacteria", out / "bacteria", dirs_exist_ok=True)
    (out / "species.tsv").write_text("".join(f"{p.name.split('.fasta')[0]}\t{p.name.split('__')[0]}\n"
                                             for p in paths))
    return paths


def reads(out: Path, n: int = 400, length: int = 150) -> None:
    """out/sp4 and out/sa5: reads.fastq.gz (single reads, both strands) + truth.tsv (and .gz)."""
    from genolm.io.seqio import read_records

    rng = np.random.default_rng(2)
    comp = str.maketrans("ACGT", "TGCA")
    bacteria = out / "genomes" / "bacteria"
    for sample, names in (("sp4", SP4), ("sa5", tuple(f"S.Aureus__{s}" for s in SPECIES["S.Aureus"]))):
        seqs = {g: next(iter(read_records(bacteria / f"{g}.fasta.gz"))).seq for g in names}
        (out / sample).mkdir(parents=True, exist_ok=True)
        truth = ["read\tgenome\n"]
        with gzip.open(out / sample / "reads.fastq.gz", "wt") as fq:
            for i in range(n):
                g = names[i % len(names)]
                lo = int(rng.integers(0, len(seqs[g]) - length))
                r = seqs[g][lo: lo + length]
                if rng.random() < 0.5:
                    r = r.translate(comp)[::-1]
                fq.write(f"@{sample}_{i}\n{r}\n+\n{'I' * length}\n")
                truth.append(f"{sample}_{i}\t{g}\n")
        (out / sample / "truth.tsv").write_text("".join(truth))
        with gzip.open(out / sample / "truth.tsv.gz", "wt") as t:
            t.write("".join(truth))


def gue(out: Path) -> None:
    """out/gue/TASK/{train,dev,test}.csv; the label is whether a sequence is GC-rich (learnable)."""
    rng = np.random.default_rng(3)
    for task in ("tf/0", "mouse/0", "mouse/3", "prom/prom_core_tata", "prom/prom_300_tata"):
        d = out / "gue" / task
        d.mkdir(parents=True, exist_ok=True)
        for split, n in (("train", 48), ("dev", 16), ("test", 16)):
            rows = [(_random(rng, 70, 0.6 if i % 2 else 0.4), i % 2) for i in range(n)]
            (d / f"{split}.csv").write_text("sequence,label\n" + "".join(f"{s},{y}\n" for s, y in rows))
    from genolm.io.seqio import read_records

    _fasta(out / "ocean" / "18S.fasta.gz", [(r.id, r.seq) for _, r in zip(
        range(200), read_records(ROOT / "data" / "biomarks18S_2k.fasta.gz", case="upper"))])


def rrna16s(out: Path) -> Path:
    """out/16S.fasta.gz: 3 phyla x 3 genera x 6 sequences of 400 bp, lineage after a tab."""
    rng = np.random.default_rng(4)
    recs = []
    for p in range(3):
        phylum = _random(rng, 400, 0.5)
        for g in range(3):
            genus = _mutate(rng, phylum, 0.08)
            for i in range(6):
                lineage = f"Bacteria; Phylum{p}; Class{p}; Order{p}; Family{p}{g}; Genus{p}{g}"
                recs.append((f"s{p}{g}{i}\t{lineage}", _mutate(rng, genus, 0.01)))
    return _fasta(out / "16S.fasta.gz", recs)


def tara(out: Path) -> Path:
    """out/tara/: 15 contigs (cut to 600 nt) of each of the 6 samples of data/tara, and the two tables
    data/tara_sheet.py joins them to."""
    from genolm.io.seqio import read_records

    d = out / "tara"
    d.mkdir(parents=True, exist_ok=True)
    _fasta(d / "contigs_votus_id90.fasta.gz", [(r.id, r.seq[:600]) for f in sorted((ROOT / "data" / "tara").glob("*.fasta.gz"))
                                                for _, r in zip(range(15), read_records(f))])
    rows = [ln.split("\t") for ln in (ROOT / "data" / "tara" / "samples.tsv").read_text().splitlines()]
    col = {c: i for i, c in enumerate(rows[0])}
    guidi = ["Sample", "Latitude", "Longitude", "Mean Temperature deg C", "Salinity", "Mean Oxygen adjusted (umol/Kg)",
             "Mean Chloro HPLC adjusted (mg Chl/m3)"]
    src = ["latitude", "longitude", "temperature_c", "salinity_psu", "oxygen_umol_kg", "chlorophyll_mg_m3"]
    (d / "tara_env_guidi2016_SI4.tsv").write_text("\t".join(guidi) + "\n" + "".join(
        "\t".join([f"S{r[col['station']]}{r[col['layer']]}"] + [r[col[c]] for c in src]) + "\n" for r in rows[1:]))
    layer = {"SUR": "surface", "DCM": "dcm"}
    (d / "tara_sample_metadata_hogle.tsv").write_text("tara_station\tenvironment\tdate\tdepth\tlat\tlon\n" + "".join(
        f"TARA_{int(r[col['station']]):03d}\t{layer[r[col['layer']]]}\t2010-01-01\t5\t{r[col['latitude']]}\t"
        f"{r[col['longitude']]}\n" for r in rows[1:]))
    return d


def ha1(out: Path, length: int = 150) -> Path:
    """out/ha1.fasta: every third H3N2 HA1 of data/ dated 2006 or later (1,363), cut to 150 nt."""
    from genolm.io.seqio import read_records

    recs = read_records(ROOT / "data" / "h3n2_ha1_1968-2010.fasta.gz", case="upper")
    return _fasta(out / "ha1.fasta", [(r.id, r.seq[:length]) for i, r in enumerate(recs)
                                      if i % 3 == 0 and int(r.id.split("|")[2][-4:]) >= 2006])


def model(out: Path, objective: str) -> Path:
    """out/<objective>: a `debug` genolm run trained for 2 steps on phage lambda (windows of 256)."""
    from genolm.cli import main as genolm

    corpus = out / "lambda_corpus"
    with contextlib.redirect_stdout(sys.stderr):  # stdout is for the folder's name only
        if not (corpus / "manifest.json").is_file():
            assert genolm(["prepare", ROOT / "data" / "lambda.fasta.gz", "--out", corpus, "--window", 256,
                           "--split", "region", "--val-fraction", 0.1, "--no-progress"]) == 0
        assert genolm(["pretrain", "--data", corpus, "--out", out / objective, "--model", "debug",
                       "--objective", objective, "--steps", 2, "--batch-size", 4, "--device", "cpu",
                       "--eval-batches", 1]) == 0
    return out / objective


def make(out: Path, what=WHAT) -> Path:
    """Make the named inputs in ``out`` (each only once) and return ``out``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    steps = {"genomes": genomes, "reads": reads, "gue": gue, "16s": rrna16s, "tara": tara, "ha1": ha1,
             "mlm": lambda o: model(o, "mlm"), "clm": lambda o: model(o, "clm")}
    for w in what:
        if w == "reads" and not (out / "genomes").is_dir():
            genomes(out)
        if not (out / f".{w}.done").exists():
            steps[w](out)
            (out / f".{w}.done").touch()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", nargs="?", default=str(OUT / "smoke_inputs"))
    ap.add_argument("what", nargs="*", metavar="WHAT", help=" | ".join(WHAT) + " (default: all)")
    args = ap.parse_args()
    if set(args.what) - set(WHAT):
        ap.error(f"unknown input {sorted(set(args.what) - set(WHAT))}; choose from {' '.join(WHAT)}")
    print(make(Path(args.out), args.what or WHAT))


if __name__ == "__main__":
    main()
