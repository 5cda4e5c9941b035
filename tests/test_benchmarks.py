"""Every benchmark script runs end to end in its SMOKE=1 mode on the CPU (small made-up or bundled
inputs, never ../shared), and leaves the table its figures in BENCHMARKS.md are read from.

One parametrized test runs each Python script under benchmarks/ with SMOKE=1 and BENCH_OUT=tmp_path
and then checks what it wrote (CHECKS, one entry per script: a new script needs one).  The shell
scripts that drive the GPU runs are checked for syntax and for the scripts they name; their own
SMOKE=1 runs (a minute or so each) are marked slow.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "benchmarks"
START = time.time()
PY_SCRIPTS = sorted(str(p.relative_to(BENCH)) for p in BENCH.rglob("*.py") if "results" not in p.parts
                    and "out" not in p.parts)
SH_SCRIPTS = sorted(str(p.relative_to(BENCH)) for p in BENCH.rglob("*.sh") if "results" not in p.parts
                    and "out" not in p.parts)


def smoke(script: str, out: Path, *args, smoke_mode: bool = True) -> subprocess.CompletedProcess:
    """Run benchmarks/SCRIPT (a .py with this Python, a .sh with bash) from the repository root."""
    env = {"PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "BENCH_OUT": str(out), "TMPDIR": str(out),
           "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "HOME": os.environ.get("HOME", "/tmp")}
    if smoke_mode:
        env["SMOKE"] = "1"
    cmd = [sys.executable] if script.endswith(".py") else ["bash"]
    return subprocess.run([*cmd, str(BENCH / script), *map(str, args)], cwd=ROOT, capture_output=True, text=True,
                          env=env)


def load(path: Path) -> dict:
    return json.loads(path.read_text())


# ---------------------------------------------------------------- what each SMOKE run must leave


def check_prepare(out, stdout):
    rows = {r["case"]: r for r in load(out / "prepare.json")["rows"]}
    assert {"bare parse: pyfastx", "genolm reader (checked)", "prepare char, 1 worker"} <= set(rows)
    assert "vs parse" in stdout


def check_tokenize(out, stdout):
    rows = load(out / "tokenize.json")["rows"]
    assert {r["spec"] for r in rows} >= {"char", "kmer:6", "codon", "bpe:4096"}
    assert "speed-up" in stdout


def check_embed(out, stdout):
    rows = load(out / "embed_cpu.json")["rows"]
    assert [r["case"] for r in rows] == ["genolm, 300 bp", "hf-esm, 300 bp", "genolm reads, length-sorted",
                                         "genolm reads, padded in file order"]
    assert all(r["seqs_per_s"] > 0 for r in rows)


def check_condition_folds(out, stdout):
    r = load(out / "condition_folds" / "folds.json")
    assert r["samples"] == 6 and len(r["runs"]) == 2  # two folds of 3 held-out samples, combined
    assert "shuffled" in stdout


def check_tara(out, stdout):
    rows = load(out / "tara" / "bench_env.json")
    assert "temperature_c" in json.dumps(rows) and "layer" in json.dumps(rows)


def check_backtest_summary(out, stdout):
    s = load(out / "backtest_summary" / "summary.json")
    assert s and (out / "backtest_summary" / "summary.tsv").stat().st_size > 0
    assert (out / "backtest_summary" / "seasons.png").stat().st_size > 0


def check_forecast_baselines(out, stdout):
    r = load(out / "forecast_baselines" / "evolve_baselines.json")
    assert "2009" in json.dumps(r) and "2010" in json.dumps(r)
    assert r["fitness_terms"] == ["lbi"]
    for season in r["seasons"]:
        assert "fitness model" in season["strain_pick"] and "fitness model" in season["mutation_pick"]
        assert set(season["population_distance"]) == {"fitness model", "last 3 months", "last season"}


def check_score_speed(out, stdout):
    rows = load(out / "score_speed" / "bench_score_cpu.json")
    methods = {r["method"]: r for r in rows}
    assert {"llr", "masked-marginal"} <= set(methods)
    assert methods["llr"]["max_abs_diff"] < 1e-3  # the cached path computes what one full pass per substitution does


def check_gue_corpus(out, stdout):
    text = gzip.open(out / "gue_train.fasta.gz", "rt").read()
    assert text.count(">") == 240 and "left out" in stdout


def check_quality(out, stdout):
    assert load(out / "quality" / "markov.json")
    assert "selfcheck" in stdout


def check_generation_speed(out, stdout):
    rows = [r for r in load(out / "generation_speed" / "bench_generate_cpu.json") if "engine" in r]
    assert {r["batch"] for r in rows} == {1, 4} and all(r["tokens_per_s"] > 0 for r in rows)
    assert {r["engine"] for r in rows} == {"genolm eager", "HF generate (default)"}
    assert "HF generate" in stdout


def check_phage_design(out, stdout):
    r = load(out / "phage_design" / "phage_design.json")
    assert r["design"]["generated"] == 3 and [f["stage"] for f in r["design"]["funnel"]][-1] == "novel"
    assert [x["setting"] for x in r["sweep"]] == ["1/1", "1.5/1/0.1"] and r["design"]["setting"] in ("1/1", "1.5/1/0.1")
    assert r["base"]["last"]["step"] == 4 and r["train"]["best_step"] >= 2  # base model, then early-stopped fine-tuning
    assert set(r["viability"]["components"]) == {"lm_bits", "lm_gene_bits", "markov_bits", "kmer_identity", "genes"}
    assert "damage" in stdout and "genomes per minute" not in stdout and "per minute" in stdout and "chosen:" in stdout


def check_dms_perth(out, stdout):
    r = load(out / "dms_perth" / "dms_perth.json")
    t = r["truth"]
    assert set(t["agreement"]) == {"combined", "model", "frequency table", "BLOSUM62"}
    assert (t["sites"], t["pairs"], t["offset"]) == (13, 13 * 19, 16)  # HA1 sites 1-30 of the development half
    assert t["family"]["sequences"] == r["family_sequences"] > 100 and t["family"]["left_out_after_until"] == 0
    # BLOSUM62 reads neither the model nor the family: a golden figure on these sites
    assert abs(t["agreement"]["BLOSUM62"]["all_pairs"] - 0.288) < 0.0005 and "per site" in stdout


def check_classify_16s(out, stdout):
    rows = load(out / "classify_16s" / "bench_16s.json")["rows"]
    assert {(r["level"], r["method"]) for r in rows} == {(lv, m) for lv in ("phylum", "genus")
                                                        for m in ("kmer", "embedding")}


def check_embedding_layers(out, stdout):
    rows = load(out / "layers.json")
    assert "tnf" in json.dumps(rows) and "block 1" in json.dumps(rows)


def check_strains(out, stdout):
    acc = load(out / "strains.json")["accuracy"]
    assert acc["none"] <= acc["em"] <= acc["oracle"] + 0.02  # EM's tie-break lands near the true abundances'


def check_bacteria_bits(out, stdout):
    r = load(out / "bacteria_region.json")
    assert [x["model"] for x in r["rows"]] == ["transformer debug", "cnn debug", "lstm debug", "Markov k<=3"]
    assert all(x["tokens_seen"] == 20480 for x in r["rows"][:3])  # the same token budget
    # The same test bases for every model: all of them for the Markov model; the neural models score
    # every full window of the test corpus but its first token (no context).
    assert {x["scored_tokens"] for x in r["rows"][:3]} == {r["rows"][0]["scored_tokens"]}
    n_test = r["rows"][3]["scored_tokens"]
    assert n_test - 128 - n_test // 128 < r["rows"][0]["scored_tokens"] <= n_test - n_test // 128
    # Random bases: nothing to learn but the four letters, so every model ends near 2 bits per base.
    assert all(1.95 < x["test_bpb"] < 2.2 for x in r["rows"])
    assert len(r["train_files"]) == 9 and len(r["test_files"]) == 5  # region split: H. pylori and S. aureus tails


def check_markov_bits(out, stdout):
    r = load(out / "markov.json")
    assert "region" in json.dumps(r) and "species" in json.dumps(r)


def check_scaling(out, stdout):
    """On gloo: one process, then DDP and FSDP2 on two; the embedding on one and two processes writes
    the same vectors; a count the machine lacks is reported as not measured."""
    r = load(out / "scaling" / "scaling.json")
    assert r["counts"] == [1, 2] and r["not_measured"] == [999]
    rows = {(x["strategy"], x["gpus"]): x for x in r["train"]}
    assert set(rows) == {("one process", 1), ("ddp", 2), ("fsdp", 2)}
    assert all(x["tokens_per_s"] > 0 and x["timed_steps"] == 4 for x in rows.values())
    assert rows["one process", 1]["efficiency"] == 1.0
    assert rows["ddp", 2]["per_gpu"] == rows["ddp", 2]["tokens_per_s"] / 2
    # DDP and FSDP2 train the same model on the same global batch
    assert rows["ddp", 2]["final_loss"] == pytest.approx(rows["fsdp", 2]["final_loss"], rel=1e-5)
    emb = {x["gpus"]: x for x in r["embed"]}
    assert emb[2]["same_ids_as_1"] and emb[2]["identical_rows"] == emb[2]["sequences"] > 0
    assert emb[2]["max_abs_diff"] == 0.0
    assert "| debug |" in stdout and "rows identical to 1 GPU" in stdout


def check_throughput(out, stdout):
    r = load(out / "pretrain_cpu.json")
    assert [x["case"] for x in r["rows"]] == ["genolm", "hf-llama", "genolm-lstm", "genolm-cnn"]
    reads = {x["case"]: x for x in r["reads"]}
    assert set(reads) == {"reads 150 bp: packed, dense mask", "reads 150 bp: padded",
                          "reads 30-60 bp: packed, dense mask", "reads 30-60 bp: padded"}
    assert reads["reads 150 bp: padded"]["useful_fraction"] == 1.0  # every read is 150 bp: no padding
    assert 0.4 < reads["reads 30-60 bp: padded"]["useful_fraction"] < 0.9
    assert all(x["useful_fraction"] > 0.7 for k, x in reads.items() if "packed" in k)
    assert "useful tok/s" in stdout


def check_smoke_inputs(out, stdout):
    made = Path(stdout.strip().splitlines()[-1])
    for f in ("genomes/bacteria/E.Coli__MG1655-K12.fasta.gz", "sp4/reads.fastq.gz", "sa5/truth.tsv.gz",
              "gue/tf/0/train.csv", "16S.fasta.gz", "tara/contigs_votus_id90.fasta.gz", "ha1.fasta",
              "mlm/checkpoint/config.json", "clm/checkpoint/config.json"):
        assert (made / f).is_file(), f


CHECKS = {
    "data/prepare_speed.py": check_prepare,
    "data/tokenize_speed.py": check_tokenize,
    "embed/speed.py": check_embed,
    "environment/condition_folds.py": check_condition_folds,
    "environment/tara.py": check_tara,
    "evolution/backtest_summary.py": check_backtest_summary,
    "evolution/dms_perth.py": check_dms_perth,
    "evolution/forecast_baselines.py": check_forecast_baselines,
    "evolution/score_speed.py": check_score_speed,
    "finetune/gue_corpus.py": check_gue_corpus,
    "generation/phage_design.py": check_phage_design,
    "generation/quality.py": check_quality,
    "generation/speed.py": check_generation_speed,
    "metagenome/classify_16s.py": check_classify_16s,
    "metagenome/embedding_layers.py": check_embedding_layers,
    "metagenome/strains.py": check_strains,
    "pretrain/bacteria_bits.py": check_bacteria_bits,
    "pretrain/markov_bits.py": check_markov_bits,
    "pretrain/scaling.py": check_scaling,
    "pretrain/throughput.py": check_throughput,
    "smoke_inputs.py": check_smoke_inputs,
}


def test_every_script_has_a_smoke_check():
    assert sorted(CHECKS) == PY_SCRIPTS


@pytest.mark.parametrize("script", PY_SCRIPTS)
def test_smoke(tmp_path, script):
    res = smoke(script, tmp_path)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-3000:]
    CHECKS[script](tmp_path, res.stdout)
    assert not (ROOT / "benchmarks" / "out").exists() or all(  # nothing written outside BENCH_OUT
        p.stat().st_mtime < START for p in (ROOT / "benchmarks" / "out").rglob("*"))


# ---------------------------------------------------------------- the GPU shell scripts


@pytest.mark.parametrize("script", SH_SCRIPTS)
def test_shell_script_parses_and_names_only_scripts_that_exist(script):
    res = subprocess.run(["bash", "-n", str(BENCH / script)], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    text = (BENCH / script).read_text()
    named = set(re.findall(r"(?:benchmarks|data)/[\w/.-]+\.(?:py|sh)", text))
    assert named, "a GPU script that runs no benchmark script?"
    for path in named:
        assert (ROOT / path).is_file(), f"{script} names {path}, which does not exist"
    assert "SMOKE" in text, f"{script} has no SMOKE=1 mode"


@pytest.mark.slow
@pytest.mark.parametrize("script", SH_SCRIPTS)
def test_shell_script_smoke(tmp_path, script):
    """The whole GPU plan on the CPU (about a minute each on 2 cores)."""
    res = smoke(script, tmp_path / "out")
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]


def test_no_script_hard_codes_a_machine():
    """A machine's limits are arguments (LIMIT, END, WORK, GPU_*...), not one lent machine's paths or
    tracker names."""
    for path in [*PY_SCRIPTS, *SH_SCRIPTS]:
        text = (BENCH / path).read_text()
        assert not re.search(r"issue[ _-]?\d|\.gpu-(data|i5|tara|work)|/tmp/(issue|w_|recipe\b)", text, re.I), path


# ---------------------------------------------------------------- checks beyond the smoke runs


def test_packed_rows_keep_every_read_whole():
    sys.path.insert(0, str(BENCH / "pretrain"))
    from throughput import packed_rows, read_lengths

    from genolm.tokenize import PAD, SEP

    lengths = read_lengths("20-90", 500)
    ids, docs, useful = packed_rows(lengths, 256, vocab=86)
    assert useful == int(lengths.sum()) + len(lengths)  # every base and one <sep> per read
    assert int((ids == SEP).sum()) == len(lengths)
    for r in range(len(ids)):  # a read never crosses a row: each document starts with its <sep>
        real = ids[r] != PAD
        starts = np.flatnonzero(np.diff(np.r_[-2, docs[r][real].numpy()]) != 0)
        assert (ids[r][real][starts] == SEP).all()


def test_attention_variants_compute_the_same_function():
    sys.path.insert(0, str(BENCH / "pretrain"))
    import torch
    from throughput import ATTENTION_VARIANTS, use_attention_variant

    from genolm.model import build_model, config_for

    torch.manual_seed(0)
    model = build_model(config_for("debug", vocab_size=86))
    ids = torch.randint(71, 86, (2, 40))
    outs = {}
    try:
        for name in ATTENTION_VARIANTS:
            use_attention_variant(name)
            outs[name] = model(ids)
            outs[name].float().pow(2).mean().backward()
            outs[name] = (outs[name].detach(), model.backbone.embed.weight.grad.clone())
            model.zero_grad()
    finally:
        use_attention_variant("genolm")
    for name in ("split", "contiguous"):
        torch.testing.assert_close(outs[name][0], outs["genolm"][0], rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(outs[name][1], outs["genolm"][1], rtol=1e-4, atol=1e-7)


def test_gue_corpus_keeps_dev_and_test_sequences_out(tmp_path):
    rows = {"train": ["AAAACCCC", "GGGGTTTT", "ACGTACGT"], "dev": ["CCCCAAAA"], "test": ["ACGTACGT"]}
    for task in ("a/x", "b/y"):
        d = tmp_path / "gue" / task
        d.mkdir(parents=True)
        for split, seqs in rows.items():
            (d / f"{split}.csv").write_text("sequence,label\n" + "".join(f"{s},{i % 2}\n" for i, s in enumerate(seqs)))
    res = smoke("finetune/gue_corpus.py", tmp_path, tmp_path / "gue", tmp_path / "c.fa.gz", smoke_mode=False)
    assert res.returncode == 0, res.stderr
    text = gzip.open(tmp_path / "c.fa.gz", "rt").read()
    assert text == ">a/x/0\nAAAACCCC\n>a/x/1\nGGGGTTTT\n"  # test sequence out, repeats once
    assert "2 left out" in res.stdout


def test_embed_speed_on_genome_fragments(tmp_path):
    res = smoke("embed/speed.py", tmp_path, "--n", 4, "--length", 100, "--reads", ROOT / "data" / "lambda.fasta.gz",
                "--fragments", "50-400", "--max-reads", 50)
    assert res.returncode == 0, res.stderr[-2000:]
    rows = load(tmp_path / "embed_cpu.json")["rows"]
    sorted_row = next(r for r in rows if r["case"] == "genolm reads, length-sorted")
    assert sorted_row["bases_per_s"] / sorted_row["seqs_per_s"] == pytest.approx(225, abs=60)  # mean length


@pytest.mark.slow
def test_bacteria_bits_species_split(tmp_path):
    res = smoke("pretrain/bacteria_bits.py", tmp_path, "--split", "species")
    assert res.returncode == 0, res.stderr[-2000:]
    r = load(tmp_path / "bacteria_species.json")
    assert r["test_files"] == ["V.Cholerae__N16961.fasta.gz", "V.Cholerae__O395.fasta.gz"]
    assert not set(r["test_files"]) & set(r["train_files"])
