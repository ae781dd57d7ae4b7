# seq2bert — every target creates .venv and installs the course first if needed.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.seq2bert-installed

# Quiet TensorFlow; no OpenMP spin-waiting when two processes share the CPU.
export TF_CPP_MIN_LOG_LEVEL := 3
export OMP_WAIT_POLICY := PASSIVE

.PHONY: install lab test test-fast run bench readme-timings record-results notebooks figures doctor clean help
help:
	@echo "make lab        open JupyterLab on the course start page"
	@echo "make test       run every test, every notebook included (fast mode)"
	@echo "make test-fast  package and parity tests only: no notebooks, nothing marked slow"
	@echo "make run        execute every solution notebook (fast mode), summary in build/run/"
	@echo "make bench      attention time and peak memory against length (about 7 min), build/bench/"
	@echo "make readme-timings  rewrite README's timing table from build/run/summary.csv"
	@echo "make record-results  record build/run/metrics.json in lessons/measured.json (numbers lessons quote)"
	@echo "make notebooks  regenerate notebooks/ and solutions/ from course/"
	@echo "make figures    redraw the architecture diagrams in lessons/figures/"
	@echo "make doctor     check that this machine can run the course"
	@echo "make install    create .venv and install the course"

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# torch first, pinned: the CPU build; an unpinned torch pulls a CUDA build of several GB.
	$(PY) -m pip install --quiet -c constraints.txt torch
	$(PY) -m pip install --quiet -c constraints.txt -e ".[test]"
	touch $(STAMP)

install: $(STAMP)

lab: $(STAMP)
	$(PY) -m seq2bert.lab

test: $(STAMP)
	SEQ2BERT_FAST=1 $(PY) -m pytest tests notebooks solutions --nbval-lax -n 2 --dist loadfile -q

test-fast: $(STAMP)
	SEQ2BERT_FAST=1 $(PY) -m pytest tests -m "not slow" -n 2 --dist loadfile -q

run: $(STAMP)
	$(PY) -m seq2bert run

bench: $(STAMP)
	$(PY) benchmarks/attention_cost.py --out build/bench

readme-timings: $(STAMP)
	$(PY) -m seq2bert run --update-readme

record-results: $(STAMP)
	$(PY) -m seq2bert run --record

notebooks: $(STAMP)
	$(PY) -m seq2bert build

figures: $(STAMP)
	$(PY) -m seq2bert figures

doctor: $(STAMP)
	$(PY) -m seq2bert doctor

clean:
	rm -rf build .pytest_cache
