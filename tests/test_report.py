"""genolm report: a tiny pretrain + finetune + bin run rendered into one page, opened in headless
Chromium (every section and plot drawn, no console errors, a screenshot); what each output is
recognised as; the summary sentences quote the outputs' own numbers; bad paths are one line.

The browser test needs Debian's chromium and chromium-driver (``make test`` installs them where it
can); it is skipped without them, except where GENOLM_REQUIRE_BROWSER=1 (CI) makes that a failure.
"""

import json
import os
import shutil

import numpy as np
import pytest

from conftest import DATA, run_cli
from genolm.report import discover, kind_of, sections

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A debug transformer pretrained on lambda, fine-tuned on a planted motif, and a bin run."""
    from genolm.cli import main
    from conftest import motif_split, write_csv

    d = tmp_path_factory.mktemp("report")
    assert main(["prepare", str(DATA / "lambda.fasta.gz"), "--out", str(d / "corpus"), "--tokenizer", "char",
                 "--window", "128", "--val-fraction", "0.1", "--split", "region", "--no-progress"]) == 0
    assert main(["pretrain", "--data", str(d / "corpus"), "--out", str(d / "run"), "--model", "debug",
                 "--objective", "mlm", "--steps", "30", "--eval-every", "10", "--batch-size", "8",
                 "--device", "cpu"]) == 0
    data = {k: write_csv(d / f"{k}.csv", motif_split(n, seed)) for k, n, seed in
            (("train", 120, 0), ("val", 40, 1), ("test", 40, 2))}
    assert main(["finetune", "--model", str(d / "run"), "--train", str(data["train"]), "--val", str(data["val"]),
                 "--test", str(data["test"]), "--epochs", "2", "--out", str(d / "tuned"), "--device", "cpu"]) == 0
    rng = np.random.default_rng(1)
    import gzip

    with gzip.open(d / "atrich.fasta.gz", "wt") as f:
        f.write(">chrom\n" + "".join(rng.choice(list("ACGT"), 40000, p=[0.42, 0.08, 0.08, 0.42])) + "\n")
    assert main(["simulate", str(DATA / "lambda.fasta.gz"), str(d / "atrich.fasta.gz"), "--reads", "600",
                 "--single", "--model", "perfect", "--abundance", "uniform", "--out", str(d / "sim")]) == 0
    assert main(["bin", str(d / "sim" / "reads.fastq.gz"), "--truth", str(d / "sim" / "truth.tsv"), "--model",
                 str(d / "run"), "--features", "both", "--device", "cpu", "--out", str(d / "bins")]) == 0
    return d


def test_outputs_are_recognised(runs):
    assert kind_of(runs / "run") == "pretrain" and kind_of(runs / "tuned") == "finetune"
    assert kind_of(runs / "bins") == "bin" and kind_of(runs / "corpus") is None
    assert [k for k, _ in discover([str(runs)])] == ["bin", "pretrain", "finetune"]  # a folder of outputs


def test_every_folder_says_what_made_it_and_the_report_reads_that(runs, tmp_path):
    from genolm import __version__
    from genolm.io.stamp import read_stamp

    made = {name: read_stamp(runs / name) for name in ("corpus", "run", "tuned", "sim", "bins")}
    assert {n: s["command"] for n, s in made.items()} == {"corpus": "prepare", "run": "pretrain", "tuned": "finetune",
                                                          "sim": "simulate", "bins": "bin"}
    assert made["bins"]["version"] == __version__ and made["bins"]["args"]["features"] == "both"
    assert made["run"]["args"]["steps"] == 30 and made["run"]["args"]["out"] == str(runs / "run")
    # the report goes by the stamp, not by file names: a bin folder with its summary renamed is still a bin
    # run, and a stamp of a command it cannot draw (prepare) is no section
    shutil.copytree(runs / "bins", tmp_path / "bins")
    (tmp_path / "bins" / "summary.json").rename(tmp_path / "bins" / "other.json")
    assert kind_of(tmp_path / "bins") == "bin" and kind_of(runs / "corpus") is None
    (tmp_path / "bins" / "genolm.json").write_text('{"command": "evolve", "args": {"backtest": "2001-2003"}}')
    assert kind_of(tmp_path / "bins") == "backtest"


def test_summaries_quote_the_outputs_numbers(runs):
    secs = {s.kind: s for s in sections(discover([str(runs / "run"), str(runs / "tuned"), str(runs / "bins")]))}
    val = [json.loads(x) for x in (runs / "run" / "metrics.jsonl").read_text().splitlines() if "val_bpb" in x]
    assert f"{val[-1]['val_bpb']:.3f} bits" in secs["pretrain"].summary and "30 steps" in secs["pretrain"].summary
    m = json.loads((runs / "tuned" / "metrics.json").read_text())
    assert f"MCC {m['test_mcc']:.3f}" in secs["finetune"].summary
    b = json.loads((runs / "bins" / "metrics.json").read_text())
    main = next(k for k in b if k != "tnf")
    assert f"adjusted Rand index is {b[main]['ari']:.2f}" in secs["bin"].summary
    assert f"tetranucleotide baseline reaches {b['tnf']['ari']:.2f}" in secs["bin"].summary
    assert [what for what, _ in secs["bin"].figures] == ["plotly"]  # the map, drawn from map.tsv
    trace_ids = {t for tr in secs["bin"].figures[0][1]["data"] for t in tr["text"]}
    assert len(trace_ids) == len((runs / "bins" / "map.tsv").read_text().splitlines()) - 1
    assert len(trace_ids) == json.loads((runs / "bins" / "summary.json").read_text())["sequences"]  # every read mapped
    cm = next(f for what, f in secs["finetune"].figures if what == "plotly" and f["data"][0]["type"] == "heatmap")
    assert sum(map(sum, cm["data"][0]["z"])) == m["n_test"]  # the confusion matrix counts every test sequence


def browser():
    chrome, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not (chrome and driver):
        if os.environ.get("GENOLM_REQUIRE_BROWSER") == "1":
            pytest.fail("GENOLM_REQUIRE_BROWSER=1 but chromium / chromedriver are not installed")
        pytest.skip("needs Debian's chromium and chromium-driver")
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        if os.environ.get("GENOLM_REQUIRE_BROWSER") == "1":
            pytest.fail("GENOLM_REQUIRE_BROWSER=1 but selenium is not installed")
        pytest.skip("needs selenium (pip install -e '.[test]')")
    opts = webdriver.ChromeOptions()
    opts.binary_location = chrome
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
              "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
              "--window-size=1280,2400"):
        opts.add_argument(a)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(driver), options=opts)


def test_the_page_renders_in_headless_chromium(runs, tmp_path, capsys):
    page = tmp_path / "report.html"
    code, out, err = run_cli(["report", runs / "run", runs / "tuned", runs / "bins", "--out", page], capsys)
    assert code == 0, err
    assert "3 sections" in out and "cdn" not in page.read_text().lower()[:2000]  # nothing fetched
    d = browser()
    try:
        from selenium.webdriver.support.ui import WebDriverWait

        d.get(page.as_uri())
        sections_js = "return Array.from(document.querySelectorAll('section.artifact')).map(s => s.dataset.kind)"
        try:  # a loaded machine may take a while over the inlined script
            WebDriverWait(d, 60).until(lambda drv: len(drv.execute_script(sections_js)) == 3)
        except Exception:
            pass
        kinds = d.execute_script(sections_js)
        assert kinds == ["pretrain", "finetune", "bin"], (d.current_url, d.page_source[:300], d.get_log("browser"))
        plots = d.execute_script("""return Array.from(document.querySelectorAll('div.plot')).map(p => [
            p.querySelectorAll('.main-svg').length, p.querySelectorAll('.scatterlayer .trace, .heatmaplayer image, .hm').length,
            p.getBoundingClientRect().height])""")
        assert len(plots) == 4  # training curve, fine-tuning curve, confusion matrix, bin map
        assert all(svg > 0 and traces > 0 and height > 100 for svg, traces, height in plots), plots
        points = d.execute_script("return document.querySelectorAll('#s3 .scatterlayer .point').length")
        assert points == len((runs / "bins" / "map.tsv").read_text().splitlines()) - 1
        assert all(s for s in d.execute_script(
            "return Array.from(document.querySelectorAll('p.summary')).map(p => p.textContent.length)"))
        errors = [e for e in d.get_log("browser") if e["level"] == "SEVERE"]
        assert errors == []
        shot = tmp_path / "report.png"
        d.save_screenshot(str(shot))
        assert shot.stat().st_size > 20_000
    finally:
        d.quit()


def test_bad_paths_are_one_line(tmp_path, capsys):
    code, _, err = run_cli(["report", tmp_path / "nope", "--out", tmp_path / "r.html"], capsys)
    assert code == 2 and "no such file or folder" in err and len(err.strip().splitlines()) == 1
    (tmp_path / "empty").mkdir()
    code, _, err = run_cli(["report", tmp_path / "empty", "--out", tmp_path / "r.html"], capsys)
    assert code == 2 and "not a genolm output" in err and not (tmp_path / "r.html").exists()


def test_embed_score_and_env_sections(runs, tmp_path, capsys):
    from genolm.report import render

    fasta = tmp_path / "g.fa"
    fasta.write_text(">g1\nATGAAACGCATTAGCACCACCATTACCACCACCATCACCATTACCACAGGTAACGGTGCGGGCTGA\n")
    assert run_cli(["embed", DATA / "lambda.fasta.gz", DATA / "H.Pylori__G27.fasta.gz", DATA / "H.Pylori__SJM180.fasta.gz",
                    "--model", runs / "run", "--out", tmp_path / "e.parquet", "--device", "cpu"], capsys)[0] == 0
    assert run_cli(["score", fasta, "--model", runs / "run", "--out", tmp_path / "s.parquet", "--device", "cpu"],
                   capsys)[0] == 0
    code, out, _ = run_cli(["env", "fit", "--samples", DATA / "tara" / "samples.tsv", "--target", "temperature_c",
                            "--out", tmp_path / "env", "--report", tmp_path / "env.html"], capsys)
    assert code == 0 and "report:" in out and 'data-kind="env fit"' in (tmp_path / "env.html").read_text()
    found = discover([str(tmp_path / "e.parquet"), str(tmp_path / "s.parquet"), str(tmp_path / "env")])
    assert [k for k, _ in found] == ["embed", "score", "env fit"]
    secs = {s.kind: s for s in sections(found)}
    import pyarrow.parquet as pq

    scores = pq.read_table(tmp_path / "s.parquet").to_pydict()
    worst = int(np.argmin(scores["score"]))
    assert f"{scores['ref'][worst]}{scores['position'][worst]}{scores['alt'][worst]}" in secs["score"].summary
    heat = secs["score"].figures[0][1]["data"][0]
    assert sum(v is not None for row in heat["z"] for v in row) == len(scores["score"])  # every substitution drawn
    env = json.loads((tmp_path / "env" / "metrics.json").read_text())["temperature_c"]
    main = next(k for k in env if k not in ("mean", "latlon") and not k.startswith("latlon+"))
    assert f"R2 {env[main]['score']:.2f}" in secs["env fit"].summary
    assert len(secs["env fit"].figures) == 2  # measured vs predicted, and the map (the sheet has places)
    assert len(secs["embed"].figures[0][1]["data"][0]["x"]) == 1  # one point per sequence, coloured by file
    page = render(list(secs.values()))
    assert page.count('class="plot"') == 4 and page.count("Plotly.newPlot") == 4


EVALUATED = ("model\tparams\ttokens_seen\ttrain_s\tval_bpb\tscored_tokens\teval_s\n"
             "Markov k<=12\tNone\tNone\tNone\t1.9053\t100\tNone\n"
             "transformer clm (tf)\t10\t100\t5\t1.8705\t100\t1.0\n"
             "lstm clm (lstm)\t10\t100\t5\t1.9300\t100\t1.0\n")  # what genolm evaluate --out writes


def test_evaluate_table_names_the_winner(tmp_path):
    t = tmp_path / "bpb.tsv"
    t.write_text(EVALUATED)
    (sec,) = sections(discover([str(t)]))
    assert sec.kind == "evaluate" and "Best network: transformer clm (tf) at 1.8705" in sec.summary
    assert "0.0348 below the Markov k<=12 baseline (1.9053)" in sec.summary and "blind guess" in sec.summary
    assert sec.figures[0][1]["data"][0]["x"] == [1.9053, 1.8705, 1.93]
    assert "scores every window of the validation split" in sec.summary  # not the training loop's first windows
    t.write_text(EVALUATED.replace("1.9300", "1.93"))  # how evaluate writes round(1.93, 4)
    (sec,) = sections(discover([str(t)]))
    assert [r[4] for r in sec.tables[0][2]] == ["1.9053", "1.8705", "1.9300"]  # every row to 4 decimals


def test_evaluate_says_why_the_markov_baseline_wins_and_which_models_guess_worse_than_blind(tmp_path):
    t = tmp_path / "bpb.tsv"
    t.write_text(EVALUATED.replace("1.8705", "2.0700").replace("1.9300", "1.9900"))
    (sec,) = sections(discover([str(t)]))
    assert "The Markov k<=12 baseline beats every network here: they trained on at most 100 tokens" in sec.summary
    assert "transformer clm (tf) needs 2.0700 bits per base, more than a blind guess" in sec.summary
    assert "lstm clm (lstm) needs 1.99" not in sec.summary  # below 2 bits: no such note


def test_evaluate_bars_start_at_zero_beside_a_uniform_guess(tmp_path):
    # bars cut at min - 0.05 made 0.04-bit differences look huge; from 0 their lengths compare
    t = tmp_path / "bpb.tsv"
    t.write_text(EVALUATED)
    (sec,) = sections(discover([str(t)]))
    layout = sec.figures[0][1]["layout"]
    lo, hi = layout["xaxis"]["range"]
    assert lo == 0 and hi >= 2.0 and "bits per base" in layout["xaxis"]["title"]["text"]
    (line,) = [s for s in layout["shapes"] if s["type"] == "line"]
    assert line["x0"] == line["x1"] == 2.0 and line["line"]["dash"] == "dash"  # log2(4): a blind guess
    assert any("uniform guess over ACGT" in a["text"] and a["x"] == 2.0 for a in layout["annotations"])


def test_training_curve_is_in_bits_with_units_on_its_axes(runs, tmp_path):
    rows = [json.loads(x) for x in (runs / "run" / "metrics.jsonl").read_text().splitlines()]
    loss = {r["step"]: r["loss"] for r in rows if "loss" in r}
    (sec,) = sections(discover([str(runs / "run")]))
    train, val = sec.figures[0][1]["data"]
    layout = sec.figures[0][1]["layout"]
    assert train["y"] == pytest.approx([loss[s] / np.log(2) for s in train["x"]])  # nats → bits
    # a char token is a base: one axis, in bits per base, for both curves
    assert train["yaxis"] == val["yaxis"] == "y" and "yaxis2" not in layout
    assert "bits per base" in train["name"] and layout["yaxis"]["title"]["text"] == "bits per base"
    assert layout["yaxis"]["tickformat"] == ".2f"
    # other tokens hold several bases: the training loss stays per token, said so, on its own axis
    kmer = tmp_path / "kmer"
    shutil.copytree(runs / "run", kmer)
    tok = json.loads((kmer / "checkpoint" / "tokenizer.json").read_text())
    (kmer / "checkpoint" / "tokenizer.json").write_text(json.dumps({**tok, "kind": "kmer"}))
    (sec,) = sections(discover([str(kmer)]))
    train, val = sec.figures[0][1]["data"]
    layout = sec.figures[0][1]["layout"]
    assert train["name"] == "training loss (bits per kmer token)" and "bits per kmer token" in \
        layout["yaxis"]["title"]["text"]
    assert val["yaxis"] == "y2" and layout["yaxis2"]["title"]["text"] == "validation bits per base"


def test_tables_have_human_headers_and_no_none(runs, tmp_path):
    import re

    from genolm.report import render

    t = tmp_path / "bpb.tsv"
    t.write_text(EVALUATED)
    page = render(sections(discover([str(t), str(runs / "run"), str(runs / "tuned"), str(runs / "bins")])),
                  plotly_js="plotly.js")
    tables = re.findall(r"<table>.*?</table>", page, re.S)
    heads = re.findall(r"<th>(.*?)</th>", tables[0])
    assert heads == ["model", "parameters", "tokens seen", "training time (s)", "validation bits per base",
                     "scored tokens", "evaluation time (s)"]
    cells = [c for tb in tables for c in re.findall(r"<t[hd]>(.*?)</t[hd]>", tb)]
    assert not {"val_bpb", "eval_s", "train_s", "tokens_seen", "scored_tokens", "params", "ari"} & set(cells)
    assert not {"None", "nan", "NaN"} & set(cells)
    assert re.findall(r"<td>(.*?)</td>", tables[0])[:7] == ["Markov k&lt;=12", "–", "–", "–", "1.9053", "100", "–"]
    assert "MCC" in cells and "adjusted Rand index" in cells  # finetune and bin tables share the mapping


def test_pretrain_says_which_validation_windows_it_scored(runs, tmp_path):
    # the training loop scores the first eval_batches × batch_size windows; genolm evaluate all of them
    total = json.loads((runs / "corpus" / "manifest.json").read_text())["splits"]["val"]["windows"]
    (sec,) = sections(discover([str(runs / "run")]))
    n = min(20 * 8, total)  # --eval-batches' default × --batch-size
    scope = f"all {total:,}" if n == total else f"the first {n:,}"
    assert f"on {scope} validation windows during training" in sec.summary
    few = tmp_path / "few"
    shutil.copytree(runs / "run", few)
    config = json.loads((few / "checkpoint" / "config.json").read_text())
    config["args"]["eval_batches"] = 1
    (few / "checkpoint" / "config.json").write_text(json.dumps(config))
    (sec,) = sections(discover([str(few)]))
    assert total > 8 and "on the first 8 validation windows during training" in sec.summary
    assert ["validation windows scored during training", "the first 8 windows"] in sec.tables[0][2]
    assert "the first 8 windows" in sec.figures[0][1]["data"][1]["name"]


def test_classify_section_quotes_accuracy_against_the_baseline(runs, tmp_path, capsys):
    refs = [DATA / "lambda.fasta.gz", runs / "atrich.fasta.gz"]
    out = tmp_path / "calls.tsv"
    code, _, err = run_cli(["classify", runs / "sim" / "reads.fastq.gz", "--references", *refs,
                            "--truth", runs / "sim" / "truth.tsv", "--out", out], capsys)
    assert code == 0, err
    (sec,) = sections(discover([str(out)]))
    m = json.loads((tmp_path / "calls.metrics.json").read_text())["metrics"]["kmer"]["genome"]
    assert sec.kind == "classify" and f"{m['accuracy']:.1%} are assigned to the right genome" in sec.summary
    bars = sec.figures[0][1]["data"][0]
    assert sum(bars["y"]) == len(out.read_text().splitlines()) - 1  # every read counted once
    # with --taxa grouping the genomes, both levels are quoted
    taxa = tmp_path / "taxa.tsv"
    taxa.write_text("genome\ttaxon\nlambda\tDNA\natrich\tDNA\n")
    code, _, err = run_cli(["classify", runs / "sim" / "reads.fastq.gz", "--references", *refs, "--taxa", taxa,
                            "--truth", runs / "sim" / "truth.tsv", "--out", tmp_path / "taxa_calls.tsv"], capsys)
    assert code == 0, err
    (sec,) = sections(discover([str(tmp_path / "taxa_calls.tsv")]))
    m = json.loads((tmp_path / "taxa_calls.metrics.json").read_text())["metrics"]["kmer"]
    assert (f"{m['genome']['accuracy']:.1%} and {m['taxon']['accuracy']:.1%} are assigned to the right genome and "
            f"taxon respectively") in sec.summary, sec.summary


def test_a_run_with_no_logged_step_yet_gets_a_section(runs, tmp_path):
    # a run just started (or killed before its first log line): the page says so instead of failing
    fresh = tmp_path / "fresh"
    shutil.copytree(runs / "run", fresh)
    (fresh / "metrics.jsonl").write_text("")
    (sec,) = sections(discover([str(fresh)]))
    assert sec.kind == "pretrain" and "no training step" in sec.summary and not sec.figures


def test_a_large_map_is_drawn_from_a_random_subset(runs, monkeypatch):
    import genolm.report as report

    n = len((runs / "bins" / "map.tsv").read_text().splitlines()) - 1
    monkeypatch.setattr(report, "MAP_POINTS", 50)
    (sec,) = sections(discover([str(runs / "bins")]))
    fig = next(f for what, f in sec.figures if what == "plotly")
    ids = [t.split(" → ")[0] for trace in fig["data"] for t in trace["text"]]
    assert n > 50 and len(ids) == len(set(ids)) == 50 and f"50 of {n:,} points" in fig["layout"]["title"]["text"]


def test_generated_fasta_gets_a_section_and_generate_takes_report(runs, tmp_path, capsys):
    from genolm.bio.seq import gc_content
    from genolm.io.seqio import read_records

    code, _, err = run_cli(["pretrain", "--data", runs / "corpus", "--out", tmp_path / "clm", "--model", "debug",
                            "--objective", "clm", "--steps", "5", "--batch-size", "4", "--device", "cpu"], capsys)
    assert code == 0, err
    fa, page = tmp_path / "gen.fasta", tmp_path / "gen.html"
    code, out, err = run_cli(["generate", "--model", tmp_path / "clm", "--num", "6", "--length", "300", "--seed", "3",
                              "--temperature", "0.8", "--device", "cpu", "--out", fa, "--report", page], capsys)
    assert code == 0, err
    assert page.is_file() and "generate" in page.read_text() and f"report: {page}" in out
    (sec,) = sections(discover([str(fa)]))
    gc = [gc_content(r.seq) for r in read_records(fa)]
    assert sec.kind == "generate" and "temperature 0.8, seed 3" in sec.summary
    assert f"GC content {np.mean(gc):.3f} ± {np.std(gc):.3f}" in sec.summary and "300 bases each" in sec.summary
    assert sorted(sec.figures[0][1]["data"][0]["x"]) == sorted(gc)
    code, _, err = run_cli(["generate", "--model", tmp_path / "clm", "--num", "2", "--length", "50", "--seed", "3",
                            "--temperature", "1.5", "--min-p", "0.1", "--device", "cpu", "--out", tmp_path / "p.fa"], capsys)
    assert code == 0, err
    (sec,) = sections(discover([str(tmp_path / "p.fa")]))
    assert sec.kind == "generate" and "temperature 1.5, min-p 0.1, seed 3" in sec.summary
    # a FASTA that genolm generate did not write is not taken for one
    (tmp_path / "real.fasta").write_text(">chr1 some genome\nACGT\n")
    assert kind_of(tmp_path / "real.fasta") is None
