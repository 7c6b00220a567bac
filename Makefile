# Two commands: `make repro` runs the pipeline, `make test` runs the lint gate, the documentation's
# strict build, then the tests. Both create .venv first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: repro test lint docs docs-serve bench clean-venv browser

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=23" -c constraints.txt
	$(BIN)/python -m pip install --quiet "setuptools<81" wheel
	# The CPU build of torch first, so nothing pulls a CUDA build; a torch already here (CUDA) stays.
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[dev,docs]"
	# face-alignment (the FAN landmarks backend) without its declared deps: they would replace
	# the headless OpenCV with the GUI one. What it needs is in pyproject.toml.
	$(BIN)/python -m pip install --quiet --no-deps "face-alignment==1.5.0"
	touch $(STAMP)

repro: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/dvc repro

# The listening page's test opens it in headless Chromium (Debian's package). Installed when
# missing and this runs as root on Debian; otherwise that one test says why it is skipped.
browser:
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 \
		&& apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null; } \
		|| echo "chromium not installed: the browser test will be skipped"

# ruff (pycodestyle, pyflakes, import order, bugbear, pyupgrade) and mypy, configured in pyproject.toml.
lint: $(STAMP)
	$(BIN)/ruff check pipeline models bench tests
	$(BIN)/mypy

# The documentation site (docs/, mkdocs.yml) into site/; strict: a broken link or anchor fails it.
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet

docs-serve: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs serve

test: $(STAMP) lint docs browser
	$(BIN)/python -m pytest -ra

bench: $(STAMP)
	$(BIN)/python -m bench.corpus
	$(BIN)/python -m bench.landmarks
	$(BIN)/python -m bench.clips
	$(BIN)/python -m bench.dataset
	$(BIN)/python -m bench.train
	$(BIN)/python -m bench.evaluate
	$(BIN)/python -m bench.speak
	$(BIN)/python -m bench.scale

clean-venv:
	rm -rf $(VENV)
