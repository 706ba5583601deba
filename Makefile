# Two commands do all the set-up on a fresh machine:
#   make train   create .venv, install tfrl, train the default demo (DQN on CartPole-v1)
#   make test    create .venv if needed and run the default test suite
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.tfrl-installed

.PHONY: train test test-slow bench install clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e ".[test]"
	@touch $(STAMP)

install: $(STAMP)

train: $(STAMP)
	TF_CPP_MIN_LOG_LEVEL=2 $(BIN)/tfrl train dqn CartPole-v1

test: $(STAMP)
	TF_CPP_MIN_LOG_LEVEL=2 $(BIN)/python -m pytest -q --durations=15

test-slow: $(STAMP)
	TF_CPP_MIN_LOG_LEVEL=2 $(BIN)/python -m pytest -q -m slow

bench: $(STAMP)
	TF_CPP_MIN_LOG_LEVEL=2 $(BIN)/python benchmarks/dqn_cartpole.py
	TF_CPP_MIN_LOG_LEVEL=2 $(BIN)/python benchmarks/pg_cartpole.py
	TF_CPP_MIN_LOG_LEVEL=2 $(BIN)/python benchmarks/compiled.py

clean:
	rm -rf $(VENV) build src/*.egg-info
