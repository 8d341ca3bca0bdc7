# ses-sigma: every entry point a user or CI needs. `make test` and `make convert` set
# everything up on a fresh machine (Python 3.11+ and the package index are all they need).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: test fuzz demo convert docs bench eval lint check format format-rules report clean

$(STAMP): pyproject.toml constraints.txt setup.py $(wildcard src/ses_sigma/prefilter/*.[ch] src/ses_sigma/rowkeys/*.c)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev,spark,lucene,bench]'
	touch $(STAMP)

## test: lint, then the whole suite (unit tests, every fixture case, conversion proofs)
test: $(STAMP)
	$(BIN)/ruff check src tests
	$(BIN)/pytest -q -n auto --dist loadgroup

## fuzz: the Hypothesis property tests (tests/fuzz) with a long example budget; `make test` runs
## them too, with a small fixed budget (profiles in tests/fuzz/conftest.py)
fuzz: $(STAMP)
	HYPOTHESIS_PROFILE=fuzz $(BIN)/pytest -q -n auto tests/fuzz

## convert: every rule x target x format into dist/ (committed; a test fails when it is stale)
convert: $(STAMP)
	$(BIN)/ses-sigma convert --all --skip-unsupported --output dist

## demo: scan the bundled example CloudTrail logs with the pack and print the alerts
demo: $(STAMP)
	$(BIN)/ses-sigma scan --format table examples/

## bench: ses-sigma scan side by side with DuckDB on 1 M generated CloudTrail records (records/s, peak RSS)
BENCH_ARGS ?= --memory
bench: $(STAMP)
	$(BIN)/python -m ses_sigma.bench $(BENCH_ARGS)

## eval: the pack on the campaign replays and the benign corpus; fails when scenarios/claims.yml does not hold
eval: $(STAMP)
	$(BIN)/ses-sigma eval --claims scenarios/claims.yml

## check: lint the rule pack (pySigma + SigmaHQ validators offline, pack conventions, fixture coverage)
check: $(STAMP)
	$(BIN)/ses-sigma check

## format-rules: rule and fixture files are UTF-8 with LF, a final newline, 2-space indentation, no tabs or trailing spaces
format-rules: $(STAMP)
	$(BIN)/ses-sigma check-format rules fixtures

## report: Markdown review of the rule changes since BASE (a git ref), for a pull-request comment
BASE   ?= origin/main
REPORT ?= ses-sigma-report.md
report: $(STAMP)
	$(BIN)/ses-sigma report --base "$(BASE)" --output "$(REPORT)"

## docs: rule reference (docs/rules/), coverage page and ATT&CK Navigator layer, generated and committed
docs: $(STAMP)
	$(BIN)/ses-sigma docs --output docs

lint: $(STAMP)
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests

format: $(STAMP)
	$(BIN)/ruff format src tests
	$(BIN)/ruff check --fix src tests

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info .pytest_cache .ruff_cache
