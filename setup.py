"""vocabguard: versioned token vocabularies whose ids always fit the Embedding."""

import re
from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).resolve().parent
# One version source: vocabguard/_src/core/version.py (read, not imported: setup.py
# must run before the dependencies are installed).
VERSION = re.search(
    r'^__version__ = "([^"]+)"',
    (HERE / "vocabguard" / "_src" / "core" / "version.py").read_text(encoding="utf-8"),
    re.M,
).group(1)

# What every use needs: `import vocabguard`, the CLI, the in-process build, encode and
# store (numpy/pyarrow). TensorFlow, Keras, Beam and matplotlib are extras (below).
CORE = [
    "numpy>=1.26",
    "pyarrow>=14",
    # WordPiece on the numpy path without TensorFlow (Rust; same ids as tf-text's
    # FastWordpieceTokenizer, property-tested). See docs/dependencies.md.
    "tokenizers>=0.15",
    # YAML configs (configs/*.yaml); see docs/dependencies.md.
    "pyyaml>=6",
    # Progress bars on long builds and encodes.
    "tqdm>=4.60",
    # FarmHash Fingerprint64 for OOV buckets without importing TensorFlow.
    "pyfarmhash>=0.3",
    # The 64-bit hash of the numpy lookup index (see docs/dependencies.md).
    "polars>=1.0",
]

EXTRAS = {
    # vocabguard.tf, vocabguard.keras, vocabguard.serving, `train`, `check-model`,
    # `export`. tensorflow-text pins its own TensorFlow minor version, so no upper pin.
    "tf": [
        "tensorflow>=2.16",
        "tensorflow-text>=2.16",
        # Keras 3 (TensorFlow ships it; named because vocabguard.keras uses it directly).
        "keras>=3.5",
    ],
    # vocabguard.beam, `build --runner`, `build/encode --config JOB.yaml`.
    # 2.62 is the oldest Beam tested; newer releases are tested in CI (.ci/run). The
    # Flink/Spark tests pin 2.62.0 through constraints/test.txt, not here.
    "beam": [
        "apache-beam>=2.62",
        # CRC32C for Beam's TFRecord reader and writer (Beam does not require one).
        "google-crc32c>=1.5",
    ],
    # The coverage plot of `vocabguard report`.
    "report": ["matplotlib>=3.7"],
    # keras_hub's WordPieceTokenizer for `tokenizer: wordpiece` in Keras.
    "keras-hub": ["keras-hub>=0.32"],
    # Beam's DaskRunner and a dask.distributed cluster (`--runner DaskRunner`).
    "dask": ["apache-beam[dask]>=2.62"],
    # Spark for Beam's Spark job server and `spark-class` (standalone clusters):
    # Beam's spark-3 runner is Scala 2.12, as pyspark 3.5 is (pyspark 4 is 2.13).
    "spark": ["pyspark>=3.5,<3.6"],
    # Keras 3 on JAX: the id guard's JAX path.
    "jax": ["jax[cpu]>=0.4.30"],
}
EXTRAS["all"] = sorted({req for reqs in EXTRAS.values() for req in reqs})
# benchmarks/cardinality.py only (not in "all"): DuckDB's GROUP BY, the peer the
# Criteo-shaped build is measured beside and the independent exact count (polars is core).
EXTRAS["bench"] = ["duckdb>=1.0", "psutil>=5.9"]
# `make docs` only (not in "all"): the documentation site, built with --strict; see
# docs/dependencies.md.
EXTRAS["docs"] = ["mkdocs>=1.6", "mkdocs-material>=9.5", "mkdocstrings[python]>=0.26"]
EXTRAS["test"] = [
    *EXTRAS["all"],
    "pytest>=7",
    # `make test-fast -n 2` (two processes).
    "pytest-xdist>=3",
    "hypothesis>=6.90",
    "ruff==0.17.6",
    # a real S3 API server on 127.0.0.1 for the object-store tests (moto in server mode)
    "moto[server]>=5",
    # stops the job-server JVMs a FlinkRunner/SparkRunner test started
    "psutil>=5.9",
    # .ci/run builds the sdist and wheel (`python -m build`)
    "build>=1",
    # BertTokenizerFast: the reference an imported BERT vocab.txt is checked against
    "transformers>=4.40",
    # tests/test_docs.py runs the docs' doctest hook (docs/hooks/griffe_doctest.py), which
    # imports griffe (the docs extra's docstring parser)
    "griffe>=1",
]

setup(
    name="vocabguard",
    version=VERSION,
    description="Versioned token vocabularies whose ids always fit the Embedding.",
    long_description=(HERE / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    packages=find_packages(include=["vocabguard", "vocabguard.*"]),
    install_requires=CORE,
    extras_require=EXTRAS,
    entry_points={"console_scripts": ["vocabguard=vocabguard.cli:main"]},
)
