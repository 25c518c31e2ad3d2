# kagdigits — the commands the README promises.
# make submission [MODEL=name | BUDGET=30s|5m|1h] [EPOCHS=n] [DEVICE=cpu] [ARGS="..."]
# (no MODEL: lenet5; BUDGET: the measured recipe for that time, docs/benchmarks/tiers.md)
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DOCS_STAMP := $(VENV)/.installed-docs
MODEL  ?=
BUDGET ?=
EPOCHS ?=
DEVICE ?= auto
ARGS   ?=
ON     ?=
ACCELERATOR ?=
FILE   ?=
MSG    ?= kagdigits submission

RUN_ID ?= latest

export MALLOC_MMAP_THRESHOLD_ ?= 33554432
export MALLOC_TRIM_THRESHOLD_ ?= 4294967296

# After Ctrl-C kagdigits saves the run, says how to continue and exits 130. A terminal's Ctrl-C
# signals make too, which then prints "make: *** [...] Interrupt"; when only kagdigits gets
# SIGINT (kill -INT PID), this keeps make from adding "Error 130".
CTRL_C_OK := || { rc=$$?; test $$rc -eq 130 && exit 0; exit $$rc; }

.PHONY: install submission resume submit data test bench lint clean serve docs

# PIP_E: setuptools warns about every editable install, despite --quiet, that a folder named
# like the package in the working directory would be imported instead; here that folder is
# the package itself, which the editable install points at, so the warning is dropped.
PIP_E := PYTHONWARNINGS="ignore:Editable installation" $(BIN)/python -m pip install --quiet -e

# (Re)install when .venv is missing or pyproject.toml changed since the last install.
$(STAMP): pyproject.toml
	@echo "Installing kagdigits into $(VENV)/ (the first time: a few minutes)..."
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install --quiet --upgrade pip
	@$(PIP_E) ".[dev,serve]"
	@touch $(STAMP)

install: $(STAMP)

# The docs tools (MkDocs, Material, mkdocstrings) on top of the install above.
$(DOCS_STAMP): $(STAMP)
	$(PIP_E) ".[docs]"
	touch $(DOCS_STAMP)

# ON=kaggle: train in a private kernel on Kaggle's GPU (ACCELERATOR=NvidiaTeslaT4 to choose).
submission: $(STAMP)
	@$(BIN)/kagdigits submission $(if $(MODEL),--model $(MODEL)) \
		$(if $(BUDGET),--budget $(BUDGET)) --device $(DEVICE) \
		$(if $(EPOCHS),--epochs $(EPOCHS)) $(if $(ON),--on $(ON)) \
		$(if $(ACCELERATOR),--accelerator $(ACCELERATOR)) $(ARGS) $(CTRL_C_OK)

# Continue the newest unfinished `make submission` run (RUN_ID=<run-id>: that one).
resume: $(STAMP)
	@$(BIN)/kagdigits submission --resume $(RUN_ID) $(ARGS) $(CTRL_C_OK)

submit: $(STAMP)
	@$(BIN)/kagdigits submit $(FILE) -m "$(MSG)"

data: $(STAMP)
	@$(BIN)/kagdigits download

# The draw-a-digit page and API on http://127.0.0.1:8000/ for the newest trained model
# (runs/*/model.kd or models/*.kd; ARGS="--load a.kd --port 8001" to choose).
serve: $(STAMP)
	@$(BIN)/kagdigits serve $(ARGS) $(CTRL_C_OK)

test: $(STAMP)
	$(BIN)/python -m pytest

bench: $(STAMP)
	$(BIN)/python tests/bench/speed.py
	$(BIN)/python tests/bench/io_speed.py
	$(BIN)/python tests/bench/accuracy.py

# The docs site in site/; warnings are errors (mkdocs.yml: strict).
docs: $(DOCS_STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/python -m mkdocs build --strict --quiet

lint: $(STAMP)
	$(BIN)/ruff check kagdigits tests

clean:
	rm -rf $(VENV) build site *.egg-info
