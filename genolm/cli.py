"""The ``genolm`` command line: one table of commands, each a module in ``genolm/commands``.

The table holds each command's one-line help, so ``genolm --help`` imports no command (and no
torch); ``genolm CMD …`` imports only CMD's module.  A command module has a docstring (its
``--help`` text, with an example), ``add_arguments(parser)`` and ``setup(args)``.  Bad input
anywhere raises :class:`~genolm.errors.GenolmError`; it is caught here, printed as one line, and
the exit code is 2.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import warnings

from genolm import __version__
from genolm.errors import GenolmError

# command -> its line in genolm --help; the one table of what genolm can do (genolm/commands/NAME.py).
COMMANDS: dict[str, str] = {
    "prepare": "turn FASTA/FASTQ files into tokenized, windowed training shards",
    "translate": "translate DNA/RNA to protein in any frame and genetic code, or transcribe it to mRNA",
    "orfs": "find ORFs or call genes (Prodigal); write a TSV table and protein FASTA",
    "pretrain": "pretrain a transformer (causal or masked), LSTM or CNN on a prepared corpus",
    "evaluate": "held-out bits per base of trained runs and a Markov baseline on one corpus",
    "export": "export a causal model as a Hugging Face LlamaForCausalLM directory",
    "embed": "embed sequences with a genolm run or a Hugging Face model (Parquet, one row per sequence)",
    "finetune": "fine-tune (or train from scratch) a classifier / regressor on labelled sequences",
    "bench": "fine-tune a model on every task of a benchmark suite (GUE) and compare with published numbers",
    "simulate": "simulate Illumina reads of a mock community (InSilicoSeq error models) with a truth table",
    "bin": "bin a metagenome: cluster reads or contigs by organism (embeddings and/or composition)",
    "classify": "assign reads to reference genomes or taxa (nearest embeddings or exact k-mers), or unassigned",
    "env": "ocean samples: predict conditions from sequences; condition a model on them; explain by condition",
    "score": "score every nucleotide or amino-acid substitution of sequences under a model",
    "evolve": "forecast next season's virus (strain and mutations) from earlier seasons, and score it",
    "generate": "sample new sequences from a causal model (batched, KV cache, CUDA graphs, seeded)",
    "viability": "judge generated sequences against real genomes (composition, genes, novelty, discriminator)",
    "design": "design whole genomes: generate many, filter them (genes, order, novelty), rank and cluster",
    "report": "one self-contained HTML page (plots, tables, a summary sentence) from genolm outputs",
}


# commands whose --out genolm report can draw: they take --report HTML (env: its fit and condition)
REPORTABLE = {"pretrain", "finetune", "bench", "embed", "bin", "score", "evolve", "viability", "generate", "design"}


class _Formatter(argparse.RawDescriptionHelpFormatter):
    """Keeps the docstring's layout (examples!) and shows real defaults, not None/False."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if ("default" not in text and default is not None and default is not False
                and default is not argparse.SUPPRESS
                and action.option_strings and action.nargs != 0):
            text += " (default: %(default)s)"
        return text


def plain(text: str | None) -> str | None:
    """A docstring as ``--help`` shows it: reST's ``literal`` quotes (for the API docs) dropped.

    >>> plain("continue with ``--resume``")
    'continue with --resume'
    """
    return text.replace("``", "") if text else text


def build_parser(commands=None) -> argparse.ArgumentParser:
    """The parser of every command, with the arguments of ``commands`` (default: all of them;
    the others are listed with their help line only, and their modules are not imported)."""
    parser = argparse.ArgumentParser(
        prog="genolm",
        description="Train and use language models on DNA, mRNA, protein and metagenomes.",
        epilog="Run 'genolm COMMAND --help' for a command's options and an example.",
    )
    parser.add_argument("--version", action="version", version=f"genolm {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, help_line in COMMANDS.items():
        if commands is not None and name not in commands:
            sub.add_parser(name, help=help_line)
            continue
        module = importlib.import_module(f"genolm.commands.{name}")
        p = sub.add_parser(name, help=help_line, description=plain(module.__doc__), formatter_class=_Formatter)
        module.add_arguments(p)
        if name in REPORTABLE:
            from genolm.report import add_report_argument

            add_report_argument(p)
        p.set_defaults(_setup=module.setup)
        _same_help_everywhere(p)
    return parser


def _same_help_everywhere(parser: argparse.ArgumentParser) -> None:
    """A command's own subcommands (``env fit``) read like the others: plain text, real defaults."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                sub.description, sub.formatter_class = plain(sub.description), _Formatter
                _same_help_everywhere(sub)
        elif action.help:
            action.help = plain(action.help)


def main(argv: list[str] | None = None) -> int:
    program = argv is None  # run as the program (genolm, python -m genolm, a torchrun worker), not in-process
    argv = sys.argv[1:] if argv is None else [str(a) for a in argv]
    chosen = next((a for a in argv if not a.startswith("-")), None)  # the command word, if any
    parser = build_parser({chosen} if chosen in COMMANDS else set())
    args = parser.parse_args(argv)
    # Library warnings (e.g. Prodigal on a short genome) as one line each, like errors.
    plain = warnings.formatwarning
    warnings.formatwarning = lambda message, *_a, **_k: f"genolm {args.command}: warning: {message}\n"
    try:
        code = _run(args)
    finally:
        warnings.formatwarning = plain
    if program and int(os.environ.get("WORLD_SIZE", "1")) > 1:
        _leave_worker(code)
    return code


def _leave_worker(code: int) -> None:
    """End a torchrun worker whose work is done (outputs written and closed, process group
    destroyed) without the interpreter's shutdown: there, objects that still hold a Gloo process
    group free it while its threads wait, and now and then the rank aborts (SIGABRT, "terminate
    called without an active exception") after a run that succeeded."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _stamp(args: argparse.Namespace) -> None:
    """genolm.json in the folder a command wrote (rank 0 of a torchrun job): what made it."""
    import os
    from pathlib import Path

    from genolm.io.stamp import write_stamp

    out = getattr(args, "out", None)
    if out and Path(out).is_dir() and os.environ.get("RANK", "0") == "0":
        words = [args.command] + [v for k, v in vars(args).items() if k.endswith("_command")]
        write_stamp(out, " ".join(words), {k: v for k, v in vars(args).items()
                                           if not k.startswith("_") and k != "command" and not k.endswith("_command")})


def _run(args: argparse.Namespace) -> int:
    try:
        if getattr(args, "device", None) is not None:  # every command's --device, before any work
            from genolm.train.distributed import resolve_device

            resolve_device(args.device)
        code = args._setup(args)
        if not code:
            _stamp(args)
        if not code and getattr(args, "report", None):
            from genolm.report import write_report

            write_report([args.out], args.report, title=f"genolm {args.command}: {args.out}")
            print(f"report: {args.report}")
    except GenolmError as err:
        print(f"genolm {args.command}: error: {err}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # e.g. `genolm translate x.fa | head`
        return 0
    except OSError as err:  # disk full, permission denied, …: still one line, not a traceback
        where = f"{err.filename}: " if err.filename else ""
        print(f"genolm {args.command}: error: {where}{err.strerror or err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"genolm {args.command}: interrupted", file=sys.stderr)
        return 130
    return int(code or 0)


if __name__ == "__main__":
    sys.exit(main())
