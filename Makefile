# The two commands a newcomer needs: `make run` and `make test`. Both start with `make install`.
PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
# Extras installed into the virtual environment; `make install EXTRAS=dev` skips the torch stack.
EXTRAS ?= dev,train
PYTEST_ARGS ?=

.PHONY: install run test test-fast bench lint clean

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

# Re-running is cheap: pip sees everything is installed. The stamp only records what was asked for.
install: $(VENV)/bin/python
	$(PY) -m pip install --quiet -e ".[$(EXTRAS)]"
	@mkdir -p var/media var/celery
	@# A developer's checkout runs with the local settings; a server sets DJANGO_SETTINGS_MODULE itself.
	@test -f .env || printf '# Written by make install for development; see .env.example for every setting.\nDJANGO_SETTINGS_MODULE=config.settings.local\n' > .env
	@echo "installed into $(VENV) with extras [$(EXTRAS)]"

run: install
	$(PY) manage.py migrate --noinput
	$(PY) manage.py vocabulary_load --if-empty --release "bundled vocabulary"
	$(PY) manage.py seed_demo
	$(PY) manage.py enqueue_samples
	$(PY) manage.py rundev

# Every test, on every core (pytest-xdist): a test file stays on one worker, so an expensive module
# fixture (a real export, a trained model) is built once. The slowest 15 tests are printed at the end
# of every run, so a slow newcomer is seen in CI's log.
test: install
	$(PY) -m pytest -n auto --dist loadfile --durations=15 $(PYTEST_ARGS)

# The inner loop: everything but the tests marked slow (browser, real workers, training, real imports),
# on every core (pytest-xdist: each worker its own test database and media folders).
test-fast: install
	$(PY) -m pytest -m "not slow" -n auto --dist worksteal --durations=15 $(PYTEST_ARGS)

bench: install
	$(PY) -m benchmarks

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports

clean:
	rm -rf var/media var/celery var/*.sqlite3
