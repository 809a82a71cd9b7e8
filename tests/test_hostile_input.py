"""Hostile input: small files that ask for unbounded memory, records that used to
raise tracebacks, and values the paths disagreed on.

Each test reproduces one attack and checks the error TEXT (one line, naming what
was too large or where, and the knob or fix), and, for records, that
``bad_records: skip`` counts them. Memory bounds are checked without timing: the
attack runs in a subprocess under ``RLIMIT_AS``, so it either fails cleanly or is
killed by the limit.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from vocabguard import VocabSpec
from vocabguard._src.core.errors import quoted, received
from vocabguard._src.core.guard import guard_ids
from vocabguard._src.core.spec import MAX_INPUT_DIM, MAX_NUM_OOV_BUCKETS, load_yaml
from vocabguard.cli import main
from vocabguard.errors import ConfigError, InputDataError, SpecError

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_limited(code: str, limit_mb: int, *args: str) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh Python whose address space is capped at ``limit_mb``."""
    prelude = (
        "import resource\n"
        f"resource.setrlimit(resource.RLIMIT_AS, ({limit_mb} << 20, {limit_mb} << 20))\n"
    )
    env = {**os.environ, "PYTHONPATH": REPO, "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.run(
        [sys.executable, "-c", prelude + textwrap.dedent(code), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )


def one_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(lines) == 1, text
    return lines[0]


# -- YAML: one loader, bounded --

BILLION_LAUGHS = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n' + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{','.join(['*' + chr(97 + i)] * 9)}]\n" for i in range(8)
)


@pytest.mark.parametrize(
    "tail",
    ["", "reserved_tokens: *i\n"],
    ids=["unknown_keys", "reserved_tokens"],
)
def test_yaml_alias_bomb_is_refused_before_expansion(tmp_path, capsys, tail):
    path = tmp_path / "bomb.yaml"
    path.write_text(BILLION_LAUGHS + tail)
    assert path.stat().st_size < 600
    with pytest.raises(ConfigError) as info:
        VocabSpec.from_yaml(path)
    assert str(info.value) == (
        f"Config file {path} expands to more than 1,000,000 values: its aliases (*name) "
        "repeat anchored values, each use counted (a YAML alias bomb). Write the values out "
        f"without aliases, or shorten the file. Received: path='{path}'"
    )
    argv = ["build", "--name", "n", "--input", str(path), "--config", str(path)]
    assert main([*argv, "--store", str(tmp_path / "st")]) == 1
    assert "expands to more than 1,000,000 values" in one_line(capsys.readouterr().err)


def test_yaml_alias_bomb_stays_within_memory(tmp_path):
    path = tmp_path / "bomb.yaml"
    path.write_text(BILLION_LAUGHS + "reserved_tokens: *i\n")
    result = run_limited(
        """
        import sys
        from vocabguard._src.core.spec import VocabSpec
        try:
            VocabSpec.from_yaml(sys.argv[1])
        except Exception as err:
            print(type(err).__name__)
        """,
        1024,
        str(path),
    )
    assert result.stdout.strip() == "ConfigError", result.stderr


def test_yaml_aliases_that_expand_a_little_still_work(tmp_path):
    path = tmp_path / "ok.yaml"
    path.write_text("base: &b {tokenizer: none, missing: oov}\nspec: *b\n")
    assert VocabSpec.from_yaml(path, key="spec").missing == "oov"


def test_yaml_alias_holding_itself_is_refused(tmp_path):
    path = tmp_path / "cycle.yaml"
    path.write_text("reserved_tokens: &a [x, *a]\n")
    with pytest.raises(ConfigError, match=r"a YAML alias refers to a value that holds it"):
        load_yaml(path)


def test_yaml_nested_too_deep_and_fifo_are_one_line_errors(tmp_path):
    deep = tmp_path / "deep.yaml"
    deep.write_text("a: " + "[" * 100_000 + "]" * 100_000 + "\n")
    with pytest.raises(ConfigError, match=r"deep\.yaml is not valid YAML: .*nesting depth"):
        load_yaml(deep)
    fifo = tmp_path / "fifo.yaml"
    os.mkfifo(fifo)
    with pytest.raises(ConfigError, match=r"fifo\.yaml is not a regular file; pass a YAML"):
        load_yaml(fifo)


def test_every_yaml_load_goes_through_one_loader():
    offenders = []
    for folder, _, files in os.walk(os.path.join(REPO, "vocabguard")):
        for name in files:
            if name.endswith(".py"):
                text = open(os.path.join(folder, name), encoding="utf-8").read()
                if "yaml.safe_load" in text or "yaml.load(" in text:
                    offenders.append(name)
    assert offenders == []


# -- sizes in the spec: num_oov_buckets, capacity, pad_to_multiple_of --


def test_num_oov_buckets_of_three_billion_fails_fast_without_allocating(tmp_path):
    (tmp_path / "c.txt").write_text("a b c\n")
    result = run_limited(
        """
        import sys
        from vocabguard.cli import main
        sys.exit(main(sys.argv[1:]))
        """,
        2048,
        "build",
        "--name",
        "n",
        "--input",
        str(tmp_path / "c.txt"),
        "--num-oov-buckets",
        "3000000000",
        "--store",
        str(tmp_path / "st"),
    )
    assert result.returncode == 1, result.stderr
    assert one_line(result.stderr) == (
        "vocabguard: error: `num_oov_buckets` may be at most 4,194,304: each OOV id is a row "
        "of the artifact and of the embedding. Use fewer buckets (hash high-cardinality values "
        "into a separate keras.layers.Hashing input) (in command-line flags). Received: "
        "num_oov_buckets=3000000000"
    )
    assert not (tmp_path / "st").exists() or not any((tmp_path / "st").iterdir())


def test_num_oov_buckets_maximum_is_allowed():
    assert VocabSpec(num_oov_buckets=MAX_NUM_OOV_BUCKETS).num_oov_buckets == 2**22


@pytest.mark.parametrize("key", ["capacity", "pad_to_multiple_of"])
def test_absurd_input_dim_is_refused_and_int64_lifts_the_int32_cap(key):
    with pytest.raises(SpecError) as info:
        VocabSpec(**{key: 10**20})
    assert str(info.value) == (
        f"`{key}` 100,000,000,000,000,000,000 is larger than the largest input_dim int32 ids "
        "can address (2,147,483,647). Lower it, or set id_dtype: int64 (input_dim up to "
        f"2**53). Received: {key}=100000000000000000000"
    )
    assert getattr(VocabSpec(**{key: 2**31 - 1}), key) == MAX_INPUT_DIM["int32"]
    assert getattr(VocabSpec(**{key: 2**40, "id_dtype": "int64"}), key) == 2**40
    with pytest.raises(SpecError, match=r"int64 ids can address \(9,007,199,254,740,992\)"):
        VocabSpec(**{key: 10**20, "id_dtype": "int64"})


def test_rounding_up_past_the_cap_is_refused():
    with pytest.raises(SpecError, match=r"rounds input_dim up to 2,147,483,648, larger than"):
        VocabSpec(capacity=2**31 - 1, pad_to_multiple_of=8)


def test_published_huge_capacity_has_int32_ids(tmp_path):
    from vocabguard import VocabStore, build_vocabulary

    vocab = build_vocabulary(["a b"], VocabSpec(capacity=2**31 - 1), progress=False)
    published = VocabStore(tmp_path / "st").publish(vocab, "n")
    assert published.input_dim == 2**31 - 1
    assert VocabStore(tmp_path / "st").verify("n@v1") is not None


@pytest.mark.parametrize("input_dim", [2**63, 2**64, 10**20, 0, -1, 2.5, True])
def test_guard_ids_refuses_impossible_input_dim_on_numpy_and_tf(input_dim):
    from vocabguard._src.engines.tf import guard_ids as tf_guard_ids

    for guard in (guard_ids, tf_guard_ids):
        with pytest.raises(ConfigError) as info:
            guard([1, 2], input_dim)
        assert str(info.value).startswith(
            "`input_dim` must be an integer in [1, 9,007,199,254,740,992] (the largest "
            "input_dim of int64 ids); pass the vocabulary's input_dim. Received: input_dim="
        )


def test_guard_ids_accepts_the_largest_input_dim():
    assert guard_ids(np.array([0, 2**53 - 1]), 2**53).tolist() == [0, 2**53 - 1]


# -- messages quote a bounded part of what they received --


def test_quoted_values_are_bounded():
    assert quoted(dict.fromkeys(range(1_000_000), 0)).endswith("9: 0, ... and 999,990 more}")
    assert quoted("x" * 10**7).endswith("'... (10,000,000 characters)")
    nested: list = ["lol"] * 10
    for _ in range(30):
        nested = [nested] * 10
    assert len(received(value=nested)) < 1200


# -- records: a bound on size and depth, int64, UTF-8; bad records on every path --


def gzip_line(path, megabytes: int, before: bytes = b"", after: bytes = b"") -> None:
    """A .gz whose one JSON line holds ``megabytes`` MiB: concatenated gzip members, so
    the file is small (about 1 KiB per MiB) and quick to write."""
    import gzip

    member = gzip.compress(b"x" * (1 << 20))
    with open(path, "wb") as out:
        out.write(gzip.compress(before + b'{"t": "'))
        for _ in range(megabytes):
            out.write(member)
        out.write(gzip.compress(b'"}\n' + after))


def test_a_huge_decompressed_line_is_a_bad_record_read_in_bounded_memory(tmp_path):
    path = tmp_path / "big.jsonl.gz"
    gzip_line(path, 512, before=b'{"t": "ok"}\n', after=b'{"t": "fine"}\n')
    assert path.stat().st_size < 1 << 20
    # 800 MiB of address space: the reader's baseline (pyarrow, numpy) is about 360 MiB,
    # so holding the 512 MiB line (and its decoded copy) would raise MemoryError.
    result = run_limited(
        """
        import sys
        from vocabguard._src.engines.formats.read import read_records
        skipped = {}
        records = list(read_records([sys.argv[1]], fields=["t"], bad_records="skip",
                                    skipped=skipped))
        print(records, skipped)
        """,
        800,
        str(path),
    )
    assert result.stdout.strip() == "[{'t': 'ok'}, {'t': 'fine'}] {'too_large': 1}", result.stderr


def test_a_line_over_max_record_bytes_names_file_line_and_knob(tmp_path):
    from vocabguard._src.engines.formats.read import read_documents, read_records

    path = tmp_path / "big.jsonl.gz"
    gzip_line(path, 3, after=b'{"t": "fine"}\n')
    expected = (
        f"{path}, line 1: the line holds more than max_record_bytes (1,048,576 bytes, "
        "decompressed); raise max_record_bytes (CLI --max-record-bytes, job config "
        "max_record_bytes) if records this large are expected. Fix the line, or drop it "
        f"(bad_records: skip). Received: file='{path}', line=1"
    )
    with pytest.raises(InputDataError) as info:
        list(read_records([path], fields=["t"], max_record_bytes=1 << 20))
    assert str(info.value) == expected
    with pytest.raises(InputDataError) as info:
        list(read_documents([path], field="t", max_record_bytes=1 << 20))
    assert str(info.value) == expected
    skipped: dict = {}
    kept = read_records(
        [path], fields=["t"], max_record_bytes=1 << 20, bad_records="skip", skipped=skipped
    )
    assert list(kept) == [{"t": "fine"}] and skipped == {"too_large": 1}
    assert list(read_documents([path], field="t", max_record_bytes=4 << 20))[1] == "fine"


def test_bounded_lines_never_hands_out_more_than_the_bound():
    import io

    from vocabguard._src.engines.formats.common import Oversized, bounded_lines

    class Watched(io.BytesIO):
        biggest = 0

        def readline(self, size=-1):
            line = super().readline(size)
            Watched.biggest = max(Watched.biggest, len(line))
            return line

    data = b"short\n" + b"y" * 10_000_000 + b"\r\nlast"
    lines = list(bounded_lines(Watched(data), 1000))
    assert lines[0] == b"short\n" and isinstance(lines[1], Oversized) and lines[2] == b"last"
    assert Watched.biggest <= 1 << 20  # the rest of a long line goes in 1 MiB pieces
    assert [len(x) for x in bounded_lines(io.BytesIO(b"a" * 1000 + b"\r\n"), 1000)] == [1002]


def test_csv_quoted_field_over_the_bound_ends_the_file_with_one_line(tmp_path):
    from vocabguard._src.engines.formats.read import read_records

    path = tmp_path / "t.csv"
    path.write_text('t,u\nok,1\n"' + "z\n" * 5000 + '",2\nfine,3\n')
    for policy in ("fail", "skip"):
        with pytest.raises(InputDataError) as info:
            list(read_records([path], fields=["t"], max_record_bytes=1000, bad_records=policy))
        assert str(info.value).startswith(
            f"{path}, line 3: the quoted field holds more than max_record_bytes (1,000 bytes, "
            "decompressed); raise max_record_bytes"
        )
    kept = read_records([path], fields=["t"], max_record_bytes=20_000)
    assert [r["t"] for r in kept] == ["ok", "z\n" * 5000, "fine"]


DEEP = "[" * 100_000 + "]" * 100_000


def hostile_files(folder):
    """One file per hostile record, each between two good records."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    files = {}
    files["too_deep"] = folder / "deep.jsonl"
    files["too_deep"].write_text('{"t": "ok"}\n{"t": ' + DEEP + '}\n{"t": "fine"}\n')
    files["integer_out_of_range"] = folder / "big.jsonl"
    files["integer_out_of_range"].write_text(f'{{"t": 1}}\n{{"t": {2**64}}}\n{{"t": 2}}\n')
    files["undecodable"] = folder / "utf8.parquet"
    column = pa.array([b"ok", b"\xff\xfe", b"fine"]).view(pa.string())
    pq.write_table(pa.table({"t": column}), files["undecodable"])
    files["uint64"] = folder / "u64.parquet"
    pq.write_table(pa.table({"t": pa.array([1, 2**64 - 1, 2], pa.uint64())}), files["uint64"])
    return files


EXPECTED = {
    "too_deep": (
        "{path}, line 2: the JSON record is nested 100,001 levels deep, more than 100 (arrays "
        "and objects); flatten the record. Fix the line, or drop it (bad_records: skip). "
        "Received: file='{path}', line=2"
    ),
    "integer_out_of_range": (
        "{path}, line 2: field 't' is the integer 18446744073709551616, outside int64 "
        "[-2**63, 2**63 - 1]. Integer tokens are int64; fix or drop the record (bad_records: "
        "skip). Received: file='{path}', line=2, field='t'"
    ),
    "undecodable": (
        "{path}, record 2: field 't': bytes b'\\xff' at column 1 are not valid UTF-8. Fix or "
        "drop the record (bad_records: skip). Received: file='{path}', record=2, field='t'"
    ),
    "uint64": (
        "{path}, record 2: field 't' is the integer 18446744073709551615, outside int64 "
        "[-2**63, 2**63 - 1]. Integer tokens are int64; fix or drop the record (bad_records: "
        "skip). Received: file='{path}', record=2, field='t'"
    ),
}


@pytest.mark.parametrize("attack", list(EXPECTED))
def test_hostile_record_in_process_is_one_line_and_counted_under_skip(tmp_path, attack):
    from vocabguard._src.engines.formats.read import read_documents, read_records

    path = hostile_files(tmp_path)[attack]
    with pytest.raises(InputDataError) as info:
        list(read_records([path], fields=["t"]))
    assert str(info.value) == EXPECTED[attack].format(path=path)
    with pytest.raises(InputDataError, match=r"(line|record) 2: .*Received: file="):
        list(read_documents([path], field="t"))
    skipped: dict = {}
    kept = list(read_records([path], fields=["t"], bad_records="skip", skipped=skipped))
    assert len(kept) == 2
    assert skipped == {"integer_out_of_range" if attack == "uint64" else attack: 1}


def test_hostile_records_fail_the_cli_build_with_one_line_and_skip_counts_them(tmp_path, capsys):
    files = hostile_files(tmp_path)
    argv = ["build", "--name", "deep", "--input", str(files["too_deep"]), "--field", "t"]
    assert main([*argv, "--store", str(tmp_path / "st")]) == 1
    assert "nested 100,001 levels deep, more than 100" in one_line(capsys.readouterr().err)
    skip = ["--bad-records", "skip", "--max-bad-fraction", "0.5"]
    assert main([*argv, *skip, "--store", str(tmp_path / "st")]) == 0, capsys.readouterr().err
    from vocabguard import VocabStore

    stats = VocabStore(tmp_path / "st").load("deep").stats
    assert stats["bad_records_skipped"] == {"too_deep": 1}


def test_hostile_records_on_beam_are_counted_under_skip_and_named_under_fail(tmp_path):
    from test_input_integrity import run_read

    files = hostile_files(tmp_path)
    big = tmp_path / "big_line.jsonl.gz"
    gzip_line(big, 3, after=b'{"t": "fine"}\n')
    counters = run_read(list(files.values()), ["t"], "skip")
    assert counters["bad_records.too_deep"] == 1
    assert counters["bad_records.integer_out_of_range"] == 2
    assert counters["bad_records.undecodable"] == 1
    with pytest.raises(Exception, match=r"deep\.jsonl, line 2: the JSON record is nested"):
        run_read([files["too_deep"]], ["t"], "fail")


def test_beam_reader_bounds_a_huge_line(tmp_path):
    import apache_beam as beam
    from apache_beam.metrics.metric import MetricsFilter
    from test_input_integrity import pipeline

    from vocabguard._src.engines.beam.read import ReadRecordBatches

    big = tmp_path / "big_line.jsonl.gz"
    gzip_line(big, 3, after=b'{"t": "fine"}\n')
    p = pipeline()
    read = ReadRecordBatches([str(big)], ["t"], bad_records="skip", max_record_bytes=1 << 20)
    _ = p | read | beam.Map(len)
    result = p.run(test_runner_api=False)
    result.wait_until_finish()
    counters = result.metrics().query(MetricsFilter().with_name("bad_records.too_large"))
    assert sum(c.committed for c in counters["counters"]) == 1


def test_record_with_a_million_keys_gets_a_short_error(tmp_path, capsys):
    import json

    path = tmp_path / "keys.jsonl"
    path.write_text(json.dumps({f"k{i}": i for i in range(10**6)}) + "\n")
    assert main(["build", "--name", "k", "--input", str(path), "--store", str(tmp_path)]) == 1
    line = one_line(capsys.readouterr().err)
    assert len(line) < 500
    assert "the record has 1,000,000 fields ('k0', 'k1'," in line
    assert "'k9' and 999,990 more), so the document field is ambiguous" in line


# -- the paths agree: '' under tokenizer none, floats for integers, non-UTF-8 tokens --


def test_empty_string_is_a_missing_value_under_tokenizer_none_everywhere(tmp_path, capsys):
    import tensorflow as tf

    from vocabguard import build_vocabulary
    from vocabguard.tf import encode_fn

    spec = VocabSpec(tokenizer="none")
    with pytest.raises(InputDataError, match=r"Record 1: the value is missing .* value=''"):
        build_vocabulary(["a", "", "b"], spec, progress=False)
    with pytest.raises(InputDataError, match=r"Record 0: the value is missing"):
        build_vocabulary([["", "a"]], spec, progress=False)
    vocab = build_vocabulary(["a", "b"], spec, progress=False)
    for values in (["a", ""], np.array(["a", ""])):
        with pytest.raises(InputDataError, match=r"Record 1: the value is missing"):
            vocab.encode(values)
    encoder = encode_fn(vocab)
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"empty string: with tokenizer"):
        encoder(tf.constant(["a", ""]))
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"missing: error"):
        encoder(tf.ragged.constant([["a"], [""]]))
    dataset = tf.data.Dataset.from_tensor_slices(["a", ""]).batch(2).map(encoder)
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"says missing: error"):
        list(dataset)
    assert encoder(tf.constant(["a", "b"])).numpy().tolist() == [2, 3]
    # Under a missing policy every path maps it alike.
    oov = build_vocabulary(["a", "", "b"], VocabSpec(tokenizer="none", missing="oov"))
    assert oov.tokens == ["[PAD]", "[UNK]", "a", "b"]
    assert oov.encode(["a", ""]).tolist() == encode_fn(oov)(tf.constant(["a", ""])).numpy().tolist()
    # The CLI and the Beam check (values.check_value) refuse it too.
    path = tmp_path / "t.jsonl"
    path.write_text('{"t": "a"}\n{"t": ""}\n')
    argv = ["build", "--name", "t", "--input", str(path), "--field", "t", "--tokenizer", "none"]
    assert main([*argv, "--store", str(tmp_path / "st")]) == 1
    assert "the value is missing (null, absent or empty)" in one_line(capsys.readouterr().err)
    from vocabguard._src.core.values import check_value

    assert check_value("", spec) == ("missing_field", "the field is null")
    assert check_value("", VocabSpec()) is None  # a text with no tokens


@pytest.mark.parametrize(
    "values",
    [[2.9], [-0.5], [float("nan")], [2**64 - 1], [True]],
    ids=["fraction", "negative_fraction", "nan", "uint64_max", "boolean"],
)
def test_non_int64_values_for_an_integer_vocabulary_fail_on_every_path(values):
    import tensorflow as tf

    from vocabguard import build_vocabulary
    from vocabguard.keras import string_lookup
    from vocabguard.tf import encode_fn

    vocab = build_vocabulary([1, 2, 3], VocabSpec(tokenizer="none"), progress=False)
    failures = []
    for feed in (values, np.asarray(values)):
        with pytest.raises(InputDataError, match=r"Record 0: an element is "):
            vocab.encode(feed)
        failures.append("numpy")
    tensor = tf.constant(values, dtype=tf.uint64 if values[0] == 2**64 - 1 else None)
    errors = (TypeError, tf.errors.InvalidArgumentError)
    with pytest.raises(errors, match=r"integer (vocabulary maps integer values|token is past)"):
        encode_fn(vocab)(tensor)
    failures.append("tf")
    layer = string_lookup(vocab)
    for feed in (tensor, np.asarray(values)):
        with pytest.raises(errors, match=r"integer (vocabulary maps integer values|token is)"):
            layer(feed)
    failures.append("keras")
    assert failures == ["numpy", "numpy", "tf", "keras"]
    # Whole int64 values agree on every path.
    ints = [1, 3, 7]
    expected = vocab.encode(ints).tolist()
    assert encode_fn(vocab)(tf.constant(ints)).numpy().tolist() == expected
    assert layer(np.asarray(ints)).numpy().tolist() == expected


def test_keras_string_lookup_refuses_non_utf8_tokens_up_front():
    from vocabguard import build_vocabulary
    from vocabguard.keras import string_lookup

    vocab = build_vocabulary([b"ok", b"\xff\xfe"], VocabSpec(tokenizer="none"), progress=False)
    with pytest.raises(ConfigError) as info:
        string_lookup(vocab)
    assert str(info.value) == (
        "Vocabulary (unpublished) holds 1 token(s) that are not valid UTF-8 (first: "
        "b'\\xff\\xfe'); a Keras StringLookup over them works in memory but cannot be saved "
        "(.keras files store its vocabulary as UTF-8 text). Map ids with "
        "vocabguard.tf.lookup_fn(vocab) or encode_fn(vocab) (tf.lookup tables hold any "
        "bytes), or rebuild the vocabulary from UTF-8 input. Received: tokens=1, "
        "first=b'\\xff\\xfe'"
    )


def test_integer_lookup_layer_saves_and_reloads(tmp_path):
    import keras

    from vocabguard import build_vocabulary
    from vocabguard.keras import load_model, string_lookup

    vocab = build_vocabulary([1, 2, 3], VocabSpec(tokenizer="none"), progress=False)
    inputs = keras.Input(shape=(1,), dtype="int64")
    model = keras.Model(inputs, string_lookup(vocab)(inputs))
    model.save(tmp_path / "m.keras")
    again = load_model(str(tmp_path / "m.keras"))
    assert again(np.array([[2], [9]])).numpy().ravel().tolist() == [3, 1]


def test_job_runners_count_hostile_parquet_and_empty_strings_alike(tmp_path):
    """`build --config JOB` on Beam and `--runner inprocess` (its columnar Parquet path)
    skip and count the same records: invalid UTF-8, and '' under tokenizer: none with
    missing: error."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    import yaml

    from vocabguard import VocabStore
    from vocabguard.cli import jobs

    strings = pa.array([b"a", b"\xff", b"", b"b", b"a"]).view(pa.string())
    pq.write_table(pa.table({"s": strings}), tmp_path / "s.parquet")
    results = {}
    for runner in ("beam", "inprocess"):
        config = {
            "inputs": [str(tmp_path / "s.parquet")],
            "store": str(tmp_path / runner),
            "bad_records": "skip",
            "max_bad_fraction": 0.9,
            "features": {"s": {"field": "s", "name": "s", "spec": {"tokenizer": "none"}}},
        }
        path = tmp_path / f"{runner}.yaml"
        path.write_text(yaml.safe_dump(config))
        run = jobs.run_build if runner == "beam" else jobs.run_build_inprocess
        run(["--config", str(path)])
        vocab = VocabStore(tmp_path / runner).load("s")
        results[runner] = (vocab.tokens, vocab.stats.get("bad_records_skipped"))
    assert results["beam"] == results["inprocess"]
    tokens, skipped = results["beam"]
    assert tokens == ["[PAD]", "[UNK]", "a", "b"]
    assert skipped == {"missing_field": 1, "undecodable": 1}
