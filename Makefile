# The README's two commands:  make demo  |  make test
PYTHON ?= python3.11
VENV   ?= .venv
PY      = $(VENV)/bin/python
# The CPU build of torch; a bare "torch" requirement would pull a multi-GB CUDA wheel on some
# machines. GPU machines keep the torch they already have (pyproject only asks torch>=2.5).
TORCH  ?= torch==2.13.0
DEMO   ?= demo-out

.PHONY: demo test install install-test bench clean

$(VENV)/.installed: pyproject.toml
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
	$(VENV)/bin/genolm prepare data/lambda.fasta.gz data/H.Pylori__G27.fasta.gz \
	    data/H.Pylori__SJM180.fasta.gz data/camisim_reads.fasta.gz data/biomarks18S_2k.fasta.gz \
	    --out $(DEMO)/corpus --tokenizer kmer:6 --window 512 --val-fraction 0.1
	$(VENV)/bin/genolm prepare --samples data/tara/samples.tsv --out $(DEMO)/tara --tokenizer char --window 256
	$(VENV)/bin/genolm orfs data/lambda.fasta.gz --method prodigal --out $(DEMO)/lambda_genes.tsv \
	    --proteins $(DEMO)/lambda_proteins.faa
	$(VENV)/bin/genolm translate data/lambda.fasta.gz --table 11 --frame all --out $(DEMO)/lambda_6frame.faa
	$(PY) -c "import json; m = json.load(open('$(DEMO)/corpus/manifest.json')); \
	    print('demo corpus:', m['totals'], {s: (v['tokens'], v['windows']) for s, v in m['splits'].items()})"

test: install-test
	$(PY) -m pytest

bench: install-test
	$(PY) benchmarks/bench_prepare.py

clean:
	rm -rf $(DEMO) benchmarks/out .pytest_cache
