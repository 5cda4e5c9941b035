"""Tokenizers: the shared id layout, lossless round trips, the unknown-symbol policy, save/load.

Golden ids are pinned on purpose: a change to the layout changes every prepared data set and
checkpoint, so it must show up here first.
"""

from __future__ import annotations

import ast
import functools
import json
import pathlib

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from genolm.errors import GenolmError
from genolm.io.alphabet import IUPAC_AMBIGUOUS, PROTEIN_EXTRA, PROTEIN_LETTERS
from genolm.tokenize import (SPECIAL_TOKENS, BpeTokenizer, Tokenizer, get_tokenizer, load_tokenizer,
                             reserved_tokens, train_bpe)

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
DNA_LETTERS = "ACGT" + IUPAC_AMBIGUOUS
dna_text = st.text(alphabet=DNA_LETTERS + DNA_LETTERS.lower(), max_size=200)
acgt_text = st.text(alphabet="ACGTacgt", max_size=200)


@functools.lru_cache(maxsize=None)
def small_bpe(chunk: int = 37) -> BpeTokenizer:
    """BPE trained on a small random corpus; a tiny chunk so pieces are cut inside sequences."""
    rng = np.random.default_rng(7)
    corpus = ["".join(rng.choice(list("ACGTTTAAN"), size=int(rng.integers(1, 400)))) for _ in range(60)]
    return train_bpe(corpus, vocab_size=200, chunk=chunk)


def all_kinds() -> list[Tokenizer]:
    return [get_tokenizer("char"), get_tokenizer("char", alphabet="rna"), get_tokenizer("aa"),
            get_tokenizer("char", alphabet="protein", case="keep"), get_tokenizer("kmer:6"),
            get_tokenizer("kmer:6:1"), get_tokenizer("kmer:4:2", alphabet="rna"),
            get_tokenizer("codon"), get_tokenizer("codon", alphabet="rna", unknown="n"), small_bpe()]


def reference_kmer_tokens(seq: str, k: int, stride: int, core: str = "ACGT") -> list[str]:
    """Brute-force k-mer tokens, written from the documented rules with no numpy."""
    seq, out = seq.upper(), []
    if stride == k:
        n = len(seq) // k
        for b in range(n):
            block = seq[b * k:(b + 1) * k]
            out.extend([block] if set(block) <= set(core) else list(block))
        return out + list(seq[n * k:])
    start = 0
    while start + k <= len(seq):
        window = seq[start:start + k]
        out.append(window if set(window) <= set(core) else "<nkmer>")
        start += stride
    end = start - stride + k if start else 0
    return out + list(seq[end:])


# ---- the shared layout --------------------------------------------------------------------------

def test_special_ids_are_pinned_for_every_kind():
    assert SPECIAL_TOKENS == ("<pad>", "<unk>", "<bos>", "<eos>", "<mask>", "<sep>", "<cls>")
    for tok in all_kinds():
        assert tok.tokens[:71] == reserved_tokens(64), tok.spec
        assert [tok.token_to_id(t) for t in SPECIAL_TOKENS] == list(range(7))
        assert (tok.pad_id, tok.unk_id, tok.mask_id, tok.cls_id) == (0, 1, 4, 6)
        assert tok.condition_id(0) == 7 and tok.condition_id(63) == 70 and tok.first_symbol_id == 71
        assert tok.id_to_token(7) == "<cond_0>"
        assert (tok.advance[:71] == 0).all()


def test_condition_ids_bounded_and_configurable():
    with pytest.raises(GenolmError, match="condition index"):
        get_tokenizer("char").condition_id(64)
    tok = get_tokenizer("char", n_conditions=8)
    assert tok.condition_id(7) == 14 and tok.encode("A").tolist() == [15]


@pytest.mark.parametrize("spec, alphabet, size, dtype", [
    ("char", "dna", 86, "uint8"), ("char", "rna", 86, "uint8"), ("aa", None, 98, "uint8"),
    ("kmer:1", "dna", 86, "uint8"), ("codon", "dna", 150, "uint8"), ("kmer:4", "dna", 342, "uint16"),
    ("kmer:6", "dna", 4182, "uint16"), ("kmer:6:1", "dna", 4183, "uint16"),
    ("kmer:8", "dna", 65622, "uint32"),
])
def test_vocab_sizes_and_dtypes(spec, alphabet, size, dtype):
    tok = get_tokenizer(spec, alphabet=alphabet)
    assert (tok.vocab_size, tok.dtype.name) == (size, dtype)
    assert len(set(tok.tokens)) == tok.vocab_size  # no duplicate token text (kmer:1 reuses singles)
    assert tok.encode("ACGTACGTA" if alphabet != "rna" else "ACGU").dtype == tok.dtype


def test_golden_ids():
    assert get_tokenizer("char").encode("ACGT").tolist() == [71, 72, 73, 74]
    assert get_tokenizer("char").encode(IUPAC_AMBIGUOUS).tolist() == list(range(75, 86))
    assert get_tokenizer("char", alphabet="rna").encode("ACGU").tolist() == [71, 72, 73, 74]
    assert get_tokenizer("aa").encode(PROTEIN_LETTERS + PROTEIN_EXTRA).tolist() == list(range(71, 98))
    assert get_tokenizer("char", case="keep").encode("ACgt").tolist() == [71, 72, 88, 89]
    # k-mers come after the 15 single letters, in ACGT order: AAA=86, ACG=86+6, TTT=86+63
    assert get_tokenizer("kmer:3").encode("AAAACGTTT").tolist() == [86, 92, 149]
    assert get_tokenizer("kmer:3").encode("ACGTNAGT").tolist() == [92, 74, 75, 71, 73, 74]
    assert get_tokenizer("codon").encode("ATGGCC").tolist() == [86 + 14, 86 + 37]
    # overlapping: AC, CG, GN -> <nkmer> (the last id), then no tail
    tok = get_tokenizer("kmer:2:1")
    assert tok.encode("ACGN").tolist() == [87, 92, tok.nkmer_id] and tok.nkmer_id == 102
    assert get_tokenizer("kmer:3:2").encode("ACGTAC").tolist() == [92, 86 + 44, 72]  # ACG GTA +C


def test_advance_values():
    k6, k61 = get_tokenizer("kmer:6"), get_tokenizer("kmer:6:1")
    assert k6.advance[k6.token_to_id("ACGTAC")] == 6 and k6.advance[k6.token_to_id("N")] == 1
    assert k61.advance[k61.token_to_id("ACGTAC")] == 1 and k61.advance[k61.nkmer_id] == 1
    assert get_tokenizer("kmer:6:3").advance[-1] == 3
    bpe = small_bpe()
    assert all(bpe.advance[i] == len(bpe.tokens[i]) for i in range(71, bpe.vocab_size))


# ---- round trips ------------------------------------------------------------------------------

@SETTINGS
@given(dna_text)
def test_char_round_trip_dna(seq):
    tok = get_tokenizer("char")
    ids = tok.encode(seq)
    assert tok.decode(ids) == seq.upper() and tok.advance[ids].sum() == len(seq)
    assert tok.encode(seq.encode()).tolist() == ids.tolist()  # bytes and str agree


@SETTINGS
@given(st.text(alphabet="ACGUNRYacgun", max_size=100), st.text(alphabet=PROTEIN_LETTERS + PROTEIN_EXTRA
                                                               + PROTEIN_LETTERS.lower(), max_size=100))
def test_char_round_trip_rna_protein_and_keep_case(rna, protein):
    assert get_tokenizer("char", alphabet="rna").decode(get_tokenizer("char", alphabet="rna").encode(rna)) == rna.upper()
    aa = get_tokenizer("aa")
    assert aa.decode(aa.encode(protein)) == protein.upper()
    keep = get_tokenizer("char", alphabet="protein", case="keep")
    assert keep.decode(keep.encode(protein)) == protein


@SETTINGS
@given(dna_text, st.integers(1, 8))
def test_kmer_non_overlapping_is_lossless_and_matches_reference(seq, k):
    tok = get_tokenizer(f"kmer:{k}")
    ids = tok.encode(seq)
    assert tok.decode(ids) == seq.upper()
    assert tok.advance[ids].sum() == len(seq)
    assert ids.tolist() == [tok.token_to_id(t) for t in reference_kmer_tokens(seq, k, k)]


@SETTINGS
@given(dna_text, st.integers(1, 7), st.data())
def test_kmer_overlapping_matches_reference(seq, k, data):
    stride = data.draw(st.integers(1, k))
    tok = get_tokenizer(f"kmer:{k}:{stride}")
    assert tok.encode(seq).tolist() == [tok.token_to_id(t) for t in reference_kmer_tokens(seq, k, stride)]


@SETTINGS
@given(acgt_text, st.integers(2, 7), st.data())
def test_kmer_overlapping_round_trips_acgt(seq, k, data):
    tok = get_tokenizer(f"kmer:{k}:{data.draw(st.integers(1, k - 1))}")
    ids = tok.encode(seq)
    assert tok.decode(ids) == seq.upper()
    if len(seq) >= k and tok.stride == 1:  # DNABERT: one window per position
        assert len(ids) == len(seq) - k + 1


def test_kmer_long_sequence_with_soft_masking_and_n_runs():
    rng = np.random.default_rng(3)
    seq = bytearray(np.frombuffer(b"ACGT", np.uint8)[rng.integers(0, 4, 100_003)].tobytes())
    seq[500:800] = seq[500:800].lower()
    seq[10_000:10_050] = b"N" * 50
    for spec in ("kmer:6", "kmer:6:1", "codon", "kmer:5:2"):
        tok = get_tokenizer(spec)
        ids = tok.encode(bytes(seq))
        assert ids.tolist() == [tok.token_to_id(t) for t in reference_kmer_tokens(seq.decode(), tok.k, tok.stride)]
    assert get_tokenizer("kmer:6").decode(get_tokenizer("kmer:6").encode(bytes(seq))) == seq.decode().upper()


@SETTINGS
@given(st.text(alphabet="ACGTNacgtn", max_size=120), st.sampled_from(["dna", "rna"]))
def test_codon_round_trip(seq, alphabet):
    if alphabet == "rna":
        seq = seq.replace("T", "U").replace("t", "u")
    tok = get_tokenizer("codon", alphabet=alphabet)
    ids = tok.encode(seq)
    assert tok.decode(ids) == seq.upper() and tok.advance[ids].sum() == len(seq)


@SETTINGS
@given(dna_text)
def test_bpe_round_trip(seq):
    tok = small_bpe()
    ids = tok.encode(seq)
    assert tok.decode(ids) == seq.upper() and tok.advance[ids].sum() == len(seq)
    assert ids.dtype == tok.dtype


def test_bpe_batch_equals_single_and_handles_empty():
    tok = small_bpe()
    seqs = ["ACGT" * 50, "", "TTTAAAN", "acgtnnn" * 20]
    assert [a.tolist() for a in tok.encode_batch(seqs)] == [tok.encode(s).tolist() for s in seqs]
    assert tok.encode("").size == 0 and get_tokenizer("kmer:6").encode("").size == 0
    assert tok.decode([]) == "" and get_tokenizer("kmer:6:1").decode([]) == ""


def test_decode_drops_specials_unless_asked():
    tok = get_tokenizer("char")
    ids = [tok.bos_id, tok.condition_id(3), 71, 72, tok.eos_id]
    assert tok.decode(ids) == "AC"
    assert tok.decode(ids, keep_special=True) == "<bos><cond_3>AC<eos>"
    with pytest.raises(GenolmError, match="out of range"):
        tok.decode([71, 999])


# ---- unknown symbols ----------------------------------------------------------------------------

def test_unknown_error_names_char_offset_and_policies():
    with pytest.raises(GenolmError) as err:
        get_tokenizer("kmer:6").encode("ACGTAC-GT")
    msg = str(err.value)
    assert "'-'" in msg and "offset 6" in msg and "unknown='n'" in msg and "unknown='skip'" in msg
    with pytest.raises(GenolmError, match="offset 3"):  # wider than latin-1: offset in characters
        get_tokenizer("char").encode("ACG→T")
    with pytest.raises(GenolmError, match="offset 2"):
        small_bpe().encode("AC<pad>")  # never reaches HF, never becomes a special token


def test_rna_dna_strictness():
    with pytest.raises(GenolmError, match=r"'T' at offset 3.*RNA uses U"):
        get_tokenizer("char", alphabet="rna").encode("ACGT")
    with pytest.raises(GenolmError, match=r"'u' at offset 1.*DNA uses T"):
        get_tokenizer("codon").encode("Augc")
    assert get_tokenizer("char", alphabet="rna").check("ACGUt") == 4
    assert get_tokenizer("char").check(b"ACGTN") == -1


def test_unknown_n_replaces_and_counts():
    tok = get_tokenizer("char", unknown="n")
    assert tok.decode(tok.encode("AC-Gx")) == "ACNGN" and tok.stats["replaced"] == 2
    aa = get_tokenizer("aa", unknown="n")
    assert aa.decode(aa.encode("MK1L")) == "MKXL"
    rna = get_tokenizer("kmer:3", alphabet="rna", unknown="n")
    assert rna.decode(rna.encode("AUGT")) == "AUGN"
    k = get_tokenizer("kmer:3:1", unknown="n")
    ids = k.encode("AC.GT")
    assert (ids == k.nkmer_id).sum() == 3 and k.stats["nkmer"] == 3


def test_unknown_skip_leaves_the_decision_to_the_caller():
    tok = get_tokenizer("kmer:6", unknown="skip")
    assert tok.check("ACGTZ") == 4 and tok.encode("ACGTZ") is None
    out = tok.encode_batch(["ACGTAC", "AC GT", "A"])
    assert out[1] is None and out[0].tolist() == get_tokenizer("kmer:6").encode("ACGTAC").tolist()
    bpe = load_tokenizer_dict({**small_bpe().to_dict(), "unknown": "skip"})
    assert [x is None for x in bpe.encode_batch(["ACG", "A?", "T"])] == [False, True, False]  # aligned


def test_bad_settings_and_specs_raise_genolm_error():
    for spec, kw in [("kmer:0", {}), ("kmer:11", {}), ("kmer:4:5", {}), ("kmer", {}), ("kmer:a", {}),
                     ("char:3", {}), ("word", {}), ("bpe:512", {}), ("char", {"unknown": "drop"}),
                     ("kmer:6", {"case": "keep"}), ("aa", {"alphabet": "dna"}), ("codon", {"alphabet": "protein"}),
                     ("char", {"alphabet": "klingon"})]:
        with pytest.raises(GenolmError):
            get_tokenizer(spec, **kw)
    with pytest.raises(GenolmError, match="too small"):
        train_bpe(["ACGT"], vocab_size=50)
    with pytest.raises(GenolmError, match="record 'chr2'.*offset 1"):
        train_bpe([("chr1", "ACGT"), ("chr2", "AUG")], vocab_size=100)


# ---- persistence and determinism ---------------------------------------------------------------

def load_tokenizer_dict(d: dict) -> Tokenizer:
    return Tokenizer.from_dict(json.loads(json.dumps(d)))


def test_save_load_gives_identical_ids_for_every_kind(tmp_path):
    seqs = ["ACGTNACGTTAGGCAnnacgt", "ACG", "", "RYKM" * 10]
    for i, tok in enumerate(all_kinds()):
        path = tmp_path / f"tok{i}.json"
        tok.save(path)
        back = load_tokenizer(path)
        assert type(back) is type(tok) and back.describe() == tok.describe()
        assert back.tokens == tok.tokens and (back.advance == tok.advance).all()
        for s in seqs if tok.alphabet.name != "rna" else [s.replace("T", "U").replace("t", "u") for s in seqs]:
            assert back.encode(s).tolist() == tok.encode(s).tolist()
        assert get_tokenizer(str(path)).spec == tok.spec  # a .json path works as a spec


def test_load_rejects_foreign_or_tampered_files(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"model": {}}')
    with pytest.raises(GenolmError, match="not a genolm tokenizer"):
        load_tokenizer(bad)
    bad.write_text("{")
    with pytest.raises(GenolmError, match="not JSON"):
        load_tokenizer(bad)
    d = get_tokenizer("kmer:6").to_dict()
    with pytest.raises(GenolmError, match="vocabulary differs"):
        load_tokenizer_dict({**d, "vocab_sha256": "0" * 64})
    with pytest.raises(GenolmError, match="missing a field"):
        load_tokenizer_dict({k: v for k, v in d.items() if k != "stride"})
    with pytest.raises(GenolmError, match="cannot read"):
        load_tokenizer(tmp_path / "missing.json")


def test_bpe_training_is_deterministic():
    rng = np.random.default_rng(11)
    corpus = ["".join(rng.choice(list("ACGTN"), size=int(rng.integers(1, 300)))) for _ in range(40)]
    a, b = train_bpe(corpus, 150, chunk=64), train_bpe(iter(corpus), 150, chunk=64)
    assert a.to_dict() == b.to_dict() and a.vocab_size == 150
    assert a.encode(corpus[0]).tolist() == b.encode(corpus[0]).tolist()
    assert a.tokens[71:86] == sorted(DNA_LETTERS)  # every letter is in, even if unseen


def test_describe_for_manifests():
    d = get_tokenizer("kmer:6").describe()
    assert {k: d[k] for k in ("kind", "k", "stride", "alphabet", "case", "vocab_size")} == {
        "kind": "kmer", "k": 6, "stride": 6, "alphabet": "dna", "case": "fold", "vocab_size": 4182}
    assert get_tokenizer("kmer:6:1").spec == "kmer:6:1" and small_bpe().spec == "bpe:200"


def test_tokenize_imports_only_lower_layers():
    allowed = ("genolm.errors", "genolm.io", "genolm.bio", "genolm.tokenize")
    root = pathlib.Path(__file__).resolve().parents[1] / "genolm" / "tokenize"
    for path in root.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module] if isinstance(node, ast.ImportFrom) and node.module else []
            for name in names:
                assert not name.startswith("genolm") or name.startswith(allowed), (path.name, name)


# ---- batched k-mer encode_records (genolm.tokenize.kmer_batch) ---------------------------------

BATCH_SPECS = ["kmer:1", "kmer:3", "kmer:6", "kmer:4:2", "kmer:6:1", "kmer:5:3", "codon"]


def batch_records(core: str) -> st.SearchStrategy:
    """Lists of records mixing clean ACGT, mostly-clean (rare N/IUPAC) and IUPAC-heavy text, in
    both cases; lengths 0..60 so some are shorter than K and most leave a tail."""
    letters = core + IUPAC_AMBIGUOUS
    record = st.one_of(st.text(alphabet=core + core.lower(), max_size=60),
                       st.text(alphabet=st.sampled_from(core * 6 + core.lower() * 2 + "NnRyk"), max_size=60),
                       st.text(alphabet=letters + letters.lower(), max_size=60))
    return st.lists(record, max_size=40)


def assert_same_as_generic(spec: str, seqs, alphabet: str = "dna", **kw) -> None:
    """The batched encode_records gives the generic one's stream, counts, kept, stats and errors."""
    fast, ref = get_tokenizer(spec, alphabet=alphabet, **kw), get_tokenizer(spec, alphabet=alphabet, **kw)
    try:
        expected = Tokenizer.encode_records(ref, seqs)  # the base-class, record-by-record path
    except GenolmError as e:
        with pytest.raises(GenolmError) as err:
            fast.encode_records(seqs)
        assert str(err.value) == str(e)
        return
    stream, n, kept = fast.encode_records(seqs)
    assert stream.dtype == expected[0].dtype and stream.tolist() == expected[0].tolist()
    assert n.dtype == expected[1].dtype and n.tolist() == expected[1].tolist()
    assert (kept is None) == (expected[2] is None)
    assert kept is None or kept.tolist() == expected[2].tolist()
    assert fast.stats == ref.stats  # <nkmer> windows, split blocks, replaced letters


@SETTINGS
@pytest.mark.parametrize("spec", BATCH_SPECS)
@given(seqs=batch_records("ACGT"))
def test_kmer_encode_records_batched_equals_generic(spec, seqs):
    from genolm.tokenize import kmer_batch
    assert_same_as_generic(spec, seqs)
    assert kmer_batch.encode_records(get_tokenizer(spec), seqs) is not None  # the fast path ran


@SETTINGS
@given(seqs=batch_records("ACGU"))
def test_codon_rna_encode_records_batched_equals_generic(seqs):
    from genolm.tokenize import kmer_batch
    assert_same_as_generic("codon", seqs, alphabet="rna")
    assert_same_as_generic("kmer:4:1", seqs, alphabet="rna")
    assert kmer_batch.encode_records(get_tokenizer("codon", alphabet="rna"), seqs) is not None


@SETTINGS
@pytest.mark.parametrize("spec", ["kmer:6", "kmer:6:1", "kmer:4:2", "codon"])
@given(seqs=batch_records("ACGT"), data=st.data())
def test_kmer_encode_records_unknown_policies_like_generic(spec, seqs, data):
    # one unknown character (a gap, U in DNA, a newline, a space, non-latin-1 …) in one record
    i = data.draw(st.integers(0, len(seqs)))
    seqs = seqs + ["ACGTACGTAC"] if i == len(seqs) else list(seqs)
    at = data.draw(st.integers(0, len(seqs[i])))
    seqs[i] = seqs[i][:at] + data.draw(st.sampled_from(["-", "U", "u", "\n", " ", "x", "é", "→"])) + seqs[i][at:]
    for unknown in ("skip", "n", "error"):
        assert_same_as_generic(spec, seqs, unknown=unknown)


def test_kmer_encode_records_batched_long_reads_and_wide_codes():
    rng = np.random.default_rng(5)
    seqs = []
    for length in rng.integers(0, 400, 300):
        s = bytearray(np.frombuffer(b"ACGT", np.uint8)[rng.integers(0, 4, length)].tobytes())
        if length > 50 and rng.random() < 0.3:
            s[10:40] = s[10:40].lower()
        if length > 100 and rng.random() < 0.3:
            run = int(rng.integers(1, 30))
            s[60:60 + run] = b"N" * run
        seqs.append(s.decode())
    for spec in BATCH_SPECS + ["kmer:2", "kmer:8", "kmer:8:3", "kmer:9", "kmer:10:1", "kmer:7:6"]:
        assert_same_as_generic(spec, seqs)
    assert_same_as_generic("kmer:6", [])
    assert_same_as_generic("kmer:6:1", ["ACG", "", "acgtn"])  # no window anywhere
    assert_same_as_generic("kmer:3", [b"ACGTA", b"NNA"])  # bytes records take the generic path
