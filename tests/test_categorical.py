"""Categorical features as tables hold them: lists, shared fields, missing values,
weighted counts and aligned input_dim (issue 13), on the in-process/numpy path."""

from __future__ import annotations

import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vocabguard import VocabSpec, VocabStore, build_vocabulary
from vocabguard.errors import InputDataError, LineageError, SpecError

NONE = VocabSpec(tokenizer="none")


def build(values, spec=NONE, **kwargs):
    return build_vocabulary(values, spec, progress=False, **kwargs)


# -- spec fields --


@pytest.mark.parametrize(
    ("data", "fragments", "tail"),
    [
        (
            {"missing": "drop"},
            ["`missing` must be one of error, skip, oov, token"],
            "missing='drop'",
        ),
        (
            {"missing_token": "[NA]"},
            ["`missing_token` is only used with `missing: token`"],
            "missing='error', missing_token='[NA]'",
        ),
        (
            {"missing": "token", "missing_token": "[UNK]"},
            ["equals the oov_token", "Choose another missing_token"],
            "missing_token='[UNK]', oov_token='[UNK]'",
        ),
        (
            {"missing": "token", "reserved_tokens": ["[MISSING]"]},
            ["contains the missing_token '[MISSING]'"],
            "reserved_tokens=['[MISSING]'], missing_token='[MISSING]'",
        ),
        (
            {"pad_to_multiple_of": 0},
            ["`pad_to_multiple_of` must be an integer >= 1"],
            "pad_to_multiple_of=0",
        ),
        ({"value_shape": "matrix"}, ["`value_shape` must be one of any, scalar, list"], None),
    ],
)
def test_new_spec_fields_are_validated_keras_style(data, fragments, tail):
    with pytest.raises(SpecError) as info:
        VocabSpec.from_dict(data)
    message = str(info.value)
    for fragment in fragments:
        assert fragment in message, message
    assert "Received: " in message
    if tail:
        assert message.endswith("Received: " + tail), message


def test_spec_defaults_keep_old_fingerprints():
    # The contract gains `missing` keys only off the default, so existing ids hold.
    plain = build(["a", "b", "b"])
    explicit = build(["a", "b", "b"], VocabSpec(tokenizer="none", missing="error"))
    assert plain.fingerprint == explicit.fingerprint
    assert "missing" not in plain.contract()
    assert VocabSpec.from_dict(VocabSpec(missing="token").to_dict()).missing == "token"


# -- missing values --


@pytest.mark.parametrize(
    ("policy", "ids", "tokens"),
    [
        ("token", [3, 2, 1, 2], ["[PAD]", "[UNK]", "[MISSING]", "fr", "de"]),
        ("oov", [2, 1, 1, 1], ["[PAD]", "[UNK]", "fr", "de"]),
        ("skip", [2, 0, 1, 0], ["[PAD]", "[UNK]", "fr", "de"]),
    ],
)
def test_missing_policies_build_and_encode(policy, ids, tokens):
    spec = VocabSpec(tokenizer="none", missing=policy)
    vocab = build(["fr", None, "de", "fr", ""], spec)
    assert vocab.tokens == tokens
    assert vocab.stats["missing"] == {"value": 2}
    assert vocab.encode(["fr", None, "xx", ""]).tolist() == ids
    if policy == "token":
        assert vocab.token_to_id("[MISSING]") == 2 == vocab.missing_id
        assert vocab.counts[0] == 2  # the missing token counts the missing values
    # Every id is in [0, input_dim).
    assert max(ids) < vocab.input_dim


def test_missing_error_is_the_default_and_names_the_field():
    with pytest.raises(InputDataError, match=r"Record 1 of t.jsonl, field 'country': the value"):
        build(
            [{"country": "fr"}, {"country": None}],
            fields=["country"],
            input_description="t.jsonl",
        )
    vocab = build(["a"])
    with pytest.raises(InputDataError, match="the value is missing"):
        vocab.encode(["a", None])


def test_missing_token_is_a_fixed_reserved_id_before_other_reserved_tokens():
    spec = VocabSpec(
        tokenizer="none", missing="token", reserved_tokens=["[CLS]"], num_oov_buckets=2
    )
    vocab = build(["x", None], spec)
    assert vocab.tokens[:5] == ["[PAD]", "[UNK]", "[UNK]", "[MISSING]", "[CLS]"]
    assert vocab.missing_id == 3 and vocab.layout.num_reserved == 2
    integer = build([5, None, 5], VocabSpec(tokenizer="none", missing="token"))
    assert integer.tokens == [None, -1, -2, 5]
    assert integer.encode([None, 5, 9]).tolist() == [2, 3, 1]


def test_missing_token_matches_keras_string_lookup():
    import keras

    spec = VocabSpec(tokenizer="none", missing="token", num_oov_buckets=3)
    vocab = build(["a", "b", None, "b", None, "c"], spec)
    layer = keras.layers.StringLookup(
        vocabulary=vocab.tokens[4:], mask_token="[PAD]", oov_token="[UNK]", num_oov_indices=3
    )
    # Keras has no null: the missing value is its token there.
    keras_ids = np.asarray(layer(["a", "[MISSING]", "zz", "[PAD]", "c"])).tolist()
    assert vocab.encode(["a", None, "zz", "[PAD]", "c"]).tolist() == keras_ids


def test_missing_token_matches_keras_integer_lookup():
    import keras

    spec = VocabSpec(tokenizer="none", missing="token", num_oov_buckets=2)
    vocab = build([5, 7, None, 7, None, None], spec)
    assert vocab.tokens == [None, -1, -1, -2, 7, 5]  # the pad is the id 0, not a value
    layer = keras.layers.IntegerLookup(
        vocabulary=vocab.tokens[3:], mask_token=0, oov_token=-1, num_oov_indices=2
    )
    keras_ids = np.asarray(layer(np.asarray([7, -2, 11, 5, 12]))).tolist()
    assert vocab.encode([7, None, 11, 5, 12]).tolist() == keras_ids


# -- lists --


def test_list_values_each_element_one_token_or_one_text():
    vocab = build([["a", "b", "c"], ["b", "d"], [], "b"])
    assert vocab.tokens == ["[PAD]", "[UNK]", "b", "a", "c", "d"]
    assert vocab.stats["documents"] == 4 and vocab.stats["total_tokens"] == 6
    encoded = vocab.encode([["a", "b"], [], "d", ["zz"]])
    assert [row.tolist() for row in encoded] == [[3, 2], [], [5], [1]]
    text = build([["to be", "or"], "not to"], VocabSpec(sequence_length=3))
    assert text.encode([["to be", "or"], []]).tolist() == [[2, 3, 5], [0, 0, 0]]  # to be not or


def test_list_shape_with_sequence_length_pads_and_truncates():
    spec = VocabSpec(tokenizer="none", value_shape="list", sequence_length=2)
    vocab = build([["a", "b", "c"], ["a"]], spec)
    assert vocab.encode([["a", "b", "c"], [], ["c"]]).tolist() == [[2, 3], [0, 0], [4, 0]]
    assert vocab.encode_arrow([["a", "b", "c"], []]).to_pylist() == [[2, 3], [0, 0]]


@pytest.mark.parametrize(
    ("spec", "values", "fragment"),
    [
        (VocabSpec(tokenizer="none", value_shape="scalar"), ["a", ["b"]], "is a list, but"),
        (VocabSpec(tokenizer="none", value_shape="list"), [["a"], "b"], "is a string, but"),
        (NONE, [["a", 3]], "mixes element types in one list"),
        (NONE, [["a", None]], "the value is missing"),
        (NONE, [["a", 1.5]], "an element in the list is a number"),
        (NONE, [["a", ["b"]]], "nested list"),
    ],
)
def test_bad_list_values_name_the_record_and_value(spec, values, fragment):
    with pytest.raises(InputDataError) as info:
        build(values, spec, input_description="in.jsonl")
    message = str(info.value)
    assert fragment in message and "in.jsonl" in message and "Received: record=" in message


# -- shared fields --


def test_one_id_space_over_several_fields():
    records = [
        {"hist": ["a", "b", "c"], "tgt": "a", "country": "fr", "w": 2.0},
        {"hist": ["b", "d"], "tgt": "e", "country": None, "w": 1.0},
    ]
    items = build(records, fields=["hist", "tgt"])
    assert items.tokens == ["[PAD]", "[UNK]", "a", "b", "c", "d", "e"]
    assert items.build["fields"] == ["hist", "tgt"] and items.stats["documents"] == 2
    # Same item, same id, in either field.
    assert items.encode([r["tgt"] for r in records]).tolist() == [2, 6]
    assert [x.tolist() for x in items.encode([r["hist"] for r in records])] == [[2, 3, 4], [3, 5]]


# -- weighted counts --


def test_weighted_counts_select_and_order_by_weight():
    records = [{"x": "rare", "w": 10}, {"x": "common", "w": 0.25}] + [
        {"x": "common", "w": 0.25}
    ] * 3
    vocab = build(records, fields=["x"], weight_field="w")
    assert vocab.tokens[2:] == ["rare", "common"]
    assert vocab.counts == [10_000_000, 1_000_000]
    assert vocab.stats["weighted"] and vocab.stats["total_weight"] == 11.0
    assert vocab.build["weight_field"] == "w"
    high = build(records, VocabSpec(tokenizer="none", min_count=2), fields=["x"], weight_field="w")
    assert high.tokens[2:] == ["rare"]  # min_count applies to the weighted count


@pytest.mark.parametrize(
    ("weight", "fragment"),
    [
        (-1.0, "negative (-1.0)"),
        (float("nan"), "nan"),
        (None, "the weight is missing"),
        (True, "a boolean"),
        ("2", "a string"),
        (float("inf"), "inf"),
    ],
)
def test_bad_weights_are_errors_naming_record_field_value(weight, fragment):
    records = [{"x": "a", "w": 1.0}, {"x": "b", "w": weight}]
    with pytest.raises(InputDataError) as info:
        build(records, fields=["x"], weight_field="w", input_description="t.jsonl")
    message = str(info.value)
    assert "Record 1 of t.jsonl, field 'w'" in message and fragment in message
    assert "Received: record=1, field='w', value=" in message


records_strategy = st.lists(
    st.fixed_dictionaries(
        {
            "a": st.one_of(
                st.none(),
                st.sampled_from(["p", "q", "r", ""]),
                st.lists(st.sampled_from(["p", "q", "s", "t"]), max_size=4),
            ),
            "b": st.one_of(st.none(), st.sampled_from(["q", "s", "u"])),
            "w": st.floats(0, 1e6, allow_nan=False),
        }
    ),
    max_size=40,
)


@settings(max_examples=60, deadline=None)
@given(records=records_strategy, seed=st.integers(0, 1000), batch_size=st.integers(1, 7))
def test_weighted_build_is_independent_of_order_and_batching(records, seed, batch_size):
    spec = VocabSpec(tokenizer="none", missing="token", min_count=1)
    kwargs = {"fields": ["a", "b"], "weight_field": "w"}
    one = build(records, spec, batch_size=64, **kwargs)
    shuffled = list(records)
    random.Random(seed).shuffle(shuffled)
    other = build(shuffled, spec, batch_size=batch_size, **kwargs)
    assert one.fingerprint == other.fingerprint
    assert one.counts == other.counts
    assert one.stats == other.stats


# -- aligned input_dim --


def test_pad_to_multiple_of_rounds_input_dim_and_the_manifest_records_both(tmp_path):
    spec = VocabSpec(tokenizer="none", pad_to_multiple_of=8)
    vocab = build(["a", "b", "c"], spec)
    assert vocab.layout.used_ids == 5 and vocab.input_dim == 8
    store = VocabStore(tmp_path / "store")
    published = store.publish(vocab, "aligned")
    manifest = published.manifest or store.load("aligned@v1").manifest
    assert manifest["input_dim"] == 8 and manifest["layout"]["used_ids"] == 5
    assert manifest["layout"]["pad_to_multiple_of"] == 8 and manifest["layout"]["unused_ids"] == 3
    loaded = store.load("aligned@v1")
    assert loaded.input_dim == 8 and loaded.fingerprint == vocab.fingerprint
    with_capacity = build(["a"], VocabSpec(tokenizer="none", capacity=10, pad_to_multiple_of=8))
    assert with_capacity.input_dim == 16


def test_lineage_keeps_the_alignment_rule(tmp_path):
    store = VocabStore(tmp_path / "store")
    v1 = store.publish(build(["a", "b"], VocabSpec(tokenizer="none", pad_to_multiple_of=4)), "l")
    assert v1.input_dim == 4
    grown = build(["a", "b", "c", "d"], NONE, parent=v1)
    assert grown.spec.pad_to_multiple_of == 4 and grown.input_dim == 8
    assert grown.token_to_id("a") == v1.token_to_id("a")
    with pytest.raises(LineageError, match="`pad_to_multiple_of` 8 differs from l@v1's 4"):
        build(["a"], VocabSpec(tokenizer="none", pad_to_multiple_of=8), parent=v1)


def test_missing_policy_is_part_of_the_lineage(tmp_path):
    store = VocabStore(tmp_path / "store")
    v1 = store.publish(build(["a", None], VocabSpec(tokenizer="none", missing="token")), "m")
    child = build(["b", None], VocabSpec(tokenizer="none", missing="token"), parent=v1)
    assert child.missing_id == v1.missing_id == 2
    with pytest.raises(LineageError, match="`missing` differs"):
        build(["b"], NONE, parent=v1)


# -- readers and `vocabguard build` --

ISSUE_TABLE = [
    {"hist": ["a", "b", "c"], "tgt": "a", "country": "fr", "w": 2.0},
    {"hist": ["b", "d"], "tgt": "e", "country": None, "w": 1.0},
]


def write_jsonl(path, records):
    import json

    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def cli(capsys, store_root, *argv):
    from vocabguard.cli import main

    code = main([*argv, "--store", str(store_root)])
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    return code, captured.out, captured.err


def test_cli_build_on_the_issue_table(capsys, store_root, tmp_path):
    path = write_jsonl(tmp_path / "t.jsonl", ISSUE_TABLE)
    base = ("build", "--input", str(path), "--tokenizer", "none")
    code, out, _ = cli(capsys, store_root, *base, "--name", "hist", "--field", "hist")
    assert code == 0 and out.strip() == "hist@v1"
    code, _, err = cli(capsys, store_root, *base, "--name", "c", "--field", "country")
    assert code == 1
    assert "t.jsonl, line 2: field 'country' is null (or absent)" in err
    assert "--missing skip|oov|token" in err and err.strip().endswith("value=None")
    code, out, err = cli(
        capsys, store_root, *base, "--name", "c", "--field", "country", "--missing", "token",
        "--pad-to-multiple-of", "8",
    )  # fmt: skip
    assert code == 0 and "missing         token -> id 2 ('[MISSING]'); seen: country 1" in err
    assert "aligned         input_dim 8 = 4 used ids + 4 unused, a multiple of 8" in err
    code, out, err = cli(
        capsys, store_root, *base, "--name", "items", "--field", "hist", "--field", "tgt",
        "--weight-field", "w",
    )  # fmt: skip
    assert code == 0 and "fields          hist, tgt (one id space)" in err
    items = VocabStore(store_root).load("items@v1")
    assert items.tokens[2:] == ["a", "b", "c", "d", "e"]
    assert items.counts == [4_000_000, 3_000_000, 2_000_000, 1_000_000, 1_000_000]
    assert items.manifest["build"]["fields"] == ["hist", "tgt"]
    assert items.manifest["build"]["weight_field"] == "w"
    code, out, _ = cli(capsys, store_root, "inspect", "items@v1")
    assert "weighted        by 'w': total weight 11.0" in out


@pytest.mark.parametrize(
    ("records", "flags", "fragment"),
    [
        (
            [{"x": "a", "w": -1}],
            ["--weight-field", "w"],
            "line 1: field 'w' (the weight) is negative",
        ),
        ([{"x": "a", "w": None}], ["--weight-field", "w"], "(the weight) is missing"),
        ([{"x": "a"}], ["--weight-field", "w"], "field 'w' (the weight) is missing"),
        ([{"x": ["a", 1]}], [], "line 1: field 'x' mixes element types in one list"),
        ([{"x": "a"}, {"x": ["b"]}], ["--config", "SCALAR"], "line 2: field 'x' is a list"),
        ([{"x": ["a", {"b": 1}]}], [], "field 'x' holds an object"),
    ],
)
def test_cli_bad_records_name_file_line_field_value(
    capsys, store_root, tmp_path, records, flags, fragment
):
    path = write_jsonl(tmp_path / "bad.jsonl", records)
    config = tmp_path / "scalar.yaml"
    config.write_text("tokenizer: none\nvalue_shape: scalar\n")
    flags = [str(config) if f == "SCALAR" else f for f in flags]
    code, _, err = cli(
        capsys, store_root, "build", "--name", "x", "--input", str(path), "--field", "x",
        "--tokenizer", "none", *flags,
    )  # fmt: skip
    assert code == 1 and "bad.jsonl" in err and fragment in err and "Received: file=" in err


def test_cli_bad_records_skip_counts_them(capsys, store_root, tmp_path):
    records = [{"x": "a", "w": 1}, {"x": "b", "w": float("nan")}, {"x": "c", "w": -2}]
    path = tmp_path / "w.jsonl"
    path.write_text("".join(
        __import__("json").dumps(r).replace("NaN", "NaN") + "\n" for r in records
    ))  # fmt: skip
    code, _, err = cli(
        capsys, store_root, "build", "--name", "x", "--input", str(path), "--field", "x",
        "--tokenizer", "none", "--weight-field", "w", "--bad-records", "skip",
        "--max-bad-fraction", "1",  # 2 of 3 skipped: above the default 0.1
    )  # fmt: skip
    assert code == 0 and "skipped         {'bad_weight': 2}" in err
    assert VocabStore(store_root).load("x@v1").tokens[2:] == ["a"]


def test_parquet_and_csv_lists_nulls_and_weights(capsys, store_root, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from vocabguard._src.engines.formats.read import read_records

    table = pa.table(
        {
            "hist": pa.array([["a", "b"], [], None], type=pa.list_(pa.string())),
            "tgt": ["a", None, "c"],
            "ids": pa.array([[1, 2], [3], []], type=pa.list_(pa.int64())),
            "w": [1.0, 0.5, 2.0],
        }
    )
    pq.write_table(table, tmp_path / "t.parquet")
    rows = list(
        read_records(
            [tmp_path / "t.parquet"], fields=["hist", "tgt"], weight_field="w", missing="token"
        )
    )
    assert rows == [
        {"hist": ["a", "b"], "tgt": "a", "w": 1.0},
        {"hist": [], "tgt": None, "w": 0.5},
        {"hist": None, "tgt": "c", "w": 2.0},
    ]
    with pytest.raises(InputDataError, match=r"t.parquet, record 2: field 'tgt' is null"):
        list(read_records([tmp_path / "t.parquet"], fields=["tgt"]))
    code, _, _ = cli(
        capsys, store_root, "build", "--name", "ids", "--input", str(tmp_path / "t.parquet"),
        "--field", "ids", "--tokenizer", "none",
    )  # fmt: skip
    assert code == 0 and VocabStore(store_root).load("ids@v1").tokens == [None, -1, 1, 2, 3]
    (tmp_path / "t.csv").write_text("c,w\nfr,1\n,2.5\nde,0\n")
    rows = list(read_records([tmp_path / "t.csv"], fields=["c"], weight_field="w", missing="oov"))
    assert rows == [{"c": "fr", "w": 1.0}, {"c": "", "w": 2.5}, {"c": "de", "w": 0.0}]
    vocab = build(rows, VocabSpec(tokenizer="none", missing="oov"), fields=["c"], weight_field="w")
    assert vocab.tokens[2:] == ["fr"] and vocab.stats["missing"] == {"c": 1}


def test_remap_along_an_aligned_lineage_initializes_padding_rows(tmp_path):
    from vocabguard._src.tools.remap import remap_embedding, row_map

    store = VocabStore(tmp_path / "store")
    v1 = store.publish(
        build(["a", "b", "c"], VocabSpec(tokenizer="none", pad_to_multiple_of=8)), "p"
    )
    v2 = build(["a", "b", "c", "d", "e", "f", "g"], NONE, parent=v1)
    assert (v1.layout.used_ids, v1.input_dim, v2.layout.used_ids, v2.input_dim) == (5, 8, 9, 16)
    weights = np.arange(8, dtype="float32").reshape(8, 1)
    moved = remap_embedding(weights, v1, v2, init="zeros")
    assert moved.shape == (16, 1)
    assert moved[:5, 0].tolist() == [0, 1, 2, 3, 4]  # every used row kept by token
    assert not moved[5:, 0].any()  # new tokens and padding rows from the initializer
    rows = row_map(v1, v2)
    assert rows.kept == 5 and rows.initialized == 11  # old padding rows 5..7 are never sources


def test_cli_encode_one_id_column_per_field_diff_and_audit(capsys, store_root, tmp_path):
    import pyarrow.parquet as pq

    path = write_jsonl(tmp_path / "t.jsonl", ISSUE_TABLE)
    base = ("build", "--input", str(path), "--tokenizer", "none")
    assert (
        cli(capsys, store_root, *base, "--name", "items", "--field", "hist", "--field", "tgt")[0]
        == 0
    )
    out = tmp_path / "ids.parquet"
    code, _, err = cli(
        capsys, store_root, "encode", "items@v1", "--input", str(path),
        "--field", "hist", "--field", "tgt", "--output", str(out),
    )  # fmt: skip
    assert code == 0 and "encoded 2 documents" in err
    table = pq.read_table(out)
    assert table.to_pylist() == [{"hist": [2, 3, 4], "tgt": 2}, {"hist": [3, 5], "tgt": 6}]
    items = VocabStore(store_root).load("items@v1")
    assert table.column("tgt").to_pylist() == items.encode(["a", "e"]).tolist()
    code, report, _ = cli(
        capsys, store_root, "audit", str(out), "--vocab", "items@v1", "--column", "tgt"
    )
    assert code == 0 and "fingerprint matches the vocabulary" in report
    assert (
        cli(capsys, store_root, *base, "--name", "c", "--field", "country", "--missing", "token")[0]
        == 0
    )
    code, _, _ = cli(
        capsys, store_root, *base, "--name", "c", "--field", "country", "--field", "tgt",
        "--parent", "c@v1", "--pad-to-multiple-of", "8",
    )  # fmt: skip
    assert code == 0
    code, out_text, _ = cli(capsys, store_root, "diff", "c@v1", "c@v2")
    assert "fields         ['country'] -> ['country', 'tgt']" in out_text
    assert "missing        token -> id 2 -> token -> id 2" in out_text
    assert "used ids 4 -> 6, pad_to_multiple_of None -> 8" in out_text


def test_a_total_weight_beyond_int64_counts_is_an_error():
    records = [{"x": "a", "w": 4e12}] * 3  # 1.2e13 * 1e6 units > 2**63
    with pytest.raises(InputDataError, match="Scale the weights down"):
        build(records, fields=["x"], weight_field="w")


def test_audit_counts_missing_ids_and_ids_in_unused_rows(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from vocabguard._src.tools.audit import audit, format_report

    store = VocabStore(tmp_path / "store")
    spec = VocabSpec(tokenizer="none", missing="token", pad_to_multiple_of=8)
    vocab = store.publish(build(["fr", None, "de"], spec), "c")
    assert (vocab.layout.used_ids, vocab.input_dim) == (5, 8)
    ids = [*vocab.encode(["fr", None, None, "xx"]).tolist(), 6]  # 6: a padding row
    pq.write_table(pa.table({"ids": pa.array(ids, pa.int32())}), tmp_path / "ids.parquet")
    result = audit(tmp_path / "ids.parquet", vocab)
    assert result.ok  # every id is in [0, input_dim)
    report = format_report(result)
    assert "missing  2 ids = the missing token (id 2)" in report
    assert "unused   1 ids in rows 5..7" in report and "another vocabulary" in report
    assert result.to_dict()["unused_row_ids"] == 1


def test_diff_data_sample_with_lists_and_nulls(capsys, store_root, tmp_path):
    path = write_jsonl(tmp_path / "t.jsonl", ISSUE_TABLE)
    base = ("build", "--input", str(path), "--tokenizer", "none", "--name", "items")
    assert cli(capsys, store_root, *base, "--field", "hist", "--field", "tgt")[0] == 0
    code, out, _ = cli(
        capsys, store_root, "diff", "items@v1", "items@v1", "--data", str(path), "--field", "hist"
    )
    assert code == 0 and "A  5 tokens, 0 OOV" in out
    country = ("build", "--input", str(path), "--tokenizer", "none", "--name", "c")
    assert cli(capsys, store_root, *country, "--field", "country", "--missing", "oov")[0] == 0
    code, out, _ = cli(
        capsys, store_root, "diff", "c@v1", "c@v1", "--data", str(path), "--field", "country"
    )
    assert code == 0 and "A  1 tokens, 0 OOV" in out  # the null is not a token of the sample


def test_report_of_a_weighted_vocabulary_shows_weight_coverage_and_facts(tmp_path):
    from vocabguard._src.tools.report import coverage_curve, write_report

    store = VocabStore(tmp_path / "store")
    records = [{"x": "a", "w": 3.0}, {"x": "b", "w": 0.5}, {"x": None, "w": 1.5}]
    spec = VocabSpec(tokenizer="none", missing="token", pad_to_multiple_of=8)
    vocab = store.publish(build(records, spec, fields=["x"], weight_field="w"), "w")
    curve = coverage_curve(vocab)
    assert curve.total_tokens == 5_000_000  # the total weight, in micro-units
    assert curve.coverage[-1] == pytest.approx((3.0 + 1.5) / 5.0)  # b (0.5) is below min_count
    write_report(vocab, tmp_path / "report")
    html = (tmp_path / "report" / "report.html").read_text()
    assert "weighted" in html and "aligned" in html and "[MISSING]" in html
    assert "<th>weight (w)</th>" in html and "<td>3</td>" in html  # 'a' weighs 3.0


ELEMENT = st.one_of(st.none(), st.sampled_from(["a", "b b", "", "É", "c"]))


@settings(max_examples=150, deadline=None)
@given(
    rows=st.lists(
        st.one_of(st.none(), st.lists(ELEMENT, max_size=4), ELEMENT), min_size=1, max_size=12
    ),
    tokenizer=st.sampled_from(["none", "whitespace"]),
    policy=st.sampled_from(["skip", "oov", "token"]),
    lowercase=st.booleans(),
)
def test_arrow_fast_path_equals_the_general_path(rows, tokenizer, policy, lowercase):
    from vocabguard._src.core.values import record_tokens

    spec = VocabSpec(tokenizer=tokenizer, missing=policy, lowercase=lowercase)
    fast = record_tokens(list(rows), spec)  # a list of lists: the Arrow path
    general = record_tokens(tuple(rows), spec)  # any other sequence: the element loop
    assert fast.lists.to_pylist() == general.lists.to_pylist()
    assert (fast.missing, fast.has_lists, fast.token_type) == (
        general.missing,
        general.has_lists,
        general.token_type,
    )
    ints = [
        None
        if r is None
        else [None if e is None else len(e) for e in r]
        if isinstance(r, list)
        else len(r)
        for r in rows
    ]
    spec = VocabSpec(tokenizer="none", missing=policy)
    assert (
        record_tokens(list(ints), spec).lists.to_pylist()
        == record_tokens(tuple(ints), spec).lists.to_pylist()
    )
