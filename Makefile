# Settle — the two commands a newcomer needs are `make run` and `make test`.
SHELL := /bin/bash
VENV  := .venv
BIN   := $(VENV)/bin
RASA  := $(BIN)/rasa
STAMP := $(VENV)/.installed-$(shell cat requirements.lock pyproject.toml package-lock.json | cksum | cut -d' ' -f1)
# Rasa's own telemetry would try to reach the internet.
export RASA_TELEMETRY_ENABLED := false
export TF_CPP_MIN_LOG_LEVEL := 2

.PHONY: install lock lint train validate test test-stories test-python test-scale browser run bench bench-turns bench-scale bench-growth bench-hostile bench-reminders eval clean

install: $(STAMP)

$(STAMP): requirements.lock pyproject.toml package-lock.json
	@test -x $(BIN)/python || $$(scripts/find-python) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip<25"
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	$(BIN)/python -m pip check
	@command -v npm >/dev/null || { echo "error: npm (Node.js) is needed for the web chat widget" >&2; exit 1; }
	npm ci --no-audit --no-fund --loglevel=error
	@rm -f $(VENV)/.installed-* && touch $@

# The browser tests drive Debian's Chromium; as root (CI) it is installed when missing.
browser:
	@command -v chromium >/dev/null || { [ "$$(id -u)" = 0 ] && \
	  { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; } || \
	  echo "chromium not installed: the browser tests will be skipped"; }

# Re-resolve requirements.in in one pass and pin everything (run after editing requirements.in).
lock:
	rm -rf .venv-lock && $$(scripts/find-python) -m venv .venv-lock
	.venv-lock/bin/python -m pip install --quiet --upgrade "pip<25"
	.venv-lock/bin/python -m pip install --quiet -r requirements.in
	.venv-lock/bin/python -m pip check
	.venv-lock/bin/python -m pip freeze --exclude-editable > requirements.lock
	rm -rf .venv-lock

# Rasa's fingerprinting skips training when data, domain and config are unchanged.
train: install
	$(RASA) train --out models --fixed-model-name settle

validate: install
	$(RASA) data validate --fail-on-warnings

# endpoints.yml names the action secret; story tests run no actions, any value will do.
test-stories: train
	SETTLE_ACTION_SECRET=$${SETTLE_ACTION_SECRET:-story-tests} ACTION_SERVER_URL=$${ACTION_SERVER_URL:-http://localhost:5055/webhook} \
	  $(RASA) test core --model models/settle.tar.gz --stories tests/stories \
	  --fail-on-prediction-errors --out results/stories

# pytest exits 5 when it collected no test: that is a failure here, never a silent pass.
test-python: train browser
	@$(BIN)/pytest; rc=$$?; if [ $$rc -eq 5 ]; then echo "pytest collected no tests" >&2; exit 1; fi; exit $$rc

# Lint (ruff: rules and formatting) and types (mypy; strict on the pure cores): pyproject.toml.
lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# Two Rasa servers and two Settle services on the local PostgreSQL and Redis, 50 customers.
test-scale: train
	@$(BIN)/pytest -m scale tests/scale; rc=$$?; if [ $$rc -eq 5 ]; then echo "pytest collected no tests" >&2; exit 1; fi; exit $$rc

test: lint validate test-stories test-python test-scale

run: train
	$(BIN)/settle run

# The turn table (Settle beside Rasa's starter bot), the pay flow, training, the reminder engine.
bench: train
	$(BIN)/python scripts/bench.py $(BENCH_ARGS)

# What one turn costs, side by side with `rasa init`'s starter bot (trained once into .cache/).
bench-turns: train
	$(BIN)/python scripts/bench_turns.py $(BENCH_ARGS)

# Two Rasa servers and two Settle services on the local PostgreSQL and Redis, beside the
# starter bot; then what 1,000 concurrent callers need (docs/capacity.md).
bench-scale: train
	$(BIN)/python scripts/bench_scale.py $(BENCH_ARGS)
	$(BIN)/python scripts/capacity.py

# A 40-turn conversation: does turn 40 cost more than turn 2?
bench-growth: train
	$(BIN)/python scripts/bench_growth.py $(BENCH_ARGS)

# What hostile input costs: the card-number masker, and 100,000-character messages over HTTP.
bench-hostile: train
	$(BIN)/python scripts/bench_hostile.py

# The reminder engine alone (needs no model): planned and dispatched per second, memory.
bench-reminders: install
	$(BIN)/python scripts/bench.py --only reminders $(BENCH_ARGS)

# Understanding per language on both test sets, never trained on: held-out (tests/nlu/) and
# unseen (tests/nlu/unseen/, real callers' and texters' style); CV=1 adds 3-fold cross-validation.
eval: train
	$(BIN)/python scripts/eval_nlu.py $(if $(CV),--cross-validation)

clean:
	rm -rf models results var .pytest_cache
