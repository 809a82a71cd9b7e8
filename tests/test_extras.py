"""The core install works alone; a face or command whose extra is missing says which to install.

Each test runs Python in a subprocess whose import system refuses the optional
modules (a ``sys.meta_path`` finder raising ``ModuleNotFoundError``, as a missing
package would), so the extras stay installed for the rest of the suite.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

ALL_EXTRAS = (
    "tensorflow",
    "tensorflow_text",
    "keras",
    "keras_hub",
    "apache_beam",
    "google_crc32c",
    "matplotlib",
    "dask",
    "distributed",
    "pyspark",
    "jax",
)

BLOCKER = textwrap.dedent(
    """
    import sys

    class Missing:
        names = set(sys.argv.pop(1).split(","))

        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in self.names:
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
            return None

    sys.meta_path.insert(0, Missing())
    """
)


def run_without(modules, code: str, cwd=None) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh Python in which ``modules`` cannot be imported."""
    return subprocess.run(
        [sys.executable, "-c", BLOCKER + textwrap.dedent(code), ",".join(modules)],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
        timeout=300,
    )


def cli_without(modules, argv: list[str], cwd) -> subprocess.CompletedProcess:
    code = f"from vocabguard.cli import main\nsys.exit(main({argv!r}))\n"
    return run_without(modules, code, cwd=cwd)


@pytest.mark.parametrize(
    "face, module, what, extra",
    [
        ("vocabguard.tf", "tensorflow", "TensorFlow", "tf"),
        ("vocabguard.keras", "keras", "Keras", "tf"),
        ("vocabguard.serving", "tensorflow", "TensorFlow", "tf"),
        ("vocabguard.beam", "apache_beam", "Apache Beam", "beam"),
    ],
)
def test_a_face_without_its_extra_is_one_line_naming_the_extra(face, module, what, extra):
    result = run_without(
        [module],
        f"""
        try:
            import {face}
        except ImportError as err:
            print(type(err).__name__, err)
        """,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == (
        f"MissingExtraError {face} needs {what}, which is not installed. Install it with "
        f"`pip install 'vocabguard[{extra}]'`. Received: module='{module}'\n"
    )


def test_the_core_alone_imports_builds_encodes_and_publishes(tmp_path):
    result = run_without(
        ALL_EXTRAS,
        f"""
        import vocabguard as vg

        spec = vg.VocabSpec(lowercase=True, num_oov_buckets=2, sequence_length=4)
        vocab = vg.build_vocabulary(["A b b", "c b"], spec, progress=False)
        vocab = vg.VocabStore({str(tmp_path / "store")!r}).publish(vocab, "docs")
        print(vocab.ref, vocab.encode(["b zz"]).tolist())
        """,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "docs@v1 [[3, 1, 0, 0]]\n"


def test_the_cli_without_any_extra_builds_encodes_and_audits(tmp_path):
    (tmp_path / "docs.txt").write_text("a b b\nc b\n")
    store = ["--store", str(tmp_path / "store")]
    steps = [
        ["--help"],
        ["build", *store, "--name", "docs", "--input", "docs.txt"],
        ["encode", *store, "docs@v1", "--input", "docs.txt", "--output", "ids.parquet"],
        ["audit", *store, "ids.parquet", "--vocab", "docs@v1"],
    ]
    for argv in steps:
        result = cli_without(ALL_EXTRAS, argv, cwd=tmp_path)
        assert result.returncode == 0, (argv, result.stderr)
    assert "docs@v1" in cli_without(ALL_EXTRAS, ["list", *store], cwd=tmp_path).stdout


@pytest.mark.parametrize(
    "argv, module, what, extra",
    [
        (["build", "--runner", "DirectRunner"], "apache_beam", "Apache Beam", "beam"),
        (
            ["report", "docs@v1", "--data", "docs.txt", "--output", "r"],
            "matplotlib",
            "matplotlib",
            "report",
        ),
        (["build", "--runner", "DaskRunner"], "dask", "Dask", "dask"),
    ],
)
def test_a_command_without_its_extra_is_one_line_naming_the_extra(
    tmp_path, argv, module, what, extra
):
    (tmp_path / "docs.txt").write_text("a b b\nc b\n")
    store = ["--store", str(tmp_path / "store")]
    built = cli_without(
        ALL_EXTRAS, ["build", *store, "--name", "docs", "--input", "docs.txt"], tmp_path
    )
    assert built.returncode == 0, built.stderr
    if argv[0] == "build":
        argv = [*argv, *store, "--name", "docs", "--input", "docs.txt"]
    else:
        argv = [argv[0], *store, *argv[1:]]
    blocked = [module] if module != "dask" else ["dask", "distributed"]
    result = cli_without(blocked, argv, cwd=tmp_path)
    assert result.returncode == 1
    command = argv[0]
    if module == "dask":  # the runner's own module is what fails to import
        command = None
    prefix = f"vocabguard {command}" if command else "Runner 'DaskRunner'"
    assert result.stderr == (
        f"vocabguard: error: {prefix} needs {what}, which is not installed. Install it with "
        f"`pip install 'vocabguard[{extra}]'`. Received: module='{module}'\n"
    )
