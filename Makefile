# `make demo`: set up .venv and run the main job on what ships with the repo.
# `make test`: set up .venv and run the linters, the type checker and the whole test suite.
# `make test-fast`: ruff and the tests that take under a few seconds each (about 100 s), for the
# edit-test loop.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
OUT ?= out/demo

.PHONY: setup demo test test-fast lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

setup: $(STAMP)

demo: $(STAMP)
	rm -rf $(OUT)
	@echo "== read the committed sample staves (images and a label PDF) -> stave text, MusicXML"
	$(BIN)/python -m omr.extract datasets/sample -o $(OUT)/read
	@echo "== score what was read against the sample's truths"
	$(BIN)/python -m omr.evaluate datasets/sample
	@echo "== train the char-LSTM briefly on what was read, starting from the shipped stave model"
	$(BIN)/python -m generate.train --corpus $(OUT)/read/corpus.txt --kind stave \
		--init-from generate/weights/stave-charlstm.pt -o $(OUT)/read-run --max-steps 30 \
		--batch-size 4 --seq-len 64 \
		--eval-every 10 --val-fraction 0.2
	$(BIN)/python -m generate.sample --checkpoint $(OUT)/read-run/best.pt -o $(OUT)/read-samples \
		--num 4 --seed 1
	@echo "== train the char-LSTM briefly on music21's bundled ABC corpus"
	$(BIN)/python -m generate.train -o $(OUT)/run --minutes 1 --eval-every 50
	@echo "== sample 4 ABC tunes from the shipped model -> ABC, MusicXML, MIDI"
	$(BIN)/python -m generate.sample -o $(OUT)/abc --num 4 --seed 1
	@echo "== sample 4 stave-text pieces from the shipped stave model -> text, MusicXML, MIDI"
	$(BIN)/python -m generate.sample --kind stave -o $(OUT)/stave --num 4 --seed 1
	@echo "== bits per character of the samples under the shipped model"
	$(BIN)/python -m generate.evaluate $(OUT)/abc/*.abc
	@echo "== build a few stave images of each split with their truth, and a contact sheet"
	$(BIN)/python -m omr.dataset build $(OUT)/staves --clean 3 --synth 3 --real 3 --contact-sheet
	@echo "demo output in $(OUT)/ (read staves: read/; samples: read-samples/, abc/, stave/;"
	@echo "  training runs: read-run/, run/; new stave images: staves/)"

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: lint
	$(BIN)/python -m pytest

test-fast: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -m 'not slow'

bench: $(STAMP)
	$(BIN)/python bench/generate_speed.py
	$(BIN)/python bench/abc_validity.py
	$(BIN)/python bench/omr_speed.py

clean:
	rm -rf $(VENV) out runs .pytest_cache .mypy_cache .ruff_cache .hypothesis
