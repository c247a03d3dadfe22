# Two commands matter: `make up` (the whole system, in the background) and
# `make test` (every test, against a real Kafka broker and Postgres).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
KAFKA_LIBS := .cache/kafka/libs/.fetched
PROJECTS := shared services/sync services/payments services/notifications simulators deploy

.PHONY: up down test install kafka-libs bench clean

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

up: install
	$(PY) -m devstack up

down:
	@if [ -x $(PY) ]; then $(PY) -m devstack down; else echo "nothing to stop"; fi

test: install
	$(PY) -m pytest -p no:cacheprovider $(PYTEST_ARGS)

BENCH ?= pipeline
bench: install
	$(PY) bench/$(BENCH).py

clean: down
	rm -rf $(VENV) .cache .run
