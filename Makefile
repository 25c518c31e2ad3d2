# kagdigits — the commands the README promises.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
MODEL  ?= lenet5
EPOCHS ?=
DEVICE ?= auto
ARGS   ?=
FILE   ?=
MSG    ?= kagdigits submission

export MALLOC_MMAP_THRESHOLD_ ?= 33554432
export MALLOC_TRIM_THRESHOLD_ ?= 4294967296

.PHONY: install submission submit data test bench lint clean serve

# (Re)install when .venv is missing or pyproject.toml changed since the last install.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev,serve]"
	touch $(STAMP)

install: $(STAMP)

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

lint: $(STAMP)
	$(BIN)/ruff check kagdigits tests

clean:
	rm -rf $(VENV) build *.egg-info
