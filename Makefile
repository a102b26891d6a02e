# The two commands a fresh machine needs: `make run` and `make test`.
# Both install first; `make install` is idempotent and fast when nothing changed.

PYTHON  ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
# Debian packages the test suite drives as real peers or uses to make test audio.
APT_PACKAGES ?= redis-server espeak-ng libc++1 graphviz sip-tester baresip kamailio chromium
PYTEST_ARGS  ?=

.PHONY: install run test lint format clean apt

install: apt $(STAMP)

apt:
	@missing=""; for p in $(APT_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing; \
	  case "$$missing" in *kamailio*) \
	    # The bridge runs Kamailio itself (--sip-workers); the package's own service \
	    # would hold port 5060. \
	    if command -v systemctl >/dev/null && systemctl is-active -q kamailio 2>/dev/null; then \
	      $$SUDO systemctl disable --now kamailio; fi;; \
	  esac; \
	fi

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[dev]"
	@touch $(STAMP)

run: install
	$(BIN)/callbridge serve

test: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) data .pytest_cache .ruff_cache .hypothesis
