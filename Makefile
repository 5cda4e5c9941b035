# The README's two commands:  make demo  |  make test
# Python 3.11 or newer: python3.11 where there is one, else python3 (checked below).
PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV   ?= .venv
PY      = $(VENV)/bin/python
# The CPU build of torch; a bare "torch" requirement would pull a multi-GB CUDA wheel on some
# machines. GPU machines keep the torch they already have (pyproject only asks torch>=2.5).
TORCH  ?= torch==2.13.0
DEMO   ?= demo-out

.PHONY: demo test install install-test browser bench clean

$(VENV)/.installed: pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null || \
	  { echo "genolm needs Python 3.11 or newer; '$(PYTHON)' is not: make ... PYTHON=/path/to/python3.x"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install -q "$(TORCH)"
	$(PY) -m pip install -q -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(PY) -m pip install -q -e ".[test]"
	touch $@

install: $(VENV)/.installed

install-test: $(VENV)/.installed-test

demo: install
	@echo "== 1. prepare: real genomes and reads -> tokenized, windowed shards"
	$(VENV)/bin/genolm prepare data/lambda.fasta.gz data/H.Pylori__G27.fasta.gz \
	    data/H.Pylori__SJM180.fasta.gz data/camisim_reads.fasta.gz data/biomarks18S_2k.fasta.gz \
	    --out $(DEMO)/corpus --tokenizer kmer:6 --window 512 --val-fraction 0.1
	$(VENV)/bin/genolm prepare --samples data/tara/samples.tsv --out $(DEMO)/tara --tokenizer char --window 256
	@echo "== 2. the central dogma: genes of phage lambda, six-frame translation"
	$(VENV)/bin/genolm orfs data/lambda.fasta.gz --method prodigal --out $(DEMO)/lambda_genes.tsv \
	    --proteins $(DEMO)/lambda_proteins.faa
	$(VENV)/bin/genolm translate data/lambda.fasta.gz --table 11 --frame all --out $(DEMO)/lambda_6frame.faa
	@echo "== 3. pretrain on the CPU: train on the first 90% of every genome, test on the unseen last 10%"
	$(VENV)/bin/genolm prepare data/lambda.fasta.gz data/H.Pylori__G27.fasta.gz data/H.Pylori__SJM180.fasta.gz \
	    --split region --val-fraction 0.1 --window 256 --tokenizer char --out $(DEMO)/region
	rm -rf $(DEMO)/transformer $(DEMO)/lstm $(DEMO)/cnn
	$(VENV)/bin/genolm pretrain --data $(DEMO)/region --out $(DEMO)/transformer --config recipes/demo-cpu.yaml
	$(VENV)/bin/genolm pretrain --data $(DEMO)/region --out $(DEMO)/lstm --config recipes/demo-cpu.yaml --family lstm
	$(VENV)/bin/genolm pretrain --data $(DEMO)/region --out $(DEMO)/cnn --config recipes/demo-cpu.yaml --family cnn
	@echo "== 4. held-out bits per base (lower is better; 2.0 = a uniform guess over ACGT)"
	@echo "   Each network here sees 1.2M tokens (a minute of CPU): about what an order-12 Markov model knows."
	@echo "   With 100M tokens on a GPU, a 10.6M transformer reaches 1.778 on unseen regions of 16 bacteria"
	@echo "   against the Markov model's 1.903 (BENCHMARKS.md, benchmarks/pretrain/bacteria_bits.py)."
	$(VENV)/bin/genolm evaluate --data $(DEMO)/region --markov 12 $(DEMO)/transformer $(DEMO)/lstm $(DEMO)/cnn \
	    --out $(DEMO)/bits_per_base.tsv
	@echo "== 5. one page of it all: open $(DEMO)/report.html in a browser"
	$(VENV)/bin/genolm report $(DEMO)/bits_per_base.tsv $(DEMO)/transformer $(DEMO)/lstm $(DEMO)/cnn \
	    --out $(DEMO)/report.html --title "genolm demo: three models on unseen regions of real genomes"

# Headless Chromium for the report's browser test (Debian packages; root installs them, others are
# told how, and the test is skipped unless GENOLM_REQUIRE_BROWSER=1, as CI sets).
browser:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
	  { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
	    { apt-get install -y -q chromium chromium-driver >/dev/null 2>&1 || \
	      { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q chromium chromium-driver >/dev/null 2>&1; }; }; } || \
	  echo "note: no headless Chromium (Debian: apt-get install chromium chromium-driver); the browser test is skipped"

test: install-test browser
	$(PY) -m pytest

bench: install-test
	$(PY) benchmarks/data/prepare_speed.py

clean:
	rm -rf $(DEMO) benchmarks/out .pytest_cache
