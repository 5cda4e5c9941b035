"""The ``genolm`` command line: one table of commands, each a task module.

A task module has a docstring (its ``--help`` text, with an example), ``HELP`` (one line for
``genolm --help``), ``add_arguments(parser)`` and ``setup(args)``.  Bad input anywhere raises
:class:`~genolm.errors.GenolmError`; it is caught here, printed as one line, and the exit code is 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import warnings

from genolm import __version__
from genolm.errors import GenolmError
from genolm.report import add_report_argument

# command -> task module; the one table of what genolm can do.
COMMANDS: dict[str, str] = {
    "prepare": "genolm.commands.prepare",
    "translate": "genolm.commands.translate",
    "orfs": "genolm.commands.orfs",
    "pretrain": "genolm.commands.pretrain",
    "evaluate": "genolm.commands.evaluate",
    "export": "genolm.commands.export",
    "embed": "genolm.commands.embed",
    "finetune": "genolm.commands.finetune",
    "bench": "genolm.commands.bench",
    "simulate": "genolm.commands.simulate",
    "bin": "genolm.commands.bin",
    "classify": "genolm.commands.classify",
    "env": "genolm.commands.env",
    "score": "genolm.commands.score",
    "evolve": "genolm.commands.evolve",
    "generate": "genolm.commands.generate",
    "viability": "genolm.commands.viability",
    "report": "genolm.commands.report",
}


# commands whose --out genolm report can draw: they take --report HTML (env: its fit and condition)
REPORTABLE = {"pretrain", "finetune", "bench", "embed", "bin", "score", "evolve", "viability", "generate"}


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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="genolm",
        description="Train and use language models on DNA, mRNA, protein and metagenomes.",
        epilog="Run 'genolm COMMAND --help' for a command's options and an example.",
    )
    parser.add_argument("--version", action="version", version=f"genolm {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, module_name in COMMANDS.items():
        module = importlib.import_module(module_name)
        p = sub.add_parser(name, help=module.HELP, description=plain(module.__doc__),
                           formatter_class=_Formatter)
        module.add_arguments(p)
        if name in REPORTABLE:
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
    parser = build_parser()
    args = parser.parse_args(argv)
    # Library warnings (e.g. Prodigal on a short genome) as one line each, like errors.
    plain = warnings.formatwarning
    warnings.formatwarning = lambda message, *_a, **_k: f"genolm {args.command}: warning: {message}\n"
    try:
        return _run(args)
    finally:
        warnings.formatwarning = plain


def _run(args: argparse.Namespace) -> int:
    try:
        if getattr(args, "device", None) is not None:  # every command's --device, before any work
            from genolm.train.distributed import resolve_device

            resolve_device(args.device)
        code = args._setup(args)
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
