"""Every substitution of a sequence scored under a language model: the log-likelihood ratio of
the mutant (causal models, with the reference's keys and values cached) or the masked marginal
(masked models), per nucleotide or per amino acid of every codon in frame.  The command is
``genolm score`` (its --help says how each score is computed); ``genolm evolve`` ranks a season's
candidate mutations with the same scorer."""

from __future__ import annotations

import itertools
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from genolm.errors import GenolmError
from genolm.io.arguments import CommandArgs
from genolm.io.progress import progress
from genolm.train.distributed import autocast

LETTERS = "ACGT"
CODONS = ["".join(c) for c in itertools.product(LETTERS, repeat=3)]
LEVELS = ("nt", "aa")
METHODS = ("auto", "llr", "masked-marginal")
STRANDS = ("forward", "both")


@dataclass(kw_only=True)
class ScoreArgs(CommandArgs):
    """Options of ``genolm score`` (see its --help)."""

    inputs: list[str]
    model: str
    level: str = "nt"
    method: str = "auto"
    frame: int = 0
    table: int = 1
    strand: str = "forward"
    context: int | None = None  # default: half the model's length
    suffix: int = 0  # 0: to the window's end (exact)
    batch_size: int = 64
    naive: bool = False
    fp32: bool = False
    truth: str | None = None  # deep mutational scanning: preferences or effects (genolm.evolution.dms)
    truth_offset: int = 0  # codons before the truth's site 1
    truth_mapping: str | None = None  # site -> codon file (insertion codes)
    family: list[str] = field(default_factory=list)  # sequences of the family: the frequency-table baseline
    family_until: int | None = None  # only family sequences dated up to this year (header field 3)
    family_identity: float | None = None  # reweight near-duplicate family proteins (EVE); None: each counts once
    combination: str | None = None  # the combined column's weights (default: genolm.evolution's shipped file)
    fit_combination: str | None = None  # fit the combination to --truth and write it here
    fit_model: bool = False  # the fit also reads the model's scores (model, model_site)

    def check(self) -> None:
        if not self.out:
            self.fail("out", "an output Parquet file", self.out)
        if (self.truth or self.family) and self.level != "aa":
            self.fail("level", "aa (--truth and --family compare amino-acid changes)", self.level)
        if self.family_until is not None and not self.family:
            raise GenolmError("--family-until filters --family: give the family's sequences")
        for name in ("family_identity", "combination", "fit_combination"):
            if getattr(self, name) is not None and not self.family:
                raise GenolmError(f"--{name.replace('_', '-')} reads the family: give --family")
        if self.fit_combination and not self.truth:
            raise GenolmError("--fit-combination fits measured effects: give --truth")
        if self.fit_combination and self.combination:
            raise GenolmError("give --combination (weights to use) or --fit-combination (weights to fit), not both")
        if self.fit_model and not self.fit_combination:
            raise GenolmError("--fit-model goes with --fit-combination")
        if self.family_identity is not None and not 0 < self.family_identity <= 1:
            self.fail("family_identity", "an identity in (0, 1], e.g. 0.99", self.family_identity)
        for name, allowed in (("level", LEVELS), ("method", METHODS), ("strand", STRANDS)):
            if getattr(self, name) not in allowed:
                self.fail(name, " | ".join(allowed), getattr(self, name))
        if self.frame not in (0, 1, 2):
            self.fail("frame", "0, 1 or 2", self.frame)
        self.at_least("batch_size", 1)
        self.at_least("suffix", 0)
        self.at_least("context", 1, optional=True)


# ---- substitutions -----------------------------------------------------------------------------

def nt_substitutions(seq: str) -> list[tuple[int, str]]:
    """(position, alt) of every single-nucleotide substitution at the A/C/G/T positions."""
    return [(i, a) for i, r in enumerate(seq) if r in LETTERS for a in LETTERS if a != r]


def codon_substitutions(seq: str, frame: int) -> list[tuple[int, str]]:
    """(start, alt codon) of every other A/C/G/T codon at every complete codon in frame."""
    out = []
    for start in range(frame, len(seq) - 2, 3):
        ref = seq[start: start + 3]
        if all(c in LETTERS for c in ref):
            out.extend((start, c) for c in CODONS if c != ref)
    return out


# ---- the scorers ---------------------------------------------------------------------------------

class Scorer:
    """Scores of substitutions (start, alt string) of one sequence, by ``method``."""

    def __init__(self, model, tok, method: str, device: str, batch_size: int = 64, context: int | None = None,
                 progress=None, suffix: int = 0, bf16: bool = True) -> None:
        from genolm.tokenize import SEP

        if getattr(tok, "kind", None) != "char" or tok.alphabet.name not in ("dna", "rna"):
            raise GenolmError("genolm score needs a model with a one-letter DNA/RNA tokenizer", found=tok.spec)
        if method == "llr" and not model.config.causal:
            raise GenolmError("--method llr needs a causal model", hint="use --method masked-marginal")
        if method == "masked-marginal" and model.config.causal:
            raise GenolmError("--method masked-marginal needs a masked (MLM) model", hint="use --method llr")
        if model.config.family != "transformer" and method == "llr":
            raise GenolmError("the cached llr path needs a transformer", found=model.config.family,
                              hint="use --naive for other families")
        self.model, self.tok, self.method, self.device = model, tok, method, device
        self.batch_size, self.sep = batch_size, SEP
        self.window = model.config.max_len
        self.context = context if context is not None else self.window // 2
        if not 0 < self.context < self.window - 8:
            raise GenolmError("--context must leave room in the model's window", found=str(self.context),
                              expected=f"1 .. {self.window - 9}")
        self.letter = {c: tok.token_to_id(c) for c in LETTERS}
        self.progress = progress
        if suffix < 0:
            raise GenolmError("--suffix must be at least 0", found=str(suffix))
        self.suffix, self.bf16 = suffix, bf16

    def _ids(self, seq: str) -> np.ndarray:
        return np.r_[self.sep, np.asarray(self.tok.encode(seq), np.int64)]  # <sep> first: a record starts

    def _window_starts(self, n: int) -> list[int]:
        """Start of each reference window over ``n`` tokens (the <sep> included)."""
        if n <= self.window:
            return [0]
        step = (self.window - self.context) // 2
        return list(range(0, n - self.window + step, step))

    def _window_of(self, starts: list[int], v: int, m: int) -> int:
        """The window a substitution at token v (m tokens) is scored in: the last one that starts at
        least --context tokens before it (the first one for the start of the sequence) and holds it."""
        best = 0
        for k, s in enumerate(starts):
            if s + self.context <= v and v + m <= s + self.window:
                best = k
        return best

    # -- causal: log-likelihood ratio with a key/value cache
    def llr(self, seq: str, subs: list[tuple[int, str]]) -> np.ndarray:
        import torch
        import torch.nn.functional as F

        ids = self._ids(seq)
        starts = self._window_starts(len(ids))
        out = np.zeros(len(subs))
        by_window: dict[int, list[int]] = {}
        for j, (pos, alt) in enumerate(subs):
            by_window.setdefault(self._window_of(starts, pos + 1, len(alt)), []).append(j)
        backbone, head = self.model.backbone, self.model.lm_head
        for k, members in by_window.items():
            w0 = starts[k]
            ref = torch.as_tensor(ids[w0: w0 + self.window], device=self.device)[None]
            W = ref.shape[1]
            cache = backbone.new_cache(1, self._cache_dtype(), self.device, W)
            with self._autocast():
                hidden = backbone(ref, cache=cache)
                logp_ref = F.log_softmax(head(hidden).float(), -1)[0]  # (W, V): row t predicts token t+1
            tok_ref = logp_ref[:-1].gather(1, ref[0, 1:, None])[:, 0]  # log p(token t | before), t = 1..W-1
            suffix_ref = torch.cat([tok_ref.flip(0).cumsum(0).flip(0), tok_ref.new_zeros(1)])  # sum from t on
            members.sort(key=lambda j: subs[j][0])
            for lo in range(0, len(members), self.batch_size):
                part = members[lo: lo + self.batch_size]
                v = torch.as_tensor([subs[j][0] + 1 - w0 for j in part], device=self.device)  # window index
                m = len(subs[part[0]][1])
                alts = torch.as_tensor([[self.letter[c] for c in subs[j][1]] for j in part], device=self.device)
                first, last = int(v.min()), int(v.max())
                S = W - first  # rows run from their substitution to the window's end (padded) ...
                if self.suffix:  # ... or over the substitution and --suffix tokens after it
                    S = min(S, m + self.suffix)
                shift = torch.arange(S, device=self.device)[None]  # row j slot s holds window token v_j + s
                rows = ref[0].gather(0, (v[:, None] + shift).clamp(max=W - 1).reshape(-1)).view(len(part), S)
                rows[:, :m] = alts
                valid = (v[:, None] + shift) < W
                positions = (v[:, None] + shift).clamp(max=W - 1)
                past_valid = torch.arange(last, device=self.device)[None] < v[:, None]  # keys before each v
                with self._autocast():
                    h = backbone(rows, cache=cache.prefix(len(part), last, positions, past_valid))
                    lp = F.log_softmax(head(h).float(), -1)  # (B, S, V)
                nxt = lp[:, :-1].gather(2, rows[:, 1:, None])[..., 0] * valid[:, 1:]  # log p(row token s+1)
                alt_ll = logp_ref[v - 1].gather(1, alts[:, :1])[:, 0] + nxt.sum(1)
                ref_ll = suffix_ref[v - 1] - suffix_ref[(v - 1 + S).clamp(max=len(suffix_ref) - 1)]
                out[part] = (alt_ll - ref_ll).double().cpu().numpy()
                if self.progress:
                    self.progress(len(part))
        return out

    # -- masked: one masked pass per position
    def masked_marginal(self, seq: str, subs: list[tuple[int, str]]) -> np.ndarray:
        import torch
        import torch.nn.functional as F

        from genolm.tokenize import MASK

        ids = self._ids(seq)
        positions = sorted({p + 1 + o for p, alt in subs for o in range(len(alt))})
        logp: dict[int, np.ndarray] = {}
        half = self.window // 2
        for lo in range(0, len(positions), self.batch_size):
            part = positions[lo: lo + self.batch_size]
            w0 = [min(max(0, p - half), max(0, len(ids) - self.window)) for p in part]
            rows = torch.as_tensor(np.stack([ids[s: s + self.window] for s in w0]), device=self.device)
            at = torch.as_tensor([p - s for p, s in zip(part, w0)], device=self.device)
            rows[torch.arange(len(part)), at] = MASK
            with self._autocast():
                h = self.model.backbone(rows)
                lp = F.log_softmax(self.model.lm_head(h[torch.arange(len(part)), at]).float(), -1)
            for p, row in zip(part, lp.cpu().numpy()):
                logp[p] = row
            if self.progress:
                self.progress(len(part))
        out = np.zeros(len(subs))
        for j, (p, alt) in enumerate(subs):
            out[j] = sum(logp[p + 1 + o][self.letter[a]] - logp[p + 1 + o][ids[p + 1 + o]] for o, a in enumerate(alt))
        return out

    # -- the reference: one full forward pass per substitution
    def naive(self, seq: str, subs: list[tuple[int, str]]) -> np.ndarray:
        import torch
        import torch.nn.functional as F

        from genolm.tokenize import MASK

        ids = self._ids(seq)
        starts = self._window_starts(len(ids))
        out = np.zeros(len(subs))

        def total(row: np.ndarray, lo: int) -> float:  # log-likelihood of row tokens from lo on
            x = torch.as_tensor(row, device=self.device)[None]
            with self._autocast():
                lp = F.log_softmax(self.model(x).float(), -1)[0]
            return float(lp[lo - 1: -1].gather(1, x[0, lo:, None]).sum())

        for j, (pos, alt) in enumerate(subs):
            v = pos + 1
            if self.method == "llr":
                w0 = starts[self._window_of(starts, v, len(alt))]
                ref = ids[w0: w0 + self.window]
                mut = ref.copy()
                mut[v - w0: v - w0 + len(alt)] = [self.letter[c] for c in alt]
                end = len(ref) if not self.suffix else min(len(ref), v - w0 + len(alt) + self.suffix)
                out[j] = total(mut[:end], v - w0) - total(ref[:end], v - w0)
            else:
                s = 0.0
                for o, a in enumerate(alt):
                    p = v + o
                    w0 = min(max(0, p - self.window // 2), max(0, len(ids) - self.window))
                    row = ids[w0: w0 + self.window].copy()
                    row[p - w0] = MASK
                    with self._autocast():
                        lp = F.log_softmax(self.model(torch.as_tensor(row, device=self.device)[None]).float(), -1)
                    s += float(lp[0, p - w0, self.letter[a]] - lp[0, p - w0, ids[p]])
                out[j] = s
            if self.progress:
                self.progress(1)
        return out

    def score(self, seq: str, subs: list[tuple[int, str]], naive: bool = False) -> np.ndarray:
        import torch

        self.model.eval()
        with torch.no_grad():
            if naive:
                return self.naive(seq, subs)
            return self.llr(seq, subs) if self.method == "llr" else self.masked_marginal(seq, subs)

    def _cache_dtype(self):
        """What the keys are made in: bf16 under a GPU's autocast, else float32."""
        import torch

        return torch.bfloat16 if self.bf16 and str(self.device).startswith("cuda") else torch.float32

    def _autocast(self):
        return autocast(str(self.device), "auto" if self.bf16 else None)


def both_strands(scorer: Scorer, seq: str, subs: list[tuple[int, str]], naive: bool = False) -> np.ndarray:
    """The mean of a substitution's score and that of the same change on the reverse complement."""
    from genolm.bio.seq import reverse_complement

    fwd = scorer.score(seq, subs, naive)
    L = len(seq)
    rc_subs = [(L - p - len(a), reverse_complement(a)) for p, a in subs]
    return (fwd + scorer.score(reverse_complement(seq), rc_subs, naive)) / 2


# ---- the command ---------------------------------------------------------------------------------


def run(args: ScoreArgs) -> dict:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from genolm.bio.codon import genetic_code, translate
    from genolm.io.atomic import atomic_file
    from genolm.io.seqio import read_records
    from genolm.train.checkpoint import load_model
    from genolm.train.distributed import resolve_device

    t0 = time.perf_counter()
    device = resolve_device(args.device)
    model, tok, _ = load_model(args.model, device)
    method = args.method if args.method != "auto" else ("llr" if model.config.causal else "masked-marginal")
    records = []
    for path in args.inputs:
        if not Path(path).is_file():
            raise GenolmError("no such input file", file=path)
        records.extend(read_records(path, case="upper"))
    if not records:
        raise GenolmError("no sequences in the input", file=args.inputs[0])
    if args.level == "aa":
        genetic_code(args.table)  # checks the table number
    protein = truth = family = combination = None
    if args.truth or args.family:  # bad truth or family input fails before the scoring, not after
        if len(records) != 1:
            raise GenolmError("--truth and --family compare one scored sequence", found=f"{len(records)} sequences",
                              hint="give the scanned protein's coding sequence alone")
        seq = records[0].seq
        protein = translate(seq[args.frame:][: (len(seq) - args.frame) // 3 * 3], args.table)
        if args.truth:
            from genolm.evolution.dms import read_mapping, read_truth

            truth = read_truth(args.truth, args.truth_offset,
                               read_mapping(args.truth_mapping) if args.truth_mapping else None,
                               wildtype_of=lambda c: protein[c - 1] if 1 <= c <= len(protein) else None)
        if args.family:
            family = read_family(args)
            from genolm.evolution.dms import DEFAULT_COMBINATION, Combination

            if not args.fit_combination:
                combination = Combination.load(args.combination or DEFAULT_COMBINATION)
    jobs = [(r, nt_substitutions(r.seq) if args.level == "nt" else codon_substitutions(r.seq, args.frame))
            for r in records]
    bar = progress(sum(len(s) for _, s in jobs) * (2 if args.strand == "both" else 1), "score", "sub",
                   enabled=not args.no_progress)
    scorer = Scorer(model, tok, method, device, args.batch_size, args.context,
                    progress=bar.update, suffix=args.suffix, bf16=not args.fp32)
    columns: dict[str, list] = {}
    for rec, subs in jobs:
        if not subs:
            continue
        scores = (both_strands(scorer, rec.seq, subs, args.naive) if args.strand == "both"
                  else scorer.score(rec.seq, subs, args.naive))
        rows = (nt_rows(rec, subs, scores) if args.level == "nt"
                else aa_rows(rec, subs, scores, args.table, args.frame, translate))
        for k, v in rows.items():
            columns.setdefault(k, []).extend(v)
    bar.close()
    if not columns:
        raise GenolmError("nothing to score: no A/C/G/T position (or complete codon) in the input",
                          file=args.inputs[0])
    report = None
    if args.level == "aa":
        from genolm.evolution.dms import blosum62

        columns["blosum62"] = blosum62(columns["ref_aa"], columns["alt_aa"]).tolist()
        at = truth_rows(args, truth, columns) if truth is not None else None
        if family is not None:
            columns["frequency"], family, features = family_baseline(family, protein, columns, args.family_identity)
            if args.fit_combination:
                combination = fit_combination(args, truth, at, features, family)
            out = np.full(len(columns["codon"]), np.nan)
            out[features["rows"]] = combination.predict(features)
            columns["combined"] = out.tolist()
        if truth is not None:
            report = truth_report(args, truth, at, columns, family, combination)
    table = pa.table(columns)
    table = table.replace_schema_metadata({"genolm": json.dumps({"method": method, "level": args.level,
                                                                "strand": args.strand, "model": args.model})})
    with atomic_file(Path(args.out)) as tmp:
        pq.write_table(table, tmp)
    return {"rows": table.num_rows, "sequences": len(records), "method": method, "strand": args.strand,
            "seconds": time.perf_counter() - t0, "truth": report}


def read_family(args: ScoreArgs) -> tuple[list[str], int, int]:
    """The --family sequences (dated up to --family-until when given), how many that left out, and the code."""
    from genolm.evolution.baselines import dated_records
    from genolm.io.seqio import read_records

    seqs, left_out = [], 0
    for path in args.family:
        if not Path(path).is_file():
            raise GenolmError("no such family file", file=path)
        if args.family_until is None:
            seqs.extend(r.seq for r in read_records(path, case="upper", unique_ids=False))
        else:
            d = dated_records(path)
            seqs.extend(x for x, date in zip(d.seqs, d.dates) if date.year <= args.family_until)
            left_out += sum(date.year > args.family_until for date in d.dates)
    if not seqs:
        raise GenolmError("no family sequences" + (f" dated up to {args.family_until}" if args.family_until else ""),
                          file=args.family[0])
    return seqs, left_out, args.table


def family_baseline(family: tuple, protein: str, columns: dict, identity: float | None = None):
    """The frequency-table score of every row (nan at a stop codon), what the family held, and the
    combination's features of the rows between two amino acids ({"rows": indices, name: values})."""
    from genolm.bio.codon import translate
    from genolm.bio.genome_stats import AMINO_ACIDS
    from genolm.evolution.dms import align_family, pair_features, sequence_weights

    seqs, left_out, table = family
    proteins = [translate(x[: len(x) - len(x) % 3], table, unknown="n") for x in seqs]
    aligned = align_family(protein, proteins)
    weights = sequence_weights(aligned, identity) if identity is not None else None
    counts = aligned.counts(weights)
    ok = [r in AMINO_ACIDS and a in AMINO_ACIDS for r, a in zip(columns["ref_aa"], columns["alt_aa"])]
    idx = np.flatnonzero(ok)
    features = pair_features(counts, np.asarray(columns["codon"])[idx], [columns["ref_aa"][i] for i in idx],
                             [columns["alt_aa"][i] for i in idx], np.asarray(columns["score"], float)[idx])
    features["rows"] = idx
    scores = np.full(len(ok), np.nan)
    scores[idx] = features["frequency"]
    info = {"sequences": len(seqs), "left_out_after_until": left_out,
            "aligned_positions": int((counts.sum(1) > 0).sum()), "distinct_proteins": len(aligned.copies)}
    if weights is not None:
        info["reweighting_identity"] = identity
        info["effective_sequences"] = round(float(weights.sum()), 1)
    return scores.tolist(), info, features


def truth_rows(args: ScoreArgs, truth, columns: dict) -> np.ndarray:
    """The row of every truth pair (its codon and mutant); a pair with none is an error."""
    row = {(c, a): i for i, (c, a) in enumerate(zip(columns["codon"], columns["alt_aa"]))}
    missing = [(s, m) for s, c, m in zip(truth.site, truth.codon, truth.mutant) if (int(c), m) not in row]
    if missing:
        raise GenolmError("truth pairs with no scored substitution", file=args.truth, found=f"{len(missing)}, e.g. "
                          f"site {missing[0][0]} -> {missing[0][1]}", hint="check --truth-offset and --frame")
    return np.array([row[(int(c), m)] for c, m in zip(truth.codon, truth.mutant)])


def fit_combination(args: ScoreArgs, truth, at: np.ndarray, features: dict, family: dict):
    """--fit-combination: weights fit to the truth (with how they rank held-out halves of its sites), written."""
    from genolm.evolution.dms import FEATURES, MODEL_FEATURES, Combination, held_out_agreement

    place = {int(r): i for i, r in enumerate(features["rows"])}
    if any(int(r) not in place for r in at):
        raise GenolmError("--fit-combination needs amino-acid wild types at every truth site", file=args.truth)
    pick = np.array([place[int(r)] for r in at])  # standardised over every row, fit where measured
    names = [f for f in FEATURES if f not in MODEL_FEATURES or args.fit_model]
    c = Combination.fit_to(features, truth.effect, names, rows=pick, provenance={
        "truth": str(args.truth), "pairs": len(truth.site), "sites": len(set(truth.site)),
        "family_sequences": family["sequences"], "family_identity": args.family_identity,
        "model": str(args.model) if args.fit_model else None})
    c.fit["held_out"] = held_out_agreement(truth, features, c.features, c.ridge, rows=pick)
    return c


def truth_report(args: ScoreArgs, truth, at: np.ndarray, columns: dict, family: dict | None, combination=None) -> dict:
    """Spearman of the model, the combination and the baselines against the truth; writes OUT's
    .truth.json/.truth.tsv (and, with --fit-combination, the combination fit to this truth)."""
    from genolm.evolution.dms import agreement
    from genolm.io.atomic import atomic_file

    measured = np.full(len(columns["codon"]), np.nan)
    measured[at] = truth.effect
    columns["truth_effect"] = measured.tolist()  # the report's scatter reads it
    fitted = bool(args.fit_combination)
    names = {"combined (in sample)" if fitted else "combined": "combined", "model": "score",
             "frequency table": "frequency", "BLOSUM62": "blosum62"}
    preds = {n: np.asarray(columns[k], float)[at] for n, k in names.items() if k in columns}
    result = agreement(truth, preds)
    out = Path(args.out)
    summary = {"truth": args.truth, "kind": truth.kind, "offset": args.truth_offset, "pairs": len(truth.site),
               "sites": len(set(truth.site)), "family": family,
               "agreement": {n: {k: v for k, v in r.items() if k != "per_site"} for n, r in result.items()}}
    if fitted:
        combination.fit["in_sample"] = summary["agreement"]["combined (in sample)"]
        combination.fit["baselines"] = {n: summary["agreement"][n] for n in result if not n.startswith("combined")}
        combination.save(args.fit_combination)
        summary["fitted_combination"] = {"file": str(args.fit_combination), "features": combination.features,
                                         "held_out": combination.fit["held_out"]}
    with atomic_file(out.with_suffix(".truth.json")) as tmp:
        Path(tmp).write_text(json.dumps(summary, indent=1, default=float) + "\n")
    with atomic_file(out.with_suffix(".truth.tsv")) as tmp, open(tmp, "w") as f:
        f.write("site\t" + "\t".join(result) + "\n")
        for s in dict.fromkeys(truth.site):
            f.write(s + "\t" + "\t".join(f"{r['per_site'][s]:.4f}" for r in result.values()) + "\n")
    return summary


def nt_rows(rec, subs, scores) -> dict[str, list]:
    return {"seq_id": [rec.id] * len(subs), "position": [p + 1 for p, _ in subs],
            "ref": [rec.seq[p] for p, _ in subs], "alt": [a for _, a in subs],
            "score": scores.astype(np.float32).tolist()}


def aa_rows(rec, subs, scores, table: int, frame: int, translate) -> dict[str, list]:
    """Codon scores -> one row per (codon, amino acid): log-sum-exp over the codons of that amino acid."""
    aa_of = {c: translate(c, table) for c in CODONS}
    groups: dict[tuple[int, str], list[tuple[float, str]]] = {}
    for (start, codon), s in zip(subs, scores):
        groups.setdefault((start, aa_of[codon]), []).append((float(s), codon))
    out: dict[str, list] = {k: [] for k in ("seq_id", "codon", "position", "ref_codon", "ref_aa", "alt_aa",
                                            "score", "best_codon", "nt_changes")}
    for (start, aa), members in sorted(groups.items()):
        ref = rec.seq[start: start + 3]
        if aa == aa_of[ref]:
            continue  # synonymous codons: not an amino-acid substitution
        values = np.array([s for s, _ in members])
        best = max(members)[1]
        out["seq_id"].append(rec.id)
        out["codon"].append((start - frame) // 3 + 1)
        out["position"].append(start + 1)
        out["ref_codon"].append(ref)
        out["ref_aa"].append(aa_of[ref])
        out["alt_aa"].append(aa)
        out["score"].append(float(values.max() + math.log(np.exp(values - values.max()).sum())))
        out["best_codon"].append(best)
        out["nt_changes"].append(min(sum(a != b for a, b in zip(c, ref)) for _, c in members))
    return out
