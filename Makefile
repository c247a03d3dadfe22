# Two commands matter: `make up` (the whole system, in the background) and
# `make test` (every test, against a real Kafka broker and Postgres).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
KAFKA_LIBS := .cache/kafka/libs/.fetched
PROJECTS := shared services/sync services/payments services/notifications services/portal simulators deploy cli

# Browser tests drive Debian's Chromium through Playwright (Playwright's own browser download cannot
# reach the internet on these machines).
CHROMIUM := /usr/bin/chromium

.PHONY: up down test install kafka-libs browser bench chaos clean

install: $(STAMP) $(KAFKA_LIBS)

$(STAMP): $(addsuffix /pyproject.toml,$(PROJECTS)) requirements-dev.txt constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -c constraints.txt -r requirements-dev.txt $(addprefix -e ,$(PROJECTS))
	touch $@

$(KAFKA_LIBS): deploy/kafka/pom.xml
	mvn -B -q -f deploy/kafka/pom.xml \
	  org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy-dependencies \
	  -DincludeScope=runtime -DoutputDirectory=$(CURDIR)/.cache/kafka/libs
	touch $@

kafka-libs: $(KAFKA_LIBS)

browser: $(CHROMIUM)

$(CHROMIUM):
	@if [ "$$(id -u)" != 0 ]; then echo "the browser tests need Debian's chromium: sudo apt-get install -y chromium"; exit 1; fi
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null

up: install
	$(PY) -m devstack up

down:
	@if [ -x $(PY) ]; then $(PY) -m devstack down; else echo "nothing to stop"; fi

test: install browser
	$(PY) -m pytest -p no:cacheprovider $(PYTEST_ARGS)

# Seeded chaos runs (tests/chaos/harness): RUNS runs from seed SEED, one line each and a table at the end.
RUNS ?= 10
SEED ?= 1
chaos: install kafka-libs
	$(PY) -m tests.chaos.run --runs $(RUNS) --seed $(SEED)

BENCH ?= pipeline
BENCH_ARGS ?=
bench: install
	$(PY) bench/$(BENCH).py $(BENCH_ARGS)

clean: down
	rm -rf $(VENV) .cache .run
