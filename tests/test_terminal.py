"""Every command with a progress display, run as a user runs it: in a terminal (a pseudo-terminal,
so stderr *is* a tty and every progress bar is drawn) and into a log (stderr a pipe: timed lines).

The suite's other tests capture stderr, so they only ever see the non-terminal path; a bar that
crashes when drawn (a tqdm bar without a total is falsy: ``bar.update if bar else None``) passed
them all and failed in every user's terminal.  One driver process runs the commands in turn, so
torch is imported once.
"""

import fcntl
import json
import os
import pty
import struct
import subprocess
import sys
import termios
import threading
from pathlib import Path

import numpy as np

from conftest import DATA, history, planted, ROOT, write_history

# Run in-process by the driver, one after another (later ones use the run that pretrain writes).
DRIVER = """
import json, sys, traceback
from genolm.cli import main
for argv in json.loads(sys.argv[1]):
    print(f"\\n@@begin {argv[0]}", file=sys.stderr, flush=True)
    try:
        code = main(argv)
    except Exception:
        traceback.print_exc()
        code = "crashed"
    print(f"\\n@@end {argv[0]} {code}", file=sys.stderr, flush=True)
"""


def commands(d: Path) -> list[list[str]]:
    cpu = ["--device", "cpu"]
    return [
        ["prepare", str(DATA / "lambda.fasta.gz"), str(DATA / "biomarks18S_2k.fasta.gz"), "--out", "corpus",
         "--window", "64", "--workers", "1"],
        ["pretrain", "--data", "corpus", "--out", "run", "--model", "debug", "--steps", "6", "--eval-every", "3",
         "--eval-batches", "1", "--batch-size", "4", *cpu],
        ["embed", "--model", "run", "seqs.fa", "--out", "e.parquet", *cpu],
        ["finetune", "--model", "run", "--train", "train.csv", "--val", "val.csv", "--test", "val.csv",
         "--epochs", "1", "--out", "ft", *cpu],
        ["bin", "reads.fa", "--model", "run", "--out", "bins", *cpu],
        ["classify", "reads.fa", "--references", str(DATA / "lambda.fasta.gz"), "seqs.fa", "--model", "run",
         "--out", "calls.tsv", *cpu],
        ["env", "fit", "--samples", "sheet.tsv", "--id-pattern", r"^(?P<sample>S\d+)_", "--target", "temperature_c",
         "--folds", "2", "--permutations", "0", "--model", "run", "--out", "envfit", *cpu],
        ["score", "one.fa", "--model", "run", "--out", "s.parquet", *cpu],
        ["generate", "--model", "run", "--num", "8", "--length", "120", "--out", "gen.fa", *cpu],
        ["viability", "gen.fa", "--reference", str(DATA / "lambda.fasta.gz"), "--train", "seqs.fa", "--model", "run",
         "--max-reference", "40", "--folds", "2", "--markov-order", "3", "--out", "via", *cpu],
        ["design", "--model", "run", "--num", "2", "--length", "90", "--min-length", "50", "--out", "designs", *cpu],
        ["evolve", "--data", "flu.fa", "--until", "2001", "--steps", "3", "--batch-size", "4", "--out", "evo", *cpu],
        ["simulate", str(DATA / "lambda.fasta.gz"), "--reads", "40", "--model", "perfect", "--out", "mock",
         "--seed", "1"],
    ]


def make_inputs(d: Path) -> Path:
    rng = np.random.default_rng(0)
    seqs = ["".join(rng.choice(list("ACGT"), int(n))) for n in rng.integers(80, 200, 40)]
    (d / "seqs.fa").write_text("".join(f">s{i}\n{s}\n" for i, s in enumerate(seqs)))
    (d / "reads.fa").write_text("".join(f">r{i}\n{s[:70]}\n" for i, s in enumerate(seqs * 3)))
    (d / "one.fa").write_text(f">one\n{seqs[0][:40]}\n")
    for name, part in (("train.csv", seqs[:30]), ("val.csv", seqs[30:])):
        (d / name).write_text("sequence,label\n" + "".join(f"{s},{i % 2}\n" for i, s in enumerate(part)))
    planted(d, n_samples=4, per_sample=3)
    write_history(d / "flu.fa", history())
    return d


def run_driver(d: Path, terminal: bool, env: dict) -> str:
    """Run every command in one process; stderr (and stdout) a pseudo-terminal or a pipe."""
    cmd = [sys.executable, "-c", DRIVER, json.dumps(commands(d))]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT), "COLUMNS": "100", **env}
    if not terminal:
        return subprocess.run(cmd, cwd=d, env=env, capture_output=True, text=True, timeout=600).stderr
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))  # a 120-column terminal
    proc = subprocess.Popen(cmd, cwd=d, env=env, stdin=follower, stdout=follower, stderr=follower)
    os.close(follower)
    chunks = []

    def read():  # drain the terminal as it fills, or the bars would block the process
        while True:
            try:
                data = os.read(leader, 65536)
            except OSError:  # EIO: the process closed the terminal
                break
            if not data:
                break
            chunks.append(data)

    reader = threading.Thread(target=read)
    reader.start()
    proc.wait(timeout=600)
    reader.join(timeout=30)
    os.close(leader)
    return b"".join(chunks).decode("utf-8", "replace").replace("\r\n", "\n")


def segments(text: str) -> dict[str, tuple[str, str]]:
    """command -> (exit code, or "crashed"; what it printed)."""
    out = {}
    for part in text.split("@@begin ")[1:]:
        name, _, rest = part.partition("\n")
        body, _, end = rest.partition("@@end ")
        out[name.strip()] = ((end.split() or ["?", "unfinished"])[1], body)
    return out


def test_every_command_draws_its_progress_bar_in_a_terminal(tmp_path):
    inputs = make_inputs(tmp_path)
    text = run_driver(inputs, terminal=True, env={})
    done = segments(text)
    assert [c[0] for c in commands(inputs)] == list(done), text[-3000:]
    for name, (code, body) in done.items():
        assert code == "0" and "Traceback" not in body, f"{name}:\n{body[-3000:]}"
        # a tqdm bar: redrawn in place with carriage returns, with its count and rate
        assert "\r" in body and ("%|" in body or "/s]" in body), f"{name} drew no bar:\n{body[-2000:]}"


def test_long_work_writes_progress_lines_into_a_log(tmp_path, capsys, monkeypatch):
    # Not a terminal (captured stderr): a line now and then (here after every update), never a
    # bar's control codes.  The same helper serves every command; two are enough to show it.
    from conftest import run_cli

    d = make_inputs(tmp_path)
    monkeypatch.chdir(d)
    monkeypatch.setenv("GENOLM_PROGRESS_SECONDS", "0")
    for argv in commands(d)[:3]:  # prepare, pretrain, embed
        code, _, err = run_cli(argv, capsys)
        assert code == 0, err
        assert "\r" not in err and "%|" not in err, argv[0]
        lines = [x for x in err.splitlines() if x.startswith(f"genolm {argv[0]}: ") and "/s" in x]
        assert lines, f"{argv[0]} wrote no progress line:\n{err[-2000:]}"
        if argv[0] == "pretrain":
            assert lines[-1].startswith("genolm pretrain: 6/6 steps (100%)") and "loss" in lines[-1], lines
