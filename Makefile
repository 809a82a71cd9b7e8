# Two commands work on a fresh machine:
#   make demo   set up, fetch BBC News, build + inspect + encode a vocabulary
#   make test   set up and run the test suite (what .ci/run runs)
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STORE ?= vocab_store

.PHONY: setup test lint demo data clean

$(BIN)/vocabguard: setup.py
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $@

setup: $(BIN)/vocabguard

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: lint
	TF_CPP_MIN_LOG_LEVEL=3 $(BIN)/python -m pytest -q

data: setup
	$(BIN)/python scripts/fetch_data.py --corpus bbc

demo: data
	rm -rf out/demo
	$(BIN)/vocabguard build --store $(STORE) --name bbc_news \
		--input data/bbc_news/articles.txt --config configs/bbc_news_vocab.yaml
	$(BIN)/vocabguard inspect --store $(STORE) bbc_news@latest
	$(BIN)/vocabguard verify --store $(STORE) bbc_news@latest
	$(BIN)/vocabguard encode --store $(STORE) bbc_news@latest \
		--input data/bbc_news/articles.txt --output out/demo/bbc_news_ids.parquet
	$(BIN)/python -c "import pyarrow.parquet as pq; t = pq.read_table('out/demo/bbc_news_ids.parquet'); print(t.num_rows, 'rows;', {k.decode(): v.decode() for k, v in t.schema.metadata.items() if k.startswith(b'vocabguard')})"

clean:
	rm -rf out $(STORE)
