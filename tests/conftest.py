"""Shared fixtures and helpers: paths to the small real data shipped in data/ and to the malformed
corpus, running the CLI in-process, and the planted data several test modules use."""

from pathlib import Path

import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "data"
MALFORMED = Path(__file__).parent / "data" / "malformed"
# The larger shared data set, present on developer machines and in CI (never required).
SHARED = ROOT.parent / "shared" / "data"


@pytest.fixture
def data_dir() -> Path:
    return DATA


def run_cli(argv, capsys):
    """Run ``genolm ARGV`` in-process; return (exit code, stdout, stderr)."""
    from genolm.cli import main

    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def one_thread():
    """Tiny models run fastest on one thread (and don't fight other test processes for cores)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


# ---- runs and planted data several test modules share --------------------------------------------

def make_run(root, family="transformer", causal=True, window=64):
    """A genolm run (2 training steps: the weights only need to be fixed, not good)."""
    from genolm.data.prepare import PrepareArgs, prepare

    corpus = root / "corpus"
    if not corpus.exists():
        prepare(PrepareArgs(inputs=[str(DATA / "lambda.fasta.gz")], out=str(corpus), window=window,
                            val_fraction=0.0, workers=1, no_progress=True))
    run = root / f"run_{family}_{'clm' if causal else 'mlm'}"
    args = ["pretrain", "--data", corpus, "--out", run, "--model", "debug", "--family", family,
            "--objective", "clm" if causal else "mlm", "--steps", "2", "--batch-size", "4", "--device", "cpu",
            "--eval-every", "2", "--eval-batches", "1"]
    from genolm.cli import main

    assert main(list(map(str, args))) == 0
    return run


@pytest.fixture(scope="session")
def masked_run(tmp_path_factory) -> Path:
    """One small masked transformer run for every test that only reads it (embeddings)."""
    return make_run(tmp_path_factory.mktemp("masked_run"), "transformer", causal=False)


def planted(tmp_path, n_samples=12, per_sample=30, seed=0):
    """Samples at separate stations whose temperature sets their sequences' GC content; one FASTA
    with ids '<sample>_<n>' and a sheet pointing at it."""
    rng = np.random.default_rng(seed)
    temps = np.linspace(5, 30, n_samples)
    rng.shuffle(temps)
    rows, fasta = [], []
    for s, t in enumerate(temps):
        gc = 0.3 + 0.4 * (t - 5) / 25
        for j in range(per_sample):
            seq = "".join(rng.choice(list("ACGT"), 300, p=[(1 - gc) / 2, gc / 2, gc / 2, (1 - gc) / 2]))
            fasta.append(f">S{s}_{j}\n{seq}\n")
        rows.append(f"S{s}\tall.fasta\tst{s}\t{t:.2f}\t{'warm' if t > 17 else 'cold'}\n")
    (tmp_path / "all.fasta").write_text("".join(fasta))
    (tmp_path / "sheet.tsv").write_text("sample_id\tpath\tstation\ttemperature_c\twater\n" + "".join(rows))
    return tmp_path / "sheet.tsv"


# codons: ATG=M GCC=A AAA=K AGA=R GGC=G TTT=F CTG=L CCC=P GAA=E ACC=T TGG=W
BASE = "ATGGCCAAAGGCTTTCTGCCCGAAACCTGG"  # M A K G F L P E T W


def _mutate(seq: str, codon: int, new: str) -> str:
    return seq[: 3 * codon] + new + seq[3 * codon + 3:]


def history(seed: int = 0) -> list[tuple[str, str]]:
    """(date, sequence): 1998-2000 the base strain and scattered changes to G or P; 2001 the base,
    and from November K3R; 2002 K3R everywhere (a sweep seen in 2001) plus L6I (a sweep unseen in
    2001: ATC, found in no earlier sequence)."""
    rng = np.random.default_rng(seed)
    rows = []
    for year in (1998, 1999, 2000):
        for k in range(6):
            s = BASE if k % 2 else _mutate(BASE, int(rng.integers(1, 9)), "GGG" if k % 3 else "CCC")
            rows.append((f"{1 + k:02d}/{year}", s))
    rows += [(f"0{m}/2001", BASE) for m in (2, 3, 4, 5)] + [(f"{m}/2001", _mutate(BASE, 2, "AGA")) for m in (11, 12)]
    rows += [(f"0{m}/15/2002", _mutate(_mutate(BASE, 2, "AGA"), 5, "ATC")) for m in range(1, 7)]
    return rows


def write_history(path, rows, header=True):
    with open(path, "w") as f:
        for i, (date, seq) in enumerate(rows):
            f.write(f">s{i}|acc{i}|{date}|x\n{seq}\n" if header else f">s{i}\n{seq}\n")
    return path


MOTIF = "TATAATGC"


def motif_split(n, seed, length=60):
    """Half the sequences carry MOTIF at a random place (label 1), half never do (label 0)."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        while True:
            s = "".join(rng.choice(list("ACGT"), length))
            if MOTIF not in s:
                break
        label = i % 2
        if label:
            at = rng.integers(0, length - len(MOTIF))
            s = s[:at] + MOTIF + s[at + len(MOTIF):]
        rows.append((s, label))
    return rows


def write_csv(path, rows, header="sequence,label", sep=","):
    path.write_text(header + "\n" + "".join(f"{s}{sep}{lab}\n" for s, lab in rows))
    return path


def source_sequences(paths):
    from genolm.io.seqio import read_records

    return {(i, r.id): r.seq.upper() for i, p in enumerate(paths) for r in read_records(p, alphabet=None)}


def check_windows(out, paths, n_windows=200, seed=0):
    """Decode a sample of windows of both splits and compare them with the source records."""
    from genolm.data.shards import PreparedCorpus

    corpus = PreparedCorpus(out)
    tok = corpus.tokenizer
    seqs = source_sequences(paths)
    checked = 0
    rng = np.random.default_rng(seed)
    for split in ("train", "val"):
        windows = corpus.windows(split)
        for i in rng.choice(len(windows), size=min(n_windows, len(windows)), replace=False):
            shard, offset = windows.position(int(i))
            w = windows[int(i)]
            segments = corpus.locate(split, shard, offset, len(w))
            assert segments, "every window comes from at least one record"
            for seg in segments:
                text = tok.decode(w[seg["token_start"]: seg["token_end"]])
                src = seqs[(seg["file"], seg["record_id"])]
                assert text == src[seg["base_start"]: seg["base_end"]]
                checked += 1
            # Records inside a window are separated by <sep>, never glued together.
            assert (w == tok.token_to_id("<sep>")).sum() >= len(segments) - 1
    return checked
