"""The command line: one table of commands, helpful --help, argparse errors, the installed script."""

from __future__ import annotations

import argparse
import dataclasses
import gzip
import importlib
import json
import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import DATA, ROOT, run_cli
import genolm
from genolm.cli import COMMANDS, build_parser, main

LAMBDA = DATA / "lambda.fasta.gz"


def genolm_command() -> list[str]:
    """The installed ``genolm`` script of this venv, else ``python -m genolm``."""
    beside = Path(sys.executable).parent / "genolm"
    for candidate in (beside, ROOT / ".venv" / "bin" / "genolm"):
        if candidate.is_file():
            return [str(candidate)]
    found = shutil.which("genolm")
    return [found] if found else [sys.executable, "-m", "genolm"]


def exit_code(argv, capsys) -> tuple[int, str, str]:
    """Run argv expecting argparse to exit (help, version, usage errors)."""
    with pytest.raises(SystemExit) as exc:
        main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return exc.value.code, out, err


def test_commands_table_points_at_command_modules():
    assert COMMANDS, "the CLI has commands"
    for name, help_line in COMMANDS.items():
        module = importlib.import_module(f"genolm.commands.{name}")
        for attr in ("add_arguments", "setup"):
            assert hasattr(module, attr), f"genolm.commands.{name} lacks {attr}"
        assert help_line.strip() and "\n" not in help_line and len(help_line) <= 100, f"{name}: one short line"
        assert module.__doc__ and "Example" in module.__doc__
    assert sorted(COMMANDS) == sorted(p.stem for p in (ROOT / "genolm" / "commands").glob("*.py")
                                      if p.stem not in ("__init__", "options"))


def test_top_level_help_lists_every_command_with_its_line(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")  # no wrapping: each command and its help on one line
    code, out, _ = exit_code(["--help"], capsys)
    assert code == 0
    for name, help_line in COMMANDS.items():
        assert re.search(rf"^\s+{re.escape(name)}\s+{re.escape(help_line)}$", out, re.M), name
    assert "genolm COMMAND --help" in out


def test_top_level_help_is_quick_because_it_imports_no_command():
    # genolm --help once imported all 18 command modules and torch: 2.5 s before any text.
    code = ("import sys, genolm.cli as c\n"
            "try:\n    c.main(['--help'])\nexcept SystemExit:\n    pass\n"
            "print(sorted(m for m in sys.modules if m.startswith('genolm.commands') or m in ('torch', 'numpy')))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert r.returncode == 0 and r.stdout.strip().splitlines()[-1] == "[]", r.stdout[-500:] + r.stderr[-500:]


@pytest.mark.parametrize("command", list(COMMANDS))
def test_command_help_has_an_example(capsys, command):
    code, out, _ = exit_code([command, "--help"], capsys)
    assert code == 0
    assert "Example" in out
    assert f"genolm {command}" in out.split("Example", 1)[1], "the example runs the command itself"


def test_version(capsys):
    code, out, _ = exit_code(["--version"], capsys)
    assert code == 0 and out.strip() == f"genolm {genolm.__version__}"


def test_python_m_genolm_version():
    r = subprocess.run([sys.executable, "-m", "genolm", "--version"], capture_output=True, text=True,
                       timeout=60, cwd=ROOT)
    assert r.returncode == 0 and r.stdout.strip() == f"genolm {genolm.__version__}"


@pytest.mark.parametrize("argv, message", [
    (["translate", LAMBDA, "--no-such-flag"], "unrecognized arguments: --no-such-flag"),
    (["prepare", LAMBDA], "the following arguments are required: --out"),
    (["frobnicate"], "invalid choice"),
    ([], "the following arguments are required: COMMAND"),
    (["translate", LAMBDA, "--table", "eleven"], "invalid int value"),
    (["orfs", LAMBDA, "--method", "guess"], "invalid choice"),
])
def test_usage_errors_exit_2(capsys, argv, message):
    code, out, err = exit_code(argv, capsys)
    assert code == 2 and out == ""
    assert message in err and err.startswith("usage: genolm")


@pytest.mark.parametrize("argv, flag", [
    (["translate", LAMBDA, "--frame", "4"], "--frame"),
    (["translate", LAMBDA, "--table", "99"], "--table 99"),
    (["orfs", LAMBDA, "--min-aa", "0"], "--min-aa"),
    (["prepare", LAMBDA, "--out", "never", "--window", "1"], "--window"),
    (["prepare", LAMBDA, "--out", "never", "--val-fraction", "1.5"], "--val-fraction"),
    (["score", LAMBDA, "--model", "never", "--out", "never", "--suffix", "-1"], "--suffix"),
    (["evolve", "--data", LAMBDA, "--until", "2004", "--predict", "2003", "--out", "never"], "--predict"),
    (["evolve", "--data", LAMBDA, "--backtest", "2004-2001", "--out", "never"], "--backtest"),
    (["evolve", "--data", LAMBDA, "--until", "2004", "--half-life", "-1", "--out", "never"], "--half-life"),
    (["generate", "--model", "never", "--length", "0", "--out", "never"], "--length"),
    (["viability", LAMBDA, "--reference", LAMBDA, "--folds", "1", "--out", "never"], "--folds"),
    (["viability", LAMBDA, "--reference", LAMBDA, "--disc-k", "12", "--out", "never"], "--disc-k"),
])
def test_bad_option_values_exit_2_naming_the_flag(capsys, tmp_path, argv, flag):
    argv = [tmp_path / "never" if a == "never" else a for a in argv]
    code, out, err = run_cli(argv, capsys)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith(f"genolm {argv[0]}: error: ")
    assert flag in err
    assert list(tmp_path.iterdir()) == []


def test_missing_input_exits_2(capsys, tmp_path):
    code, out, err = run_cli(["translate", tmp_path / "nope.fa"], capsys)
    assert code == 2 and out == "" and "no such file" in err and "nope.fa" in err


def test_installed_script_translates_to_stdout():
    r = subprocess.run(genolm_command() + ["translate", str(LAMBDA)], capture_output=True, text=True,
                       timeout=120, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""
    header, *lines = r.stdout.splitlines()
    assert header == ">gi|9626243|ref|NC_001416.1| frame=+1 table=11"
    protein = "".join(lines)
    genome = "".join(gzip.open(LAMBDA, "rt").read().splitlines()[1:])
    assert len(protein) == len(genome) // 3
    assert protein.startswith("GRRPRGFSLFMKIFRFKAFPFFFVIT*")
    assert all(len(line) <= 60 for line in lines)


def test_installed_script_into_a_closed_pipe_is_quiet():
    """`genolm translate big.fa | head` must end quietly with 0, not a BrokenPipe traceback."""
    p = subprocess.Popen(genolm_command() + ["translate", str(DATA / "H.Pylori__G27.fasta.gz"),
                                             "--frame", "all"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT)
    assert p.stdout.read(100).startswith(b">")
    p.stdout.close()
    err = p.stderr.read()
    assert p.wait(timeout=120) == 0
    assert err == b""


def test_installed_script_error_is_one_line(tmp_path):
    bad = tmp_path / "bad.fa"
    bad.write_text(">a\nACGT\n>b\nACJT\n")
    r = subprocess.run(genolm_command() + ["translate", str(bad)], capture_output=True, text=True,
                       timeout=60, cwd=ROOT)
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1
    assert r.stderr.startswith(f"genolm translate: error: {bad}:4: record 'b': ")
    # stdout is streamed: the good record before the error may already be out, never the bad one
    assert ">b" not in r.stdout


def test_a_torchrun_worker_leaves_without_the_interpreters_shutdown(tmp_path, capsys, monkeypatch):
    """As a torchrun worker (WORLD_SIZE > 1) the program ends with os._exit once its work is done
    and its output flushed: a Gloo process group freed during interpreter shutdown can abort a
    rank after a successful run.  Called in-process (argv given), main just returns."""
    left = []

    def fake_exit(code):
        left.append(code)
        raise SystemExit(code)

    monkeypatch.setattr(os, "_exit", fake_exit)
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setattr(sys, "argv", ["genolm", "translate", str(LAMBDA), "--out", str(tmp_path / "t.faa")])
    with pytest.raises(SystemExit):
        main()
    assert left == [0] and (tmp_path / "t.faa").stat().st_size > 0
    monkeypatch.setattr(sys, "argv", ["genolm", "translate", str(tmp_path / "nope.fa")])
    with pytest.raises(SystemExit):
        main()
    assert left == [0, 2]
    assert main(["translate", str(LAMBDA), "--out", str(tmp_path / "u.faa")]) == 0 and left == [0, 2]
    monkeypatch.setenv("WORLD_SIZE", "1")
    monkeypatch.setattr(sys, "argv", ["genolm", "translate", str(LAMBDA), "--out", str(tmp_path / "v.faa")])
    assert main() == 0 and left == [0, 2]

def test_parser_builds_every_command():
    parser = build_parser()
    minimal = {"prepare": ["x.fa", "--out", "o"], "pretrain": ["--data", "c", "--out", "o"],
               "export": ["run", "--to", "hf", "out"], "evaluate": ["run", "--data", "c"],
               "embed": ["x.fa", "--model", "run", "--out", "e.parquet"],
               "finetune": ["--model", "cnn", "--train", "t", "--val", "v", "--test", "x", "--out", "o"],
               "bench": ["gue", "--model", "cnn", "--data", "d", "--out", "o"],
               "simulate": ["g.fa", "--out", "o"], "bin": ["r.fq", "--out", "o"],
               "classify": ["r.fq", "--references", "g.fa", "--out", "c.tsv"],
               "env": ["fit", "--samples", "s.tsv", "--target", "temperature_c", "--out", "o"],
               "score": ["x.fa", "--model", "run", "--out", "o.parquet"],
               "evolve": ["--data", "x.fa", "--until", "2004", "--out", "o"],
               "generate": ["--model", "run", "--length", "100", "--out", "g.fa"],
               "viability": ["g.fa", "--reference", "r.fa", "--out", "o"],
               "design": ["--model", "run", "--length", "100", "--out", "o"],
               "report": ["run", "--out", "r.html"]}
    for name in COMMANDS:
        args = parser.parse_args([name] + minimal.get(name, ["x.fa"]))
        assert args.command == name and callable(args._setup)


def _parsers(parser: argparse.ArgumentParser, name: str, args) -> list:
    """(label, parser, dataclass) of a command, or of each of its subcommands (env fit, ...)."""
    if not isinstance(args, dict):
        return [(name, parser, args)]
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    assert set(sub.choices) == set(args), f"{name}: every subcommand has its dataclass"
    return [(f"{name} {k}", sub.choices[k], args[k]) for k in args]


NOT_OPTIONS = {"help", "report", "config"}  # argparse's own, genolm report's page, pretrain's recipe file


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_each_command_is_one_dataclass_with_the_parsers_names_and_defaults(name):
    """A Python user building ``ARGS(...)`` gets what the command line gets: every option is a
    field of the command's dataclass, and its default is the field's default (pretrain's flags
    default to None so that a --config recipe can set them; there the field holds the default)."""
    module = importlib.import_module(f"genolm.commands.{name}")
    parser = build_parser([name])
    command = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices[name]
    for label, p, cls in _parsers(command, name, module.ARGS):
        assert dataclasses.is_dataclass(cls), label
        fields = {f.name: f for f in dataclasses.fields(cls)}
        for action in p._actions:
            if action.dest in NOT_OPTIONS or isinstance(action, argparse._SubParsersAction) \
                    or action.dest == argparse.SUPPRESS or action.dest.endswith("_command"):
                continue
            assert action.dest in fields, f"{label}: option {action.dest!r} is not a field of {cls.__name__}"
            f = fields[action.dest]
            if action.required or (action.nargs in ("+",) and not action.option_strings):
                continue  # no default on either side
            if f.default is not dataclasses.MISSING:
                default = f.default
            elif f.default_factory is not dataclasses.MISSING:
                default = f.default_factory()
            else:
                continue  # a required field behind an optional flag: checked by the dataclass itself
            if name == "pretrain" and action.default is None:
                continue
            if action.default is None and default in ([], None):
                continue
            assert action.default == default, f"{label} {action.option_strings or action.dest}: parser " \
                                              f"{action.default!r} vs {cls.__name__} {default!r}"


# ----------------------------------------------------------------------------- where outputs go


def umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_outputs_respect_the_umask(tmp_path, capsys):
    assert run_cli(["translate", LAMBDA, "--out", tmp_path / "t.faa"], capsys)[0] == 0
    assert run_cli(["orfs", LAMBDA, "--out", tmp_path / "o.tsv", "--proteins", tmp_path / "p.faa"],
                   capsys)[0] == 0
    assert run_cli(["prepare", LAMBDA, "--out", tmp_path / "c", "--window", "64", "--no-progress"],
                   capsys)[0] == 0
    assert run_cli(["pretrain", "--data", tmp_path / "c", "--out", tmp_path / "run", "--model", "debug", "--steps", "2",
                    "--batch-size", "2", "--eval-batches", "1", "--device", "cpu"], capsys)[0] == 0
    for name in ("t.faa", "o.tsv", "p.faa"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o666 & ~umask(), name
    assert stat.S_IMODE((tmp_path / "c").stat().st_mode) == 0o777 & ~umask()
    # every file of a folder written at once (a checkpoint: safetensors writes private files)
    for path in [*(tmp_path / "c").rglob("*"), *(tmp_path / "run").rglob("*")]:
        assert stat.S_IMODE(path.stat().st_mode) == (0o777 if path.is_dir() else 0o666) & ~umask(), path


def test_prepare_output_holds_no_leftovers(tmp_path, capsys):
    out = tmp_path / "corpus"
    assert run_cli(["prepare", LAMBDA, "--out", out, "--window", "64", "--no-progress"], capsys)[0] == 0
    assert [p.name for p in tmp_path.iterdir()] == ["corpus"]
    assert [p for p in os.listdir(out) if p.startswith(".")] == []


def test_prepare_does_not_delete_a_directory_it_did_not_write(tmp_path, capsys):
    out = tmp_path / "project"
    out.mkdir()
    (out / "thesis.tex").write_text("years of work")
    code, _, err = run_cli(["prepare", LAMBDA, "--out", out, "--window", "64", "--no-progress"], capsys)
    assert (out / "thesis.tex").read_text() == "years of work"
    assert code == 2 and err.startswith("genolm prepare: error: ")


def test_prepare_replaces_its_own_previous_output(tmp_path, capsys):
    out = tmp_path / "corpus"
    argv = ["prepare", LAMBDA, "--out", out, "--no-progress", "--window"]
    assert run_cli(argv + ["64"], capsys)[0] == 0
    first = json.loads((out / "manifest.json").read_text())
    assert run_cli(argv + ["32"], capsys)[0] == 0
    assert json.loads((out / "manifest.json").read_text())["window"] == 32 != first["window"]
    assert [p.name for p in tmp_path.iterdir()] == ["corpus"]


def test_prepare_does_not_replace_a_file(tmp_path, capsys):
    target = tmp_path / "notes.txt"
    target.write_text("precious")
    code, _, err = run_cli(["prepare", LAMBDA, "--out", target, "--window", "64", "--no-progress"], capsys)
    assert target.is_file() and target.read_text() == "precious"
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]
    assert code == 2 and err.startswith("genolm prepare: error: ")


@pytest.mark.parametrize("argv", [
    ["translate", LAMBDA, "--out", "{file}/x.faa"],
    ["orfs", LAMBDA, "--out", "{file}/x.tsv"],
    ["prepare", LAMBDA, "--out", "{file}/corpus", "--no-progress"],
    ["translate", LAMBDA, "--out", "{dir}"],
], ids=["translate-parent-is-file", "orfs-parent-is-file", "prepare-parent-is-file", "translate-onto-dir"])
def test_unwritable_output_is_a_one_line_error(tmp_path, capsys, argv):
    (tmp_path / "afile").write_text("x")
    (tmp_path / "adir").mkdir()
    argv = [str(a).format(file=tmp_path / "afile", dir=tmp_path / "adir") for a in argv]
    code, out, err = run_cli(argv, capsys)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith(f"genolm {argv[0]}: error: ")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["adir", "afile"]


def leaf_commands(parser=None, path=()):
    """(command words, subparser) of every command that runs something, 'env fit' included."""
    import argparse

    parser = parser or build_parser()
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        yield path, parser
        return
    for name, sub in subs[0].choices.items():
        yield from leaf_commands(sub, path + (name,))


def minimal_argv(parser) -> list[str]:
    """Values for a parser's required arguments that pass argparse (not the command's own checks)."""
    argv = []
    chosen = {g._group_actions[0] for g in parser._mutually_exclusive_groups if g.required}  # one of them
    for a in parser._actions:
        needed = a.required or a in chosen or (not a.option_strings and a.nargs not in ("?", "*"))
        if not needed or a.dest == "help":
            continue
        value = str(a.choices[0]) if a.choices else "1" if a.type in (int, float) else "x"
        argv += ([a.option_strings[0]] if a.option_strings else []) + [value]
    return argv


DEVICE_COMMANDS = [(words, p) for words, p in leaf_commands()
                   if any("--device" in a.option_strings for a in p._actions)]


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="this machine has a GPU")
@pytest.mark.parametrize("words,parser", DEVICE_COMMANDS, ids=[" ".join(w) for w, _ in DEVICE_COMMANDS])
def test_every_commands_device_cuda_without_a_gpu_is_one_line(words, parser, capsys, tmp_path, monkeypatch):
    # Checked before any work (no input is read: these are placeholder inputs), one line, exit 2.
    monkeypatch.chdir(tmp_path)
    for device, message in (("cuda", "no GPU is visible"), ("cuda:1", "no GPU is visible"),
                            ("gpu", "unknown --device")):
        code, out, err = run_cli([*words, *minimal_argv(parser), "--device", device], capsys)
        assert code == 2 and err.count("\n") == 1 and message in err, (device, err)
        assert err.startswith(f"genolm {words[0]}: error:") and "Traceback" not in err
    assert not any(tmp_path.iterdir())  # nothing written


def test_device_commands_are_all_found():
    names = {" ".join(w) for w, _ in DEVICE_COMMANDS}
    assert {"pretrain", "evaluate", "embed", "finetune", "viability", "env fit", "score", "generate"} <= names


@pytest.mark.parametrize("words,parser", list(leaf_commands()), ids=lambda x: " ".join(x) if isinstance(x, tuple) else "")
def test_every_option_is_explained_in_plain_text(words, parser):
    for action in parser._actions:
        text = (action.help or "").strip()
        assert text and not text.startswith("(default"), f"genolm {' '.join(words)} {action.option_strings}: no help"
    assert "``" not in parser.format_help(), "reST quotes shown raw in --help"


def test_what_a_newcomer_reads_on_success_and_on_common_mistakes(tmp_path, capsys):
    # translate and orfs say what they wrote; counts agree with their nouns ("1 record")
    code, out, _ = run_cli(["translate", LAMBDA, "--frame", "all", "--out", tmp_path / "six.faa"], capsys)
    assert code == 0 and out == f"{tmp_path / 'six.faa'}: 6 protein sequences from 1 record (frame all, table 11)\n"
    code, out, _ = run_cli(["orfs", LAMBDA, "--out", tmp_path / "orfs.tsv"], capsys)
    n = len((tmp_path / "orfs.tsv").read_text().splitlines()) - 1
    assert code == 0 and out == f"{tmp_path / 'orfs.tsv'}: {n} ORFs in 1 record (simple)\n"
    code, out, _ = run_cli(["prepare", LAMBDA, "--out", tmp_path / "c", "--window", "64", "--no-progress"], capsys)
    assert code == 0 and ": 1 record, 48,502 bases" in out
    # a FASTA given where a prepared corpus belongs, a model folder that does not exist
    code, _, err = run_cli(["pretrain", "--data", LAMBDA, "--out", tmp_path / "r", "--device", "cpu"], capsys)
    assert code == 2 and "a file, not a corpus directory" in err and "genolm prepare" in err
    code, _, err = run_cli(["score", LAMBDA, "--model", tmp_path / "nosuchdir", "--out", tmp_path / "s.parquet"], capsys)
    assert code == 2 and "no such run directory" in err
