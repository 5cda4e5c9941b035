"""Synonymous recoding: copies keep every reference protein, change only single-gene codons away
from starts, stops and ribosome sites, follow the genome's strand, and are seeded; prepare puts
them after each training genome and never beside a validation genome."""

import json

import numpy as np
import pytest

from conftest import DATA, run_cli
from genolm.bio.genome_match import protein_hits
from genolm.bio.recode import recode, recoded_copies, synonymous_sites
from genolm.bio.seq import reverse_complement
from genolm.generation.funnel import Reference
from genolm.io.seqio import read_records, write_fasta

MICRO = DATA / "microviridae"
PHIX, GFF = MICRO / "NC_001422_1.fna.gz", MICRO / "NC_001422.1_pseudocircular.gff"


@pytest.fixture(scope="module")
def ref():
    return Reference.load(str(PHIX), str(GFF))


def gene_bases(ref):
    """Forward-strand bases of each reference gene in phiX174 (its GFF, wrapping past the origin)."""
    n, out = len(ref.genome), []
    for line in GFF.read_text().splitlines():
        f = line.split("\t")
        if len(f) > 8 and f[2] == "CDS":
            out.append(np.arange(int(f[3]), int(f[4])) % n)  # the GFF's starts are 0-based (funnel's note)
    return out


def test_copies_keep_every_protein_and_change_only_single_gene_codons(ref):
    g, n = ref.genome, len(ref.genome)
    sites = synonymous_sites(g, ref.proteins)
    cover = np.zeros(n, int)
    for b in gene_bases(ref):
        cover[b] += 1
    pos = np.array([s.position for s in sites])
    assert len(sites) > 1000 and (cover[pos] == 1).all()  # overlapping genes (A/B/K, D/E) are left alone
    starts = [b[0] for b in gene_bases(ref)]
    assert not any(((s - pos) % n <= 20).any() for s in starts)  # nor a start codon or the 20 bases before it
    copies = recoded_copies(g, ref.proteins, 3, 0.08, seed=1)
    for seq, changed in copies:
        diff = np.flatnonzero(np.frombuffer(seq.encode(), np.uint8) != np.frombuffer(g.encode(), np.uint8))
        assert len(diff) == changed and 0.05 * len(sites) < changed < 0.11 * len(sites)
        assert set(diff) <= set(pos.tolist()) and (np.diff(diff) >= 3).all()  # one change per codon
        hits = protein_hits(ref.proteins, seq)
        assert all(h.identity == 1.0 and h.coverage == 1.0 for h in hits.values())
    assert len({s for s, _ in copies}) == 3
    assert recoded_copies(g, ref.proteins, 3, 0.08, seed=1) == copies
    assert recoded_copies(g, ref.proteins, 3, 0.08, seed=2) != copies


def test_sites_follow_the_genes_strand(ref):
    """The reverse complement of phiX174 has its genes on the minus strand: the same sites, mirrored,
    with complemented alternatives; a recoded copy of it is the reverse complement of a recoded phiX174."""
    g, n = ref.genome, len(ref.genome)
    fwd = {(s.position, s.alternatives) for s in synonymous_sites(g, ref.proteins)}
    comp = str.maketrans("ACGT", "TGCA")
    rev = {(n - 1 - s.position, "".join(sorted(s.alternatives.translate(comp))))
           for s in synonymous_sites(reverse_complement(g), ref.proteins)}
    assert rev == fwd
    seq, _ = recoded_copies(reverse_complement(g), ref.proteins, 1, 0.2, seed=0)[0]
    assert all(h.identity == 1.0 for h in protein_hits(ref.proteins, seq).values())


def test_recode_rate_bounds():
    sites = synonymous_sites("", {"x": "M" * 20})
    assert sites == []
    g = "ATG" + "GCT" * 30 + "TAA"
    from genolm.bio.recode import Site

    all_sites = [Site(3 * k + 5, "ACG") for k in range(30)]
    assert recode(g, all_sites, 0.0, np.random.default_rng(0)) == (g, 0)
    seq, changed = recode(g, all_sites, 1.0, np.random.default_rng(0))
    assert changed == 30 and seq[3:-3:3] == "G" * 30 and seq.startswith("ATG")


def test_prepare_puts_copies_after_training_genomes_only(tmp_path, capsys):
    genomes = [(r.id, r.seq) for r in read_records(MICRO / "phage_sft_genomes_phix174_variants.fna.gz", case="upper")][:20]
    write_fasta(genomes, tmp_path / "g.fa")
    args = ["prepare", tmp_path / "g.fa", "--rotate-to", PHIX, "--annotation", GFF, "--window", "1024",
            "--val-fraction", "0.3", "--no-progress"]
    code, out, err = run_cli(args + ["--synonymous-copies", "2", "--out", tmp_path / "c"], capsys)
    assert code == 0, err
    m = json.loads((tmp_path / "c" / "manifest.json").read_text())
    n_val = m["splits"]["val"]["records"]
    assert 0 < n_val < 20 and m["splits"]["train"]["records"] == 3 * (20 - n_val)
    assert m["totals"]["records"] == 20 and m["synonymous_copies"]["copies"] == 2 * (20 - n_val)
    assert 50 < m["synonymous_copies"]["changes_median"] < 160
    import pyarrow.parquet as pq

    rec = pq.read_table(tmp_path / "c" / "records.parquet").to_pydict()
    train = [r for r, s in zip(rec["record_id"], rec["split"]) if s == "train"]
    val = [r for r, s in zip(rec["record_id"], rec["split"]) if s == "val"]
    assert not any("~synonymous" in r for r in val)
    originals = [r for r in train if "~" not in r]
    assert train == [x for r in originals for x in (r, f"{r}~synonymous1", f"{r}~synonymous2")]
    code, _, _ = run_cli(args + ["--out", tmp_path / "plain"], capsys)  # the same split without copies
    plain = pq.read_table(tmp_path / "plain" / "records.parquet").to_pydict()
    assert [r for r, s in zip(plain["record_id"], plain["split"]) if s == "val"] == val


@pytest.mark.parametrize("extra, says", [
    (["--synonymous-copies", "2"], "--annotation"),
    (["--synonymous-copies", "2", "--annotation", GFF, "--split", "region"], "--split record"),
    (["--synonymous-copies", "-1"], "0 or more"),
    (["--synonymous-copies", "2", "--annotation", GFF, "--synonymous-rate", "0"], "(0, 1]"),
])
def test_prepare_refuses_copies_it_cannot_make(tmp_path, capsys, extra, says):
    code, _, err = run_cli(["prepare", PHIX, "--rotate-to", PHIX, "--out", tmp_path / "c", *extra], capsys)
    assert code == 2 and says in err and not (tmp_path / "c").exists()
