"""One HTML page from what genolm commands wrote: a section per output, with a plain-language
summary sentence, its plots (interactive where zooming or hovering helps) and its key tables.

PATH is an output folder or file of ``genolm pretrain``, ``finetune``, ``bench``, ``bin``,
``evolve``, ``viability``, ``env``, ``embed``, ``score``, ``classify``, ``evaluate`` or
``generate`` (its FASTA, known by the headers it writes), or a folder holding several of them.  The page is one self-contained file: Plotly's JavaScript and the
pictures are inlined, so it opens anywhere without a network.  ``--plotly-js FILE`` links a local
copy of plotly.min.js instead (for a folder of many small pages).

Example:
  genolm report run finetuned bins --out report.html
  genolm report viability/ --out viability.html --title "Generated genomes, 2026-12-01"
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

from genolm.errors import GenolmError


@dataclass
class ReportArgs:
    """Options of ``genolm report``."""

    paths: list[str]
    out: str
    title: str = "genolm report"
    plotly_js: str = "inline"  # or the address of a plotly.min.js to link (as the page will see it)

    def __post_init__(self) -> None:
        if not self.paths:
            raise GenolmError("no output to report on", hint="give genolm output folders or files")


ARGS = ReportArgs


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("paths", nargs="+", metavar="PATH", help="genolm output folders or files")
    p.add_argument("--out", required=True, help="the HTML file to write")
    p.add_argument("--title", default="genolm report", help="the page's title")
    p.add_argument("--plotly-js", default="inline", metavar="inline|FILE",
                   help="inline Plotly's JavaScript (default), or link this local file")


def setup(args: argparse.Namespace) -> int:
    from genolm.io.progress import plural
    from genolm.report import write_report

    args = ReportArgs(paths=args.paths, out=args.out, title=args.title, plotly_js=args.plotly_js)
    secs = write_report(args.paths, args.out, args.title, args.plotly_js)
    print(f"{args.out}: {plural(len(secs), 'section')} (" + ", ".join(s.kind for s in secs) + ")")
    return 0
