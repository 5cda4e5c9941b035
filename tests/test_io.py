"""genolm.io: FASTA/FASTQ round trips in every compression, parser parity, alphabets, batches.

FASTA and FASTQ go through different C parsers (pyfastx, dnaio) behind different decompressors
(ISA-L, bz2, lzma, zstandard; historically plain/gzip FASTA took another road than the rest), so
every round trip and edge case below runs over all five compressions and compares them: it is
also a parity test of the backends.
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import os
import tempfile
from pathlib import Path

import numpy as np
import pytest
import zstandard
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from genolm.errors import GenolmError
from genolm.io.compression import detect_compression, open_binary
from genolm.io.seqio import (SeqRecord, format_fasta, read_batches, read_records, write_fasta,
                             write_fastq)

# suffix -> compressor for hand-written file contents ("" = plain).
COMPRESS = {
    "": lambda b: b,
    ".gz": lambda b: gzip.compress(b, 1),
    ".bz2": bz2.compress,
    ".xz": lzma.compress,
    ".zst": lambda b: zstandard.ZstdCompressor().compress(b),
}
SUFFIXES = list(COMPRESS)
KIND = {"": None, ".gz": "gz", ".bz2": "bz2", ".xz": "xz", ".zst": "zst"}

HYP = settings(max_examples=40, deadline=None,
               suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def write_all(tmp: Path, name: str, data: bytes) -> dict[str, Path]:
    """``data`` written once per compression: {suffix: path}."""
    paths = {}
    for suffix, compress in COMPRESS.items():
        p = tmp / (name + suffix)
        p.write_bytes(compress(data))
        paths[suffix] = p
    return paths


def records(path, **kw) -> list[tuple]:
    return [tuple(r) for r in read_records(path, **kw)]


# ----------------------------------------------------------------------------- strategies

ID_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.|:-"
ids = st.text(ID_CHARS, min_size=1, max_size=20)
# A description is words separated by single spaces: FASTA cannot keep other whitespace.
words = st.text(ID_CHARS + "=,;()[]/'\"#", min_size=1, max_size=10)
descriptions = st.one_of(st.just(""), st.lists(words, min_size=1, max_size=4).map(" ".join))
dna = st.text("ACGTNRYKMacgtnrykm", min_size=1, max_size=300)


@st.composite
def fasta_records(draw, max_records=8):
    names = draw(st.lists(ids, min_size=1, max_size=max_records, unique=True))
    return [SeqRecord(n, draw(dna), None, draw(descriptions)) for n in names]


@st.composite
def fastq_records(draw, max_records=8):
    out = []
    for rec in draw(fasta_records(max_records)):
        qual = draw(st.text(st.characters(min_codepoint=33, max_codepoint=126),
                            min_size=len(rec.seq), max_size=len(rec.seq)))
        out.append(rec._replace(qual=qual))
    return out


# ----------------------------------------------------------------------------- round trips


@HYP
@given(recs=fasta_records(), width=st.one_of(st.just(0), st.integers(1, 80)))
def test_fasta_round_trip_every_compression(recs, width):
    with tempfile.TemporaryDirectory() as d:
        for suffix in SUFFIXES:
            p = Path(d) / f"x.fa{suffix}"
            write_fasta(recs, p, width=width)
            assert detect_compression(p) == KIND[suffix]
            assert records(p) == [tuple(r) for r in recs], suffix
            if width:  # every sequence line is at most `width` long
                text = read_text(p)
                assert all(len(line) <= width for line in text.splitlines() if not line.startswith(">"))
            else:  # width 0: one line per sequence
                assert len(read_text(p).splitlines()) == 2 * len(recs)


@HYP
@given(recs=fastq_records())
def test_fastq_round_trip_every_compression(recs):
    with tempfile.TemporaryDirectory() as d:
        for suffix in SUFFIXES:
            p = Path(d) / f"x.fq{suffix}"
            write_fastq(recs, p)
            assert detect_compression(p) == KIND[suffix]
            assert records(p) == [tuple(r) for r in recs], suffix


def read_text(p: Path) -> str:
    with open_binary(p) as fh:
        return fh.read().decode()


def test_write_fastq_needs_a_quality_per_base(tmp_path):
    with pytest.raises(GenolmError, match="quality per base"):
        write_fastq([SeqRecord("r", "ACGT", "III")], tmp_path / "x.fq")
    assert not (tmp_path / "x.fq").exists()
    assert list(tmp_path.iterdir()) == []  # the atomic writer left no temp file


def test_compression_is_detected_by_magic_bytes_not_name(tmp_path):
    recs = [SeqRecord("a", "ACGT", None, "first"), SeqRecord("b", "GGCCA")]
    for suffix in (".gz", ".bz2", ".xz", ".zst"):
        p = tmp_path / f"x.fa{suffix}"
        write_fasta(recs, p)
        disguised = tmp_path / f"x{suffix.replace('.', '_')}.txt"
        os.rename(p, disguised)
        assert detect_compression(disguised) == KIND[suffix]
        assert records(disguised) == [tuple(r) for r in recs]
    # and a plain file named .gz is read as plain text
    plain = tmp_path / "plain.fa.gz"
    plain.write_bytes(b">a\nACGT\n")
    assert detect_compression(plain) is None
    assert records(plain) == [("a", "ACGT", None, "")]


def test_zstd_multi_frame_is_read_whole(tmp_path):
    c = zstandard.ZstdCompressor()
    p = tmp_path / "x.fa.zst"
    p.write_bytes(c.compress(b">a\nACGT\n") + c.compress(b"GGGG\n>b\nTT\n"))
    assert records(p) == [("a", "ACGTGGGG", None, ""), ("b", "TT", None, "")]


# ----------------------------------------------------------------------------- line ends, layout


def test_crlf_and_multiline_fasta_every_compression(tmp_path):
    lf = b">a first rec\nACGTAC\nGTacgt\nNN\n>b\nTTTT\n>c x=1\nG\n"
    crlf = lf.replace(b"\n", b"\r\n")
    expected = [("a", "ACGTACGTacgtNN", None, "first rec"), ("b", "TTTT", None, ""),
                ("c", "G", None, "x=1")]
    for data in (lf, crlf):
        for suffix, p in write_all(tmp_path, "x.fa", data).items():
            assert records(p) == expected, (suffix, data[:12])


def test_crlf_fastq_every_compression(tmp_path):
    data = b"@r1 desc\r\nACGT\r\n+\r\nIIII\r\n@r2\r\nGG\r\n+r2\r\n#!\r\n"
    for suffix, p in write_all(tmp_path, "x.fq", data).items():
        assert records(p) == [("r1", "ACGT", "IIII", "desc"), ("r2", "GG", "#!", "")], suffix


def test_windows_file_with_blank_lines(tmp_path):
    data = b"\r\n\r\n>a one\r\nACGT\r\n\r\nACGT\r\n\r\n\r\n>b\r\nGG\r\n\r\n"
    for suffix, p in write_all(tmp_path, "x.fa", data).items():
        assert records(p) == [("a", "ACGTACGT", None, "one"), ("b", "GG", None, "")], suffix


def test_file_without_final_newline(tmp_path):
    for suffix, p in write_all(tmp_path, "x.fa", b">a\nAC\nGT").items():
        assert records(p) == [("a", "ACGT", None, "")], suffix


def test_large_record_read_intact(tmp_path):
    rng = np.random.default_rng(0)
    seq = np.frombuffer(b"ACGTacgtN", dtype=np.uint8)[rng.integers(0, 9, 3_000_000)].tobytes().decode()
    for name, width in (("wrapped.fa.gz", 60), ("oneline.fa", 0), ("wrapped.fa.zst", 80)):
        p = tmp_path / name
        write_fasta([("big", seq), ("small", "ACGT")], p, width=width)
        got = list(read_records(p))
        assert [r.id for r in got] == ["big", "small"]
        assert len(got[0].seq) == 3_000_000 and got[0].seq == seq
        batches = list(read_batches(p, max_bases=1000))
        assert [b.first for b in batches] == [0, 1] and batches[0].seqs[0] == seq


# ----------------------------------------------------------------------------- case and alphabets


def test_case_upper_folds_and_preserve_keeps(tmp_path):
    for suffix, p in write_all(tmp_path, "x.fa", b">a\nacgtNn\nRy\n").items():
        assert read_records(p).__next__().seq == "acgtNnRy", suffix
        assert next(read_records(p, case="preserve")).seq == "acgtNnRy"
        assert next(read_records(p, case="upper")).seq == "ACGTNNRY"
    with pytest.raises(GenolmError, match="unknown case option"):
        next(read_records(p, case="lower"))


@pytest.mark.parametrize("alphabet, good, bad", [
    ("dna", "ACGTNRYSWKMBDHVacgtnryswkmbdhv", "U"),
    ("rna", "ACGUNRYSWKMBDHVacgunryswkmbdhv", "T"),
    ("protein", "ACDEFGHIKLMNPQRSTVWYBZJUOX*acdefghiklmnpqrstvwy", "1"),
    ("nucleotide", "ACGTUNacgtun", "E"),
])
@pytest.mark.parametrize("suffix", SUFFIXES)
def test_alphabets_accept_their_letters_and_name_the_bad_one(tmp_path, alphabet, good, bad, suffix):
    ok = tmp_path / f"ok.fa{suffix}"
    ok.write_bytes(COMPRESS[suffix](f">g\n{good}\n".encode()))
    assert records(ok, alphabet=alphabet) == [("g", good, None, "")]
    # the bad letter sits on line 6 (after a blank line), in the second record, at position 5
    wrong = tmp_path / f"bad.fa{suffix}"
    wrong.write_bytes(COMPRESS[suffix](f">g\n{good[:3]}\n\n>h d\nACA\nC{bad}A\nAAA\n".encode()))
    it = read_records(wrong, alphabet=alphabet)
    assert next(it).id == "g"
    with pytest.raises(GenolmError) as exc:
        next(it)
    err = exc.value
    assert (err.file, err.line, err.record) == (str(wrong), 6, "h")
    assert f"outside the {alphabet} alphabet at position 5" in str(err)
    assert str(err).startswith(f"{wrong}:6: record 'h': ") and "\n" not in str(err)


def test_no_alphabet_accepts_anything_printable(tmp_path):
    p = tmp_path / "x.fa"
    p.write_bytes(b">a\nAC-GT.1*x\n")
    assert records(p, alphabet=None) == [("a", "AC-GT.1*x", None, "")]
    with pytest.raises(GenolmError, match="unknown alphabet"):
        records(p, alphabet="klingon")


@HYP
@given(lines=st.lists(st.text("ACGTN", min_size=1, max_size=30), min_size=1, max_size=12),
       n_before=st.integers(0, 3), data=st.data())
def test_bad_character_line_number_is_exact(lines, n_before, data):
    """Property: the error names the very line (1-based) of the first bad character."""
    line_i = data.draw(st.integers(0, len(lines) - 1))
    col = data.draw(st.integers(0, len(lines[line_i])))
    ch = data.draw(st.sampled_from("XJ!1Oo="))  # ('@', '+', '#' at a line start: see STRAY)
    bad_lines = list(lines)
    bad_lines[line_i] = bad_lines[line_i][:col] + ch + bad_lines[line_i][col:]
    text = "".join(f">ok{i}\nACGT\n" for i in range(n_before)) + ">bad\n" + "\n".join(bad_lines) + "\n"
    expected_line = 2 * n_before + 1 + line_i + 1
    position = sum(len(x) for x in bad_lines[:line_i]) + col + 1
    with tempfile.TemporaryDirectory() as d:
        for suffix, p in write_all(Path(d), "x.fa", text.encode()).items():
            got = []
            with pytest.raises(GenolmError) as exc:
                for r in read_records(p):
                    got.append(r.id)
            assert got == [f"ok{i}" for i in range(n_before)], suffix
            assert (exc.value.line, exc.value.record) == (expected_line, "bad"), suffix
            assert f"at position {position} " in str(exc.value)


# ----------------------------------------------------------------------------- batches


@HYP
@given(recs=fasta_records(max_records=30), max_bases=st.integers(1, 400))
def test_read_batches_matches_read_records(recs, max_bases):
    with tempfile.TemporaryDirectory() as d:
        for suffix in ("", ".gz", ".zst"):
            p = Path(d) / f"x.fa{suffix}"
            write_fasta(recs, p)
            batches = list(read_batches(p, max_bases=max_bases))
            flat_ids = [i for b in batches for i in b.ids]
            flat_seqs = [s for b in batches for s in b.seqs]
            assert flat_ids == [r.id for r in read_records(p)]
            assert flat_seqs == [r.seq for r in read_records(p)]
            start = 0
            for k, b in enumerate(batches):
                assert b.first == start and len(b.ids) == len(b.seqs) > 0
                n = sum(map(len, b.seqs))
                if k < len(batches) - 1:  # full batches stop at the first record reaching the budget
                    assert n >= max_bases and n - len(b.seqs[-1]) < max_bases
                else:
                    assert n - len(b.seqs[-1]) < max_bases
                start += len(b.ids)


def test_read_batches_fastq(tmp_path):
    recs = [SeqRecord(f"r{i}", "ACGT" * (i + 1), "I" * 4 * (i + 1)) for i in range(10)]
    p = tmp_path / "x.fq.gz"
    write_fastq(recs, p)
    batches = list(read_batches(p, max_bases=20))
    assert [b.first for b in batches] == [0, 3, 5, 6, 7, 8, 9]  # 4+8+12 >= 20, 16+20, then one each
    assert [i for b in batches for i in b.ids] == [r.id for r in recs]


# ----------------------------------------------------------------------------- duplicate ids


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_duplicate_ids(tmp_path, suffix):
    p = tmp_path / f"x.fa{suffix}"
    write_fasta([("a", "AC"), ("b", "GG"), ("c", "TT"), ("b", "AAAA")], p, width=0)
    assert [r.id for r in read_records(p)] == ["a", "b", "c", "b"]  # allowed unless asked
    with pytest.raises(GenolmError) as exc:
        list(read_records(p, unique_ids=True))
    assert (exc.value.line, exc.value.record) == (7, "b")
    assert "duplicate record id" in str(exc.value) and "record 2" in str(exc.value)
    with pytest.raises(GenolmError, match="duplicate record id") as exc:
        list(read_batches(p))
    assert exc.value.line == 7
    assert sum(len(b.ids) for b in read_batches(p, unique_ids=False)) == 4


def test_duplicate_ids_differing_only_in_description(tmp_path):
    p = tmp_path / "x.fq"
    write_fastq([SeqRecord("r", "A", "I", "1:N"), SeqRecord("r", "C", "I", "2:N")], p)
    with pytest.raises(GenolmError, match="duplicate record id") as exc:
        list(read_records(p, unique_ids=True))
    assert exc.value.line == 5


# ----------------------------------------------------------------------------- parser parity


def outcome(path, **kw):
    """The records of a file, or ('error', line, record, message) - to compare backends."""
    try:
        return records(path, **kw)
    except GenolmError as err:
        assert "\n" not in str(err)
        return ("error", err.line, err.record, err.message)


PARITY = {  # name -> (FASTA content, the records every backend must give, or None: just agree)
    "crlf": (b">id desc\r\nAC\r\nGT\r\n", [("id", "ACGT", None, "desc")]),
    "trailing-space": (b">id \nA\n", [("id", "A", None, "")]),
    "tab-in-header": (b">id\tdesc here\nACGT\n", [("id", "ACGT", None, "desc here")]),
    "inner-space": (b">a\nAC GT\n", None),
    "leading-whitespace": (b">a\nAC\n \tGT\n", None),
    "semicolon-line": (b">a\nAC\n;x\nGT\n", None),
    "hash-line": (b">a\nAC\n#x\nGT\n>b\nA\n", None),
    "plus-line": (b">a\nAC\n+\nGT\n", None),
    "at-line": (b">a\nACGT\n@b\nACGT\n", None),
    "nul": (b">id\nAC\x00GT\nTT\n>b\nAAA\n", None),
    "non-ascii-header": (">idé x\nACGT\n".encode(), None),
    "empty-last-record": (b">a\nAC\n>b\n", None),
}


@pytest.mark.parametrize("name", list(PARITY))
def test_every_backend_reads_a_file_the_same_way(tmp_path, name):
    data, expected = PARITY[name]
    for alphabet in (None, "dna"):
        got = {s: outcome(p, alphabet=alphabet) for s, p in write_all(tmp_path, "x.fa", data).items()}
        assert all(v == got[""] for v in got.values()), got
    if expected is not None:
        assert got[""] == expected


def test_fasta_and_fastq_headers_parse_alike(tmp_path):
    fa, fq = tmp_path / "x.fa", tmp_path / "x.fq"
    fa.write_bytes(b">id  two  spaces \nACGT\n")
    fq.write_bytes(b"@id  two  spaces \nACGT\n+\nIIII\n")
    assert [r.description for r in read_records(fa)] == [r.description for r in read_records(fq)]
    assert records(fa)[0][3] == "two  spaces"


@pytest.mark.parametrize("header", [b"id\tdesc", b"id desc", b"id \t desc"])
def test_fastq_header_splits_the_id_at_any_blank(tmp_path, header):
    for suffix, p in write_all(tmp_path, "x.fq", b"@" + header + b"\nACGT\n+\nIIII\n").items():
        assert records(p) == [("id", "ACGT", "IIII", "desc")], suffix


# What a C parser would misread without a word - a NUL ends a sequence early (kseq), a line
# starting with '@' or '+' starts a FASTQ record inside the FASTA file (kseq) - must instead be an
# error naming its line, in every compression, even with no alphabet check.  Other stray text
# ('#' lines, non-ASCII, letters outside the alphabet) stays in the sequence, the same way in
# every compression, where the alphabet check names it.
STRAY = {
    "nul": (b">id\nAC\x00GT\nTT\n>b\nAAA\n", 2),
    "at-line": (b">a\nACGT\n@b\nACGT\n", 3),
    "plus-line": (b">a\nAC\n+\nGT\n", 3),
    "hash-line": (b">a\nAC\n#x\nGT\n>b\nA\n", 3),
    "at-line-last": (b">a\nACGT\n>b\nAC\n@\n", 5),
    "non-ascii": (">a\nA\n>id\nACéGT\n".encode(), 4),
    "letter-o": (b">a\nA\n>id\nACoGT\n", 4),
}


@pytest.mark.parametrize("name", list(STRAY))
@pytest.mark.parametrize("suffix", SUFFIXES)
def test_stray_bytes_are_an_error_at_their_line(tmp_path, name, suffix):
    data, line = STRAY[name]
    p = tmp_path / f"x.fa{suffix}"
    p.write_bytes(COMPRESS[suffix](data))
    with pytest.raises(GenolmError) as exc:
        list(read_records(p))
    err = exc.value
    assert err.line == line and err.file == str(p)
    assert str(err).startswith(f"{p}:{line}: ") and "\n" not in str(err)
    assert "FASTQ records are 4 lines" not in str(err), "a FASTQ hint for a FASTA file"
    # the stray byte is also caught when no alphabet is checked
    with pytest.raises(GenolmError):
        list(read_records(p, alphabet=None if name not in ("non-ascii", "letter-o", "hash-line") else "dna"))


def test_no_memfd_fallback_reads_alike_and_cleans_up(tmp_path, monkeypatch):
    """Where os.memfd_create is missing (macOS) FASTA goes through temporary files: same records,
    same errors, and no temporary file left behind, also after an error or an early stop."""
    data = b"".join(b">r%d d\n%s\n" % (i, b"ACGT" * (i % 50 + 1)) for i in range(3000))
    ok = tmp_path / "ok.fa.gz"
    ok.write_bytes(gzip.compress(data))
    bad = tmp_path / "bad.fa.gz"
    bad.write_bytes(gzip.compress(data + b">x\nAC\n+\nII\n"))
    expected, expected_err = records(ok), outcome(bad)
    systmp = tmp_path / "systmp"
    systmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(systmp))
    monkeypatch.delattr(os, "memfd_create", raising=False)
    assert records(ok) == expected
    assert outcome(bad) == expected_err
    it = read_records(ok)
    next(it)
    it.close()
    assert list(systmp.iterdir()) == []


@pytest.fixture(scope="module")
def many_records():
    """~15 MB of FASTA: 700 records of up to 40 kbp, one of 9 Mbp, 300 short ones."""
    rng = np.random.default_rng(1)
    letters = np.frombuffer(b"ACGTacgt", dtype=np.uint8)
    lengths = list(rng.integers(1, 40_000, 700)) + [9_000_000] + list(rng.integers(1, 5000, 300))
    return [(f"r{i}", letters[rng.integers(0, 8, n)].tobytes().decode()) for i, n in enumerate(lengths)]


@pytest.mark.parametrize("suffix", ["", ".gz", ".zst"])
def test_fasta_spanning_many_parser_chunks(tmp_path, many_records, suffix):
    """FASTA is decompressed and parsed a few MB at a time: records must not break at chunk
    ends, including a record longer than a chunk, CRLF line ends, and lowercase."""
    p = tmp_path / f"big.fa{suffix}"
    write_fasta(many_records, p, width=70)
    assert [(r.id, r.seq) for r in read_records(p)] == many_records
    batches = list(read_batches(p, max_bases=1 << 20))
    assert [i for b in batches for i in b.ids] == [r[0] for r in many_records]
    crlf = tmp_path / f"crlf.fa{suffix}"
    crlf.write_bytes(COMPRESS[suffix](read_text(p).replace("\n", "\r\n").encode()))
    assert [(r.id, r.seq) for r in read_records(crlf)] == many_records


@pytest.mark.parametrize("suffix", ["", ".gz"])
@pytest.mark.parametrize("stray", ["@oops", "ACGTXACGT"])
def test_error_deep_in_a_large_file_names_the_exact_line(tmp_path, many_records, suffix, stray):
    lines = "".join(format_fasta(SeqRecord(*r), 70).decode() for r in many_records[:700]).split("\n")
    target = len(lines) * 3 // 4  # past the first few MB, so in a later chunk
    assert not lines[target].startswith(">")
    lines.insert(target, stray)
    p = tmp_path / f"x.fa{suffix}"
    p.write_bytes(COMPRESS[suffix]("\n".join(lines).encode()))
    n = 0
    with pytest.raises(GenolmError) as exc:
        for _ in read_records(p):
            n += 1
    assert exc.value.line == target + 1
    record = next(line[1:] for line in reversed(lines[:target]) if line.startswith(">"))
    assert n <= int(record[1:])  # no record at or after the bad one came out
    if stray[0] != "@":
        assert exc.value.record == record


def test_stray_line_error_names_its_record(tmp_path):
    p = tmp_path / "x.fa"
    p.write_bytes(b">a\nAC\n>b\nACGT\n@b\nACGT\n")
    with pytest.raises(GenolmError) as exc:
        list(read_records(p))
    assert (exc.value.line, exc.value.record) == (5, "b")
