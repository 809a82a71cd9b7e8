# Two commands work on a fresh machine:
#   make demo   set up, fetch BBC News, train a topic classifier, check, audit, report
#   make test   set up and run the test suite (what .ci/run runs first)
#   make test-fast  the quick loop: every test but the jvm, cluster and slow ones, 2 processes
#   make setup  the virtualenv .venv with vocabguard[all,test], versions as in
#                 constraints/test.txt (Beam 2.62 for the Flink/Spark job servers)
#   make docs   the documentation site (MkDocs, --strict) into site/; installs the docs extra
#   make docs-check  run every block of the docs pages and the README, in order, each page (with
#                 the pages that run after it) in a temp copy of its own
#   make lineage  a stable-id lineage v1 -> v3 on BBC News; a model trained on v1, migrated
#   make wordpiece  BBC News on a WordPiece vocabulary vs the word-level one: held-out
#                 accuracy and OOV rates (out/wordpiece_compare.json)
#   make jobservers  Beam's Flink and Spark job servers from Maven Central (needs mvn, java 17);
#                 prints the jar paths for --flink_job_server_jar / --spark_job_server_jar
#   make tft-venv  TensorFlow Transform's own virtualenv .venv-tft for the benchmarks' TFT rows
#                 (TFT pins its own TensorFlow and Beam), versions as in benchmarks/tft-constraints.txt
#   make categorical  real categorical tables (vega-datasets movies, flights): nulls, lists,
#                 weighted counts, one id space over two fields; numpy/tf.data/Beam id parity
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STORE ?= vocab_store

.PHONY: setup test test-fast lint demo data lineage data-categorical categorical wordpiece docs docs-check jobservers tft-venv clean

CONSTRAINTS ?= constraints/test.txt

$(BIN)/vocabguard: setup.py $(CONSTRAINTS)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c $(CONSTRAINTS) -e '.[all,test]'
	touch $@

setup: $(BIN)/vocabguard

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# Two processes by default (this machine has 2 cores); TEST_WORKERS=0 runs in one.
TEST_WORKERS ?= 2

test: lint
	TF_CPP_MIN_LOG_LEVEL=3 $(BIN)/python -m pytest -q -n $(TEST_WORKERS)

# The markers are applied in tests/conftest.py (pytest.ini lists them).
test-fast: setup
	TF_CPP_MIN_LOG_LEVEL=3 $(BIN)/python -m pytest -q -n $(TEST_WORKERS) -m "not jvm and not cluster and not slow"

data: setup
	$(BIN)/python scripts/fetch_data.py --corpus bbc

jobservers: setup
	$(BIN)/python scripts/jobservers.py flink spark

# Created once, finished if interrupted, rebuilt when the constraints change.
tft-venv:
	$(PYTHON) benchmarks/harness/tft.py

demo: data
	rm -rf out/bbc_news_model out/demo
	@echo "== train: vocabulary from the train split, tf.data encoding, Keras model, held-out accuracy"
	$(BIN)/vocabguard --store $(STORE) train --config configs/bbc_news.yaml
	@echo "== the saved model against its vocabulary (passes) and another one (must fail)"
	$(BIN)/vocabguard --store $(STORE) check-model out/bbc_news_model/model.keras --vocab bbc_news_train@latest
	$(BIN)/vocabguard build --store $(STORE) --name bbc_news \
		--input data/bbc_news/articles.txt --config configs/bbc_news_vocab.yaml
	! $(BIN)/vocabguard --store $(STORE) check-model out/bbc_news_model/model.keras --vocab bbc_news@latest
	@echo "== encode all articles, audit the ids, coverage report"
	$(BIN)/vocabguard encode --store $(STORE) bbc_news_train@latest \
		--input data/bbc_news/articles.txt --output out/demo/bbc_news_ids.parquet
	$(BIN)/vocabguard --store $(STORE) audit out/demo/bbc_news_ids.parquet --vocab bbc_news_train@latest
	$(BIN)/vocabguard --store $(STORE) report bbc_news_train@latest \
		--data data/bbc_news/test.jsonl --field text --output out/demo/report
	@echo "== metrics: out/bbc_news_model/metrics.json; report: out/demo/report/report.html"

# The docs extra is installed on demand: `make setup` (and so `make test`) does not need it.
# Only its own packages, read from the metadata `make setup` installed from setup.py
# (reinstalling '.[all,test,docs]' had pip resolve and check every other package again).
DOCS_REQUIREMENTS = $(BIN)/python -c 'from importlib.metadata import requires; \
	print(" ".join(r.split(";")[0] for r in requires("vocabguard") if r.endswith("extra == \"docs\"")))'
$(BIN)/mkdocs: $(BIN)/vocabguard setup.py
	$(BIN)/pip install -q -c $(CONSTRAINTS) $$($(DOCS_REQUIREMENTS))
	touch $@

docs: $(BIN)/mkdocs
	NO_MKDOCS_2_WARNING=1 TF_CPP_MIN_LOG_LEVEL=3 $(BIN)/mkdocs build --strict --quiet

docs-check: data
	$(BIN)/python scripts/docs_check.py

lineage: data
	rm -rf out/lineage out/lineage_store
	@echo "== v1 -> v2 -> v3 on growing thirds of the train split; train on v1, migrate to v3"
	$(BIN)/python pipelines/lineage.py --config configs/bbc_news.yaml \
		--store out/lineage_store --name bbc_lineage --slices 3 --output out/lineage
	$(BIN)/vocabguard --store out/lineage_store list bbc_lineage
	$(BIN)/vocabguard --store out/lineage_store diff bbc_lineage@v1 bbc_lineage@v3 --check \
		--data data/bbc_news/test.jsonl --field text --limit 5
	$(BIN)/vocabguard --store out/lineage_store check-model out/lineage/model_v3.keras \
		--vocab bbc_lineage@v3

data-categorical: setup
	$(BIN)/python scripts/fetch_data.py --corpus vega

categorical: data-categorical
	rm -rf out/movies_model out/flights_model
	@echo "== movies: Director/Distributor with nulls ([MISSING]), votes-weighted distributors, a list"
	$(BIN)/vocabguard --store $(STORE) train --config configs/movies.yaml
	@echo "== flights: origin and destination airports in one id space, one shared Embedding"
	$(BIN)/vocabguard --store $(STORE) train --config configs/flights.yaml
	$(BIN)/vocabguard --store $(STORE) inspect movies_director@latest
	$(BIN)/vocabguard --store $(STORE) inspect movies_distributor@latest
	$(BIN)/vocabguard --store $(STORE) inspect flights_airports@latest
	@echo "== every field of both tables: numpy, tf.data and Beam give identical ids"
	$(BIN)/python pipelines/categorical_parity.py --store $(STORE)

wordpiece: data
	rm -rf out/bbc_news_model out/bbc_news_wordpiece_model
	@echo "== the same classifier on a word-level and on a WordPiece vocabulary (train split only)"
	$(BIN)/vocabguard --store $(STORE) train --config configs/bbc_news.yaml
	$(BIN)/vocabguard --store $(STORE) train --config configs/bbc_news_wordpiece.yaml
	$(BIN)/vocabguard --store $(STORE) inspect bbc_news_train_wordpiece@latest
	$(BIN)/python pipelines/wordpiece_compare.py --store $(STORE) \
		--words out/bbc_news_model --pieces out/bbc_news_wordpiece_model \
		--test data/bbc_news/test.jsonl --field text --output out/wordpiece_compare.json

clean:
	rm -rf out $(STORE) site
