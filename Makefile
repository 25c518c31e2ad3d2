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
FILE   ?=
MSG    ?= kagdigits submission

export MALLOC_MMAP_THRESHOLD_ ?= 33554432
export MALLOC_TRIM_THRESHOLD_ ?= 4294967296

.PHONY: install submission submit data test bench lint clean serve docs

# (Re)install when .venv is missing or pyproject.toml changed since the last install.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev,serve]"
	touch $(STAMP)

install: $(STAMP)

# The docs tools (MkDocs, Material, mkdocstrings) on top of the install above.
$(DOCS_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e ".[docs]"
	touch $(DOCS_STAMP)

submission: $(STAMP)
	$(BIN)/kagdigits submission --model $(MODEL) --device $(DEVICE) \
		$(if $(EPOCHS),--epochs $(EPOCHS)) $(ARGS)

submit: $(STAMP)
	$(BIN)/kagdigits submit $(FILE) -m "$(MSG)"

data: $(STAMP)
	$(BIN)/kagdigits download

# The draw-a-digit page and API on http://127.0.0.1:8000/ (ARGS="--load a.kd --port 8001").
serve: $(STAMP)
	$(BIN)/kagdigits serve $(ARGS)

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
