"""``genolm translate`` and ``genolm orfs`` end to end, through ``genolm.cli.main``.

Outputs are checked against Biopython and genolm.bio; bad input must exit 2 with one line on
stderr and leave no output file behind.
"""

from __future__ import annotations

import gzip
import warnings
from pathlib import Path

import pytest
from Bio.Seq import Seq

from genolm.bio import find_orfs, reverse_complement
from genolm.cli import main
from genolm.commands.orfs import COLUMNS

REPO = Path(__file__).resolve().parents[1]
LAMBDA = str(REPO / "data" / "lambda.fasta.gz")
CI_PROTEIN = ("MSTKKKPLTQEQLEDARRLKAIYEKKKNELGLSQESVADKMGMGQSGVGALFNGINALNAYNAALLAKILKVSVEEFSPSIARE"
              "IYEMYEAVS")


def read_fasta(path: Path) -> dict[str, tuple[str, str]]:
    """{id: (description, sequence)} of a small FASTA file (gzip by suffix)."""
    text = (gzip.open(path, "rt") if path.suffix == ".gz" else open(path)).read()
    out = {}
    for block in text.split(">")[1:]:
        header, *lines = block.splitlines()
        name, _, desc = header.partition(" ")
        out[name] = (desc, "".join(lines))
    return out


def lambda_seq() -> str:
    return "".join(gzip.open(LAMBDA, "rt").read().splitlines()[1:])


def bio_translate(seq: str, table: int = 11) -> str:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return str(Seq(seq).translate(table=table))


@pytest.fixture
def small(tmp_path: Path) -> Path:
    p = tmp_path / "small.fa"
    p.write_text(">dna first gene\nATGAAAtgaGGG\n>rna\naugccguaaccc\n")
    return p


# ----------------------------------------------------------------------------- translate


def test_translate_six_frames_of_lambda(tmp_path):
    out = tmp_path / "six.faa"
    assert main(["translate", LAMBDA, "--frame", "all", "--table", "11", "--out", str(out)]) == 0
    recs = read_fasta(out)
    ids = [f"gi|9626243|ref|NC_001416.1|_frame{f}" for f in ("+1", "+2", "+3", "-1", "-2", "-3")]
    assert list(recs) == ids
    genome = lambda_seq()
    rc = str(Seq(genome).reverse_complement())
    for i, strand in enumerate((genome, genome, genome, rc, rc, rc)):
        t = strand[i % 3:]
        assert recs[ids[i]][1] == bio_translate(t[: len(t) // 3 * 3]), ids[i]
    assert recs[ids[0]][0] == "frame=+1 table=11"


def test_translate_to_stdout_with_to_stop(small, capsys):
    assert main(["translate", str(small), "--to-stop"]) == 0
    assert capsys.readouterr().out == ">dna frame=+1 table=11\nMK\n>rna frame=+1 table=11\nMP\n"


def test_translate_reverse_frame_and_gzip_output(small, tmp_path):
    out = tmp_path / "rev.faa.gz"
    assert main(["translate", str(small), "--frame", "-2", "--table", "1", "--out", str(out)]) == 0
    recs = read_fasta(out)
    assert recs["dna"][1] == bio_translate(reverse_complement("ATGAAAtgaGGG")[1:10], 1)
    assert recs["rna"][1] == bio_translate(reverse_complement("augccguaaccc", rna=True)[1:10], 1)


def test_translate_to_mrna(small, tmp_path):
    out = tmp_path / "m.fa"
    assert main(["translate", str(small), "--to", "mrna", "--frame", "-1", "--out", str(out)]) == 0
    recs = read_fasta(out)
    assert recs["dna"] == ("mRNA strand=-", "CCCucaUUUCAU")
    assert recs["rna"] == ("mRNA strand=-", "ggguuacggcau")


def test_translate_unknown_as_n(tmp_path):
    fa = tmp_path / "z.fa"
    fa.write_text(">z\nATGZZZAAA\n")
    out = tmp_path / "z.faa"
    assert main(["translate", str(fa), "--unknown", "n", "--out", str(out)]) == 0
    assert read_fasta(out)["z"][1] == "MXK"


# ----------------------------------------------------------------------------- orfs


def test_orfs_prodigal_on_lambda(tmp_path):
    tsv, faa = tmp_path / "genes.tsv", tmp_path / "genes.faa"
    assert main(["orfs", LAMBDA, "--method", "prodigal", "--out", str(tsv),
                 "--proteins", str(faa)]) == 0
    header, *rows = [line.split("\t") for line in tsv.read_text().splitlines()]
    assert tuple(header) == COLUMNS
    assert len(rows) > 50 and all(len(r) == len(COLUMNS) for r in rows)
    by_locus = {(int(r[2]), int(r[3]), r[4]): r for r in rows}
    ci = by_locus[(37226, 37940, "-")]  # cI repressor, complement(37227..37940)
    assert ci[6:9] == ["714", "237", "00"] and float(ci[9]) > 0
    proteins = read_fasta(faa)
    assert len(proteins) == len(rows)
    desc, protein = proteins[ci[1]]
    assert protein.startswith(CI_PROTEIN) and desc.endswith(":37226-37940(-) partial=00")
    assert (38040, 38241, "+") in by_locus  # cro


def test_orfs_simple_on_lambda(tmp_path, capsys):
    assert main(["orfs", LAMBDA, "--min-aa", "100", "--starts", "table"]) == 0
    header, *rows = [line.split("\t") for line in capsys.readouterr().out.splitlines()]
    expected = find_orfs(lambda_seq(), 11, min_aa=100, starts="table")
    assert [(int(r[2]), int(r[3]), r[4], int(r[5])) for r in rows] == [
        (o.start, o.end, "+" if o.strand > 0 else "-", o.frame) for o in expected]
    assert {r[9] for r in rows} == {"NA"}
    assert [r[1] for r in rows[:2]] == ["gi|9626243|ref|NC_001416.1|_1", "gi|9626243|ref|NC_001416.1|_2"]


@pytest.mark.parametrize("command", ["translate", "orfs"])
def test_help_has_an_example(command, capsys):
    with pytest.raises(SystemExit) as info:
        main([command, "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert "Example:" in out and f"genolm {command} " in out


# ----------------------------------------------------------------------------- bad input


@pytest.fixture
def bad_dna(tmp_path: Path) -> Path:
    p = tmp_path / "bad.fa"
    p.write_text(">ok\n" + "ATGAAATAA" * 50 + "\n>bad\nACGTZACGT\n")  # fails after a good record
    return p


@pytest.mark.parametrize("args, message", [
    (["translate", LAMBDA, "--table", "99"], "unknown genetic code"),
    (["translate", "{bad}"], "'Z'"),
    (["translate", "{small}", "--to", "mrna", "--frame", "2"], "--frame 1 or -1"),
    (["translate", "{small}", "--table", "27", "--to-stop"], "context"),
    (["translate", "{missing}"], "missing.fa"),
    (["orfs", "{bad}", "--proteins", "{tmp}/p.faa"], "'Z'"),
    (["orfs", LAMBDA, "--table", "99", "--proteins", "{tmp}/p.faa"], "expected one of 1, 2, 3"),
    (["orfs", "{small}", "--min-aa", "0"], "--min-aa"),
    (["orfs", "{small}", "--method", "prodigal", "--mode", "single"], "cannot train"),
    (["orfs", "{small}", "--method", "prodigal", "--mode", "meta", "--table", "2"], "table 2"),
])
def test_bad_input_exits_2_with_one_line_and_no_output(args, message, tmp_path, small, bad_dna,
                                                      capsys):
    names = {"bad": bad_dna, "small": small, "missing": tmp_path / "missing.fa", "tmp": tmp_path}
    argv = [a.format(**names) for a in args] + ["--out", str(tmp_path / "out.txt")]
    before = set(tmp_path.iterdir())
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"genolm {args[0]}: error: ") and err.count("\n") == 1, err
    assert message in err
    assert set(tmp_path.iterdir()) == before  # no output, no temporary file left
