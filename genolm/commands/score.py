"""Score every substitution of a sequence under a language model: ``genolm score``.

For each input sequence, every single-nucleotide substitution (``--level nt``) or every
amino-acid substitution of every codon in frame (``--level aa``), with its score:

* ``llr`` (causal models): log P(mutant) − log P(reference), in nats.  One reference pass keeps
  every layer's keys and values; a substitution at position v then runs only the changed tokens
  and what follows them, attending to the cached reference prefix (whose states a change at v
  cannot alter).  Exact for sequences that fit the model's length; ``--suffix N`` scores only the
  changed tokens and N after them (the effect of a change fades downstream), much faster.  Longer ones (a 30 kb genome)
  are cut into overlapping reference windows. A substitution is scored in the window that gives it
  at least ``--context`` tokens before it; ref and mutant then share exactly that context.
* ``masked-marginal`` (masked models): log p(alt) − log p(ref) at the position, masked, in a
  window around it; one masked pass per position serves its three substitutions (and a codon's
  63 with ``--level aa``, the product of its three positions' marginals).

An amino-acid substitution's score is the log-sum-exp over every codon that encodes the new amino
acid (a likelihood ratio marginal over the codons), with the fewest nucleotide changes any of
them needs.  ``--strand both`` averages a score with that of the same change on the reverse
complement.  ``--naive`` runs one full forward pass per substitution instead (the reference the
fast path is tested against, and the baseline of benchmarks/evolution/score_speed.py).

Output: Parquet, one row per substitution. ``--level nt``: seq_id, position (1-based), ref, alt,
score.  ``--level aa``: seq_id, codon (1-based), position (of the codon's first base), ref_codon,
ref_aa, alt_aa, score, best_codon, nt_changes.

Example:
  genolm score ha1.fasta --model run --out ha1_nt.parquet
  genolm score ha1.fasta --model run --level aa --table 1 --out ha1_aa.parquet
"""

from __future__ import annotations

import argparse

from genolm.commands.options import add_device, add_no_progress
from genolm.evolution.scoring import LEVELS, METHODS, STRANDS, ScoreArgs, run
from genolm.io.progress import plural

ARGS = ScoreArgs  # the options as one dataclass (tests/test_cli.py: the same names and defaults as the parser)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="FASTA/FASTQ")
    p.add_argument("--model", required=True, help="genolm run (char tokenizer)")
    p.add_argument("--out", required=True, help="output Parquet file")
    p.add_argument("--level", choices=LEVELS, default="nt",
                   help="nt: every single-nucleotide substitution; aa: every amino acid of every codon (in --frame)")
    p.add_argument("--method", choices=METHODS, default="auto",
                   help="auto: llr for a causal model, masked-marginal for a masked one")
    p.add_argument("--frame", type=int, default=0, choices=(0, 1, 2), help="reading frame of --level aa (default: 0)")
    p.add_argument("--table", type=int, default=1, help="NCBI genetic code of --level aa (default: 1)")
    p.add_argument("--strand", choices=STRANDS, default="forward",
                   help="both: average with the same change scored on the reverse complement")
    p.add_argument("--context", type=int, default=None,
                   help="tokens of context before a substitution in long sequences (default: half the model's length)")
    p.add_argument("--suffix", type=int, default=0,
                   help="llr: score only the changed tokens and N after them (default 0: to the window's end, exact)")
    p.add_argument("--batch-size", type=int, default=64, help="variant sequences per forward pass")
    p.add_argument("--naive", action="store_true", help="one full forward pass per substitution (slow; a reference)")
    add_device(p)
    p.add_argument("--fp32", action="store_true",
                   help="on a GPU, compute in fp32 instead of bf16 (slower; bf16 scores drift by up to ~1 nat)")
    add_no_progress(p)


def setup(args: argparse.Namespace) -> int:
    r = run(ScoreArgs.from_namespace(args))
    print(f"{args.out}: {r['rows']:,} substitutions of {plural(r['sequences'], 'sequence')}, {r['method']} "
          f"({r['strand']} strand{'s' if r['strand'] == 'both' else ''}), {r['seconds']:.1f} s "
          f"({r['rows'] / max(r['seconds'], 1e-9):,.0f} per second)")
    return 0
