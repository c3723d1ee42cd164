# madoguchi: `make run` (embedded development bot) and `make test` (the whole suite) work on a
# fresh clone with nothing else done. Everything is installed into .venv.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# Test processes (pytest-xdist): one per core by default; TEST_PROCESSES=0 runs in one.
TEST_PROCESSES ?= auto
STAMP  := $(VENV)/.installed-$(shell cksum < pyproject.toml | cut -d' ' -f1)

.PHONY: install run test lint bench i18n system-deps clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	rm -f $(VENV)/.installed-*
	touch $@

# Browser libraries come from the npm registry, pinned by the lock file: Chart.js for the
# console and jsQR for the facility page's coupon scanner (copied into bot/static/vendor), and
# axe-core for the accessibility tests (read from node_modules by tests/browser/axe.py).
NODE_MODULES := frontend/node_modules/.package-lock.json
$(NODE_MODULES): frontend/package-lock.json
	npm ci --prefix frontend --no-audit --no-fund --ignore-scripts --loglevel=error
	touch $@

VENDOR := bot/static/vendor/chart.umd.js
$(VENDOR): $(NODE_MODULES)
	mkdir -p $(@D)
	cp frontend/node_modules/chart.js/dist/chart.umd.js $@

SCANNER := bot/static/vendor/jsQR.js
$(SCANNER): $(NODE_MODULES)
	mkdir -p $(@D)
	cp frontend/node_modules/jsqr/dist/jsQR.js $@

install: $(STAMP) $(VENDOR) $(SCANNER)

# Debian packages the tests need (a Japanese font for the rich-menu image).
system-deps:
	@scripts/system-deps.sh

run: install
	MADOGUCHI_ENV=development $(BIN)/madoguchi serve

test: install system-deps
	$(BIN)/pytest -n $(TEST_PROCESSES) --dist loadfile

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

bench: install
	$(BIN)/python bench/webhook.py

# Extract user-visible strings and update the catalogs; commit the .po and .mo files.
# Every package of the tree is read (a new feature needs no line here), not the tests.
I18N_IGNORE := .* ._ tests bench migrations scripts docs frontend instance build node_modules
i18n: install
	$(BIN)/pybabel extract -F babel.cfg -k _ -k _l -k gettext -k lazy_gettext -k ngettext:1,2 \
		--no-location --omit-header --width=100 --ignore-dirs '$(I18N_IGNORE)' \
		-o bot/translations/messages.pot .
	$(BIN)/pybabel update -i bot/translations/messages.pot -d bot/translations --no-fuzzy-matching \
		--width=100
	$(BIN)/pybabel compile -d bot/translations

clean:
	rm -rf $(VENV) instance .pytest_cache .mypy_cache .ruff_cache
