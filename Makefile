# kagdigits — the commands the README promises.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DOCS_STAMP := $(VENV)/.installed-docs
MODEL  ?= lenet5
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

# After Ctrl-C kagdigits says how to continue (exit code 130); make adds no "Error 130".
CTRL_C_OK := || { rc=$$?; test $$rc -eq 130 && exit 0; exit $$rc; }

.PHONY: install submission resume submit data test bench lint clean serve docs

# (Re)install when .venv is missing or pyproject.toml changed since the last install.
$(STAMP): pyproject.toml
	@echo "Installing kagdigits into $(VENV)/ (the first time: a few minutes)..."
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install --quiet --upgrade pip
	@$(BIN)/python -m pip install --quiet -e ".[dev,serve]"
	@touch $(STAMP)

install: $(STAMP)

# The docs tools (MkDocs, Material, mkdocstrings) on top of the install above.
$(DOCS_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e ".[docs]"
	touch $(DOCS_STAMP)

# ON=kaggle: train in a private kernel on Kaggle's GPU (ACCELERATOR=NvidiaTeslaT4 to choose).
submission: $(STAMP)
	@$(BIN)/kagdigits submission --model $(MODEL) --device $(DEVICE) \
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
