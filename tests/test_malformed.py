"""The broken-file corpus (tests/data/malformed, see make_corpus.py): N good records, then a clear error.

Every ``error_*`` file in the folder is picked up automatically.  For each one the error must be a
GenolmError on one line that names the file; its line and wording are pinned in EXPECTED (checked
by reading the files by hand), as is the number of good records yielded before it.  Through the
CLI the same error is printed as one line, the exit code is 2, and no output is left behind.
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import os
import random
import zlib
from pathlib import Path

import pytest
import zstandard

from conftest import MALFORMED, run_cli
from genolm.errors import GenolmError
from genolm.io.seqio import read_batches, read_records

ERROR_FILES = sorted(p.name for p in MALFORMED.iterdir() if p.name.startswith("error_"))


class Expect:
    """What reading one broken file must give: line (None = the whole file), a fragment of the
    message (case-insensitive), how many records come out first, and the record named."""

    def __init__(self, line, fragment, good=0, record=None):
        self.line, self.fragment, self.good, self.record = line, fragment, good, record


EXPECTED = {
    # >seq1 / ACGTACGT / >seq2 / ACGTAC / GTJACG: the J is base 9 of seq2, on line 5
    "error_bad_char.fa": Expect(5, "outside the dna alphabet at position 9", 1, "seq2"),
    # record 2 is lines 5-8; its sequence ACXT (line 6) has X at position 3
    "error_bad_char.fq": Expect(6, "outside the dna alphabet at position 3", 1, "r2"),
    "error_binary_junk.fa": Expect(1, "binary data, not FASTA/FASTQ"),
    "error_blank_lines.fa": Expect(None, "empty file"),
    # duplicates are found with 8-byte hashes at the end of the file, so all 3 records come out
    # first; the second '>a desc' header is line 5
    "error_duplicate_ids.fa": Expect(5, "duplicate record id", 3, "a"),
    "error_duplicate_ids.fq": Expect(5, "duplicate record id", 2, "r1"),
    "error_empty.fa": Expect(None, "empty file"),
    "error_empty.fa.gz": Expect(None, "empty file"),
    # >a / ACGT / >b / >c: record b (header on line 3) has no sequence
    "error_empty_record.fa": Expect(3, "record has no sequence", 1, "b"),
    "error_header_without_id.fa": Expect(3, "header without an id", 1),
    # @r2 / ACGT / IIII: the file ends after 3 lines of record r2; line 7 should be '+' but
    # holds the qualities (the file has 7 lines)
    "error_missing_plus.fq": Expect(7, "incomplete last FASTQ record", 1, "r2"),
    "error_no_header.fa": Expect(1, "text before the first record"),
    # MKVLAAGIVE: M, K, V are IUPAC codes; L (position 4, line 2) is not
    "error_protein_as_dna.fa": Expect(2, "outside the dna alphabet at position 4", 0, "p1"),
    # record 2's qualities 'III' (line 8) are one short of ACGT
    "error_qual_length.fq": Expect(8, "quality length differs from sequence length", 1, "r2"),
    "error_rna_as_dna.fa": Expect(2, "outside the dna alphabet at position 4", 0, "seq1"),
    "error_text_before.fa": Expect(1, "text before the first record"),
    # ACGT then 'this line…': t and h are IUPAC codes, i (base 7, line 3) is not
    "error_text_in_sequence.fa": Expect(3, "outside the dna alphabet at position 7", 0, "a"),
    "error_truncated.fa.bz2": Expect(None, "truncated bzip2 file"),
    "error_truncated.fa.gz": Expect(None, "truncated gzip file"),
    "error_truncated.fa.xz": Expect(None, "truncated xz file"),
    "error_truncated.fa.zst": Expect(None, "truncated zstd file"),
    "error_truncated.fq.gz": Expect(None, "truncated gzip file"),
}
HINTS = {"error_rna_as_dna.fa": "--alphabet rna", "error_protein_as_dna.fa": "--alphabet protein"}
# Errors of the alphabet, which read_batches leaves to its consumer.
ALPHABET_ERRORS = {name for name, e in EXPECTED.items() if "alphabet" in e.fragment}

# name -> reason, for files whose pinned error is a known bug (xfail, strict)
BUGS: dict[str, str] = {}


def params(names):
    return [pytest.param(n, marks=pytest.mark.xfail(strict=True, reason=BUGS[n])) if n in BUGS else n
            for n in names]


def first_error(path, **kw) -> tuple[int, GenolmError]:
    """Iterate by hand: how many records came out, then the error."""
    n = 0
    it = read_records(path, **kw)
    with pytest.raises(GenolmError) as exc:
        while True:
            next(it)
            n += 1
    return n, exc.value


def test_corpus_is_complete():
    assert len(ERROR_FILES) >= 20
    assert sorted(EXPECTED) == ERROR_FILES, "pin the expected error of every error_* file in EXPECTED"


@pytest.mark.parametrize("name", ERROR_FILES)
def test_error_is_one_line_and_names_the_file(name):
    path = MALFORMED / name
    with pytest.raises(GenolmError) as exc:
        list(read_records(path, unique_ids=True))
    text = str(exc.value)
    assert "\n" not in text and "\r" not in text
    assert text.startswith(str(path)) and name in text
    assert exc.value.file == str(path)
    assert "hint: " in text, "every error of the corpus ends with a hint"


@pytest.mark.parametrize("name", params(ERROR_FILES))
def test_error_line_and_message_are_pinned(name):
    path = MALFORMED / name
    expect = EXPECTED[name]
    good, err = first_error(path, unique_ids=True)
    assert expect.fragment.lower() in err.message.lower() + " " + str(err).lower()
    assert err.line == expect.line
    prefix = f"{path}:{expect.line}: " if expect.line is not None else f"{path}: "
    assert str(err).startswith(prefix)
    if expect.record is not None:
        assert err.record == expect.record and f"record {expect.record!r}" in str(err)
    if name in HINTS:
        assert HINTS[name] in err.hint
    # N good records, then the error
    assert good == expect.good


@pytest.mark.parametrize("name", ERROR_FILES)
def test_good_records_before_the_error(name):
    """Exactly EXPECTED.good records come out before the error, and they are the right ones."""
    path = MALFORMED / name
    got = []
    with pytest.raises(GenolmError):
        for rec in read_records(path, unique_ids=True):
            got.append(rec)
    assert len(got) == EXPECTED[name].good
    assert all(rec.id and rec.seq for rec in got)


def test_good_records_are_the_right_ones():
    got = []
    with pytest.raises(GenolmError):
        for rec in read_records(MALFORMED / "error_bad_char.fa"):
            got.append(tuple(rec))
    assert got == [("seq1", "ACGTACGT", None, "")]
    got = []
    with pytest.raises(GenolmError):
        for rec in read_records(MALFORMED / "error_qual_length.fq"):
            got.append(tuple(rec))
    assert got == [("r1", "ACGT", "IIII", "")]


@pytest.mark.parametrize("name", [n for n in ERROR_FILES if n not in ALPHABET_ERRORS])
def test_read_batches_gives_the_same_error(name):
    path = MALFORMED / name
    with pytest.raises(GenolmError) as a:
        list(read_records(path, unique_ids=True))
    with pytest.raises(GenolmError) as b:
        list(read_batches(path))
    assert str(a.value) == str(b.value)


def test_quality_length_error_names_the_record():
    """As errors.py's own example: record, expected and found counts."""
    _, err = first_error(MALFORMED / "error_qual_length.fq")
    assert err.record == "r2"
    assert err.expected and "4" in err.expected and err.found and "3" in err.found


def test_missing_plus_in_the_middle_of_a_file(tmp_path):
    p = tmp_path / "x.fq"
    p.write_bytes(b"@r1\nACGT\n+\nIIII\n@r2\nACGT\nIIII\n@r3\nACGT\n+\nIIII\n")
    good, err = first_error(p)
    assert good == 1 and err.line == 7 and "'+'" in str(err)


def test_ok_gzip_without_suffix():
    path = MALFORMED / "ok_gzip_without_suffix.fa"
    assert path.read_bytes()[:2] == b"\x1f\x8b"
    recs = [tuple(r) for r in read_records(path, unique_ids=True)]
    assert recs == [("seq1", "ACGTACGTACGGTTAACC", None, "first"), ("seq2", "TTTTGGGG", None, "")]


# ----------------------------------------------------------------------------- streams cut late


# Random bases, so that the compressed file is large too (~30 KB per 120 KB): decoders read
# their input in blocks, and a small file would be found truncated already by the format sniffer.
_rng = random.Random(3)
RECORDS = [(f"r{i}", "".join(_rng.choices("ACGT", k=_rng.randint(200, 600)))) for i in range(300)]
TEXT = "".join(f">{i}\n{s}\n" for i, s in RECORDS).encode()


def gzip_cut(data: bytes) -> bytes:
    """A gzip stream of exactly ``data`` that stops before its final block and trailer."""
    c = zlib.compressobj(6, zlib.DEFLATED, 31)
    return c.compress(data) + c.flush(zlib.Z_SYNC_FLUSH)


def zstd_cut(data: bytes) -> bytes:
    c = zstandard.ZstdCompressor().compressobj()
    return c.compress(data) + c.flush(zstandard.COMPRESSOBJ_FLUSH_BLOCK)


def check_cut(path: Path):
    """A stream cut late (past the 64 KB sniffed up front): complete records only, then 'truncated'."""
    got = []
    with pytest.raises(GenolmError) as exc:
        for rec in read_records(path):
            got.append((rec.id, rec.seq))
    assert "truncated" in str(exc.value), str(exc.value)
    assert got == RECORDS[: len(got)], "a partial record came out of a truncated file"
    # (readers hand over records a buffer at a time, e.g. 8 MB: the complete records of the last
    # buffer may be lost with the error, so their number is not pinned)


@pytest.mark.parametrize("cut", [pytest.param(gzip_cut, id="gz"),
                                 pytest.param(gzip_cut, id="gz-no-memfd"),  # macOS: no memfd
                                 pytest.param(zstd_cut, id="zst")])
@pytest.mark.parametrize("tail", [b">bb", b">bb\n", b">bb desc\nACGTAC"], ids=["in-header", "after-header",
                                                                             "in-sequence"])
def test_cut_after_many_records(tmp_path, monkeypatch, request, cut, tail):
    if "no-memfd" in request.node.name:
        monkeypatch.delattr(os, "memfd_create", raising=False)
    p = tmp_path / "x.fa.bin"
    p.write_bytes(cut(TEXT + tail))
    check_cut(p)


def test_cut_after_many_records_gz_at_record_boundary(tmp_path):
    p = tmp_path / "x.fa.gz"
    p.write_bytes(gzip_cut(TEXT))
    check_cut(p)


# Four times as many distinct records (repeats would compress to nothing).
MANY = [(f"m{i}", "".join(_rng.choices("ACGT", k=_rng.randint(200, 600)))) for i in range(1200)]
MANY_FA = "".join(f">{i}\n{s}\n" for i, s in MANY).encode()
MANY_FQ = "".join(f"@{i}\n{s}\n+\n{'I' * len(s)}\n" for i, s in MANY).encode()
CUT_BYTES = {  # name -> compressed file; the whole file is cut, so no flush point is known
    "fa.bz2": lambda: bz2.compress(MANY_FA, 1),
    "fa.xz": lambda: lzma.compress(MANY_FA),
    "fa.gz": lambda: gzip.compress(MANY_FA),
    "fq.gz": lambda: gzip.compress(MANY_FQ),
    "fq.zst": lambda: zstandard.ZstdCompressor().compress(MANY_FQ),
}


@pytest.mark.parametrize("kind", list(CUT_BYTES))
def test_cut_compressed_bytes(tmp_path, kind):
    """Cut a compressed file at several points: complete records only, then 'truncated'."""
    data = CUT_BYTES[kind]()
    n_good = []
    for fraction in (0.3, 0.5, 0.7, 0.9, 0.99):
        p = tmp_path / f"x{fraction}.{kind}"
        p.write_bytes(data[: int(len(data) * fraction)])
        got = []
        with pytest.raises(GenolmError) as exc:
            for rec in read_records(p):
                got.append((rec.id, rec.seq))
        assert "truncated" in str(exc.value), (fraction, str(exc.value))
        assert got == MANY[: len(got)], (fraction, "a partial record came out")
        n_good.append(len(got))
    # (how many complete records come out first depends on the reader's buffer, e.g. 8 MB)
    assert n_good == sorted(n_good)


# ----------------------------------------------------------------------------- through the CLI


def library_error(path) -> str:
    with pytest.raises(GenolmError) as exc:
        list(read_records(path, unique_ids=True))
    return str(exc.value)


@pytest.mark.parametrize("name", ERROR_FILES)
def test_prepare_exits_2_with_one_line_and_leaves_nothing(tmp_path, capsys, name):
    path = MALFORMED / name
    work = tmp_path / "work"
    work.mkdir()
    out = work / "corpus"
    code, stdout, stderr = run_cli(["prepare", path, "--out", out, "--no-progress"], capsys)
    assert code == 2
    assert stdout == ""
    assert stderr.endswith("\n") and stderr.count("\n") == 1
    assert stderr.startswith("genolm prepare: error: ")
    assert str(path) in stderr
    # the CLI shows the library's error as it is
    assert stderr == f"genolm prepare: error: {library_error(path)}\n"
    assert not out.exists()
    assert list(work.iterdir()) == [], "no temp files or directories may be left beside --out"


def test_prepare_failure_keeps_an_existing_output(tmp_path, capsys):
    out = tmp_path / "corpus"
    out.mkdir()
    (out / "keep.txt").write_text("previous")
    code, _, _ = run_cli(["prepare", MALFORMED / "error_truncated.fa.xz", "--out", out, "--no-progress"],
                         capsys)
    assert code == 2
    assert [p.name for p in tmp_path.iterdir()] == ["corpus"]
    assert (out / "keep.txt").read_text() == "previous"


# translate/orfs read with the nucleotide alphabet and without unique ids: files broken in
# structure, compression or alphabet (not RNA, not duplicates) must fail there too.
TASK_FILES = ["error_bad_char.fa", "error_bad_char.fq", "error_empty.fa", "error_qual_length.fq",
              "error_text_before.fa", "error_empty_record.fa", "error_truncated.fa.xz",
              "error_truncated.fq.gz", "error_binary_junk.fa"]


@pytest.mark.parametrize("command", ["translate", "orfs"])
@pytest.mark.parametrize("name", TASK_FILES)
def test_translate_and_orfs_exit_2_and_leave_nothing(tmp_path, capsys, command, name):
    path = MALFORMED / name
    work = tmp_path / "work"
    work.mkdir()
    out = work / "out.txt"
    code, stdout, stderr = run_cli([command, path, "--out", out], capsys)
    assert code == 2
    assert stdout == ""
    assert stderr.count("\n") == 1 and stderr.startswith(f"genolm {command}: error: {path}")
    assert not out.exists()
    assert list(work.iterdir()) == []
