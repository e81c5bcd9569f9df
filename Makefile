# Two commands set everything up on a fresh machine: `make demo` and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
CONSTRAINTS ?= constraints-cpu.txt

.PHONY: demo test test-all install clean

$(STAMP): pyproject.toml setup.py $(CONSTRAINTS)
	python3 -m venv $(VENV)
	$(PY) -m pip install -q -c $(CONSTRAINTS) -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(PY) -m edge_moe.demo

# ffmpeg and rtsp-server-perl are installed when possible; otherwise the tests needing them are skipped and listed.
test: $(STAMP)
	@.ci/system-deps
	$(PY) -m pytest -q

clean:
	rm -rf $(VENV) runs .pytest_cache
