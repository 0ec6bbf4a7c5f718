# The two commands the README promises: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell $(PYTHON) -c 'import hashlib,sys;print(hashlib.sha1(open("pyproject.toml","rb").read()).hexdigest()[:10])')
EXTRAS ?= embedded,knowledge,discord,slack,postgres,dev

.PHONY: setup run test lint bench soak clean

# torch goes first, pinned (the CPU build here): an unpinned one pulls GBs of CUDA packages.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install torch==2.13.0
	$(BIN)/python -m pip install -e '.[$(EXTRAS)]'
	rm -f $(VENV)/.installed-* && touch $(STAMP)

setup: $(STAMP)

run: setup
	$(BIN)/tutor ingest course/
	$(BIN)/tutor chat

test: setup
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q

# Every benchmark but the soak, which runs for 30 minutes on its own: `make soak`.
bench: setup
	for script in bench/[!_]*.py; do \
		case $$script in bench/soak.py) continue;; esac; \
		$(BIN)/python $$script || exit 1; \
	done

soak: setup
	$(BIN)/python bench/soak.py --minutes 30

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
