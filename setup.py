"""vocabguard: versioned token vocabularies whose ids always fit the Embedding."""

from setuptools import find_packages, setup

CORE = [
    "numpy>=1.26",
    "pyarrow>=14",
    "tensorflow>=2.16,<2.22",
    "tensorflow-text>=2.16,<2.22",
    # WordPiece on the numpy path without TensorFlow (Rust; same ids as tf-text's
    # FastWordpieceTokenizer, property-tested). See README "Dependencies".
    "tokenizers>=0.15",
    # 2.62: the newest Beam whose Flink and Spark runner jars Maven Central serves here
    # (2.70's Flink runner lacks beam-runners-java-job-service:2.70.0), and the Python
    # SDK must equal the job server's Beam version. See README "Runners".
    "apache-beam>=2.62,<2.63",
    # YAML configs (configs/*.yaml); see README "Dependencies".
    "pyyaml>=6",
    # Progress bars on long builds and encodes.
    "tqdm>=4.60",
    # FarmHash Fingerprint64 for OOV buckets without importing TensorFlow.
    "pyfarmhash>=0.3",
    # CRC32C for Beam's TFRecord reader and writer (Beam does not require one).
    "google-crc32c>=1.5",
    # Keras 3 (TensorFlow ships it; named because vocabguard.keras uses it directly).
    "keras>=3.5",
    # The 64-bit hash of the numpy lookup index (see README "Dependencies").
    "polars>=1.0",
    # The coverage plot of `vocabguard report`.
    "matplotlib>=3.7",
]

setup(
    name="vocabguard",
    version="0.1.0",
    description="Versioned token vocabularies whose ids always fit the Embedding.",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    packages=find_packages(include=["vocabguard", "vocabguard.*"]),
    install_requires=CORE,
    extras_require={
        "test": [
            "pytest>=7",
            "hypothesis>=6.90",
            "ruff==0.17.6",
            "jax[cpu]>=0.4.30",
            # a real S3 API server on 127.0.0.1 for the object-store tests (moto in server mode)
            "moto[server]>=5",
            # the runner tests start a dask.distributed cluster (see "dask" below)
            "apache-beam[dask]",
            # ... and a standalone Spark cluster (see "spark" below)
            "pyspark>=3.5,<3.6",
            # stops the job-server JVMs a FlinkRunner/SparkRunner test started
            "psutil>=5.9",
            # vocabguard.keras.WordPieceTokenizer (the WordPiece Keras export) is tested
            "keras-hub>=0.32",
        ],
        # keras_hub's WordPieceTokenizer for `tokenizer: wordpiece` in Keras (also in "test").
        "keras-hub": ["keras-hub>=0.32"],
        # Beam's DaskRunner and a dask.distributed cluster (`--runner DaskRunner`).
        "dask": ["apache-beam[dask]"],
        # Spark for Beam's Spark job server and `spark-class` (standalone clusters):
        # Beam's spark-3 runner is Scala 2.12, as pyspark 3.5 is (pyspark 4 is 2.13).
        "spark": ["pyspark>=3.5,<3.6"],
        # Keras 3 on JAX: the id guard's JAX path (also in "test").
        "jax": ["jax[cpu]>=0.4.30"],
        # benchmarks/cardinality.py only: the peers the Criteo-shaped build is measured
        # beside (DuckDB's GROUP BY, polars' group_by) and the independent exact count.
        "bench": ["duckdb>=1.0", "polars>=1.0", "psutil>=5.9"],
    },
    entry_points={"console_scripts": ["vocabguard=vocabguard.cli:main"]},
)
