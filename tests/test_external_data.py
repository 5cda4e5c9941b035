"""Real data that is NOT in the shared folder: the genomes and the original Prodigal's golden
outputs that ship inside the pyrodigal wheel (a dependency, so always installed).

- `genolm orfs --method prodigal` must call exactly the genes the original Prodigal called
  (coordinates, strand, partial flags, proteins), in single and metagenomic mode;
- genolm's translation of Prodigal's gene sequences must give Prodigal's proteins;
- genolm's reader must agree with Biopython on these files, and `prepare` must decode back to them.
"""

import gzip
import re
from pathlib import Path

import pytest

from conftest import run_cli
from genolm.bio import translate
from genolm.io.seqio import read_records
from genolm.data.prepare import PrepareArgs, prepare

pyrodigal = pytest.importorskip("pyrodigal")
GOLD = Path(pyrodigal.__file__).parent / "tests" / "data"
GENOMES = ["KK037166", "MIIJ01000039", "SRR492066"]
pytestmark = pytest.mark.skipif(not GOLD.is_dir(), reason="pyrodigal test data not installed")


def prodigal_fasta(path):
    """Records of a Prodigal .faa/.fna: (seq_id, start, end, strand, partial, sequence)."""
    out = []
    for rec in read_records(path, alphabet=None):
        # description: "# START # END # STRAND # ID=…;partial=NN;…" (1-based, inclusive)
        _, start, end, strand, _ = (x.strip() for x in rec.description.split("#", 4))
        partial = re.search(r"partial=(\d\d)", rec.description).group(1)
        out.append((rec.id.rsplit("_", 1)[0], int(start), int(end), int(strand), partial,
                    rec.seq.rstrip("*")))
    return out


@pytest.mark.parametrize("genome", GENOMES)
@pytest.mark.parametrize("mode", ["single", "meta"])
def test_gene_calls_match_original_prodigal(tmp_path, capsys, genome, mode):
    gold = prodigal_fasta(GOLD / f"{genome}.{mode}.faa.gz")
    code, _, _ = run_cli(["orfs", GOLD / f"{genome}.fna.gz", "--method", "prodigal", "--mode", mode,
                          "--out", tmp_path / "g.tsv", "--proteins", tmp_path / "g.faa"], capsys)
    assert code == 0
    rows = [line.split("\t") for line in (tmp_path / "g.tsv").read_text().splitlines()[1:]]
    ours = [(r[0], int(r[2]) + 1, int(r[3]), 1 if r[4] == "+" else -1, r[8]) for r in rows]
    assert ours == [g[:5] for g in gold]
    proteins = [r.seq.rstrip("*") for r in read_records(tmp_path / "g.faa", alphabet="protein")]
    assert proteins == [g[5] for g in gold]


@pytest.mark.parametrize("genome", GENOMES)
def test_translation_of_prodigal_genes(genome):
    genes = prodigal_fasta(GOLD / f"{genome}.single.fna.gz")
    proteins = prodigal_fasta(GOLD / f"{genome}.single.faa.gz")
    assert len(genes) == len(proteins) > 10
    for gene, protein in zip(genes, proteins):
        aa = translate(gene[5], table=11).rstrip("*")
        assert aa[1:] == protein[5][1:]
        # Prodigal writes M for any real start codon (GTG, TTG too); else the codon's amino acid.
        assert aa[0] == protein[5][0] or (protein[5][0] == "M" and gene[5][:3].upper() in ("GTG", "TTG"))


@pytest.mark.parametrize("name", ["KK037166.fna.gz", "MIIJ01000039.fna.gz", "SRR492066.fna.gz",
                                  "GCF_001457455.1_NCTC11397_genomic.fna.gz"])
def test_reader_agrees_with_biopython(name):
    from Bio import SeqIO

    with gzip.open(GOLD / name, "rt") as fh:
        bio = [(r.id, str(r.seq)) for r in SeqIO.parse(fh, "fasta")]
    ours = [(r.id, r.seq) for r in read_records(GOLD / name)]
    assert ours == bio and len(ours) >= 1


def test_prepare_decodes_back_to_the_genomes(tmp_path):
    from conftest import check_windows

    paths = [GOLD / f"{g}.fna.gz" for g in GENOMES] + [GOLD / "GCF_001457455.1_NCTC11397_genomic.fna.gz"]
    m = prepare(PrepareArgs(inputs=[str(p) for p in paths], out=str(tmp_path / "c"),
                            tokenizer="kmer:6", window=256, stride=200, val_fraction=0.3, no_progress=True))
    assert m["totals"]["bases"] == sum(len(r.seq) for p in paths for r in read_records(p))
    assert check_windows(tmp_path / "c", paths, n_windows=100) > 50
