"""Shared fixtures: paths to the small real data shipped in data/ and to the malformed corpus."""

from pathlib import Path

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
