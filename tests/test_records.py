"""vocabguard._src.engines.formats.read.iter_records: every format, every BadRecord reason, error text."""

from __future__ import annotations

import csv
import gzip
import io
import json
import pickle

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from vocabguard._src.engines.formats.common import BadRecord
from vocabguard._src.engines.formats.read import iter_records, read_documents
from vocabguard.errors import InputDataError


def parse(data: bytes, format: str, fields, path: str | None = None, **kwargs) -> list:
    """Every item iter_records yields for ``data``, as a list."""
    path = path or f"/data/input.{format}"
    return list(iter_records(io.BytesIO(data), path, format, fields, **kwargs))


def good(items) -> list:
    return [item for item in items if not isinstance(item, BadRecord)]


def bad(items) -> list[BadRecord]:
    return [item for item in items if isinstance(item, BadRecord)]


def jsonl(*records) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in records).encode()


def parquet_bytes(table: pa.Table, **kwargs) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink, **kwargs)
    return sink.getvalue()


def tfrecord_bytes(tmp_path, examples) -> bytes:
    """TFRecord framing of ``examples`` (tf.train.Example or raw bytes), by TensorFlow."""
    import tensorflow as tf

    path = str(tmp_path / "written.tfrecord")
    with tf.io.TFRecordWriter(path) as writer:
        for example in examples:
            writer.write(example if isinstance(example, bytes) else example.SerializeToString())
    with open(path, "rb") as handle:
        return handle.read()


def example(**features):
    """A tf.train.Example: str/bytes -> bytes_list, int -> int64_list, float -> float_list.

    A list value gives several values of that kind.
    """
    import tensorflow as tf

    feature = {}
    for key, value in features.items():
        values = value if isinstance(value, list) else [value]
        if all(isinstance(v, float) for v in values) and values:
            feature[key] = tf.train.Feature(float_list=tf.train.FloatList(value=values))
        elif all(isinstance(v, int) for v in values) and values:
            feature[key] = tf.train.Feature(int64_list=tf.train.Int64List(value=values))
        else:
            raw = [v.encode() if isinstance(v, str) else v for v in values]
            feature[key] = tf.train.Feature(bytes_list=tf.train.BytesList(value=raw))
    return tf.train.Example(features=tf.train.Features(feature=feature))


def check_error_text(record: BadRecord, *parts: str) -> str:
    """``record.error()`` names the file, record, field and reason; returns its text."""
    err = record.error()
    assert isinstance(err, InputDataError)
    text = str(err)
    where = f"{record.path}, {record.unit} {record.record}"
    assert text.startswith(where), text
    if record.field:
        assert f"{where}, field {record.field!r}: " in text
    assert "bad_records: skip drops and counts bad records instead" in text
    assert text.endswith(
        f"Received: file={record.path!r}, record={record.record}, field={record.field!r}, "
        f"reason={record.reason!r}"
    )
    for part in parts:
        assert part in text, (part, text)
    assert (err.file, err.record, err.field, err.reason) == (
        record.path,
        record.record,
        record.field,
        record.reason,
    )
    assert err.cases == [(record.path, record.record, record.field, record.reason)]
    return text


# -- text --


def test_text_lines_are_records_numbered_from_one():
    data = b"\xef\xbb\xbfthe cat\r\n\nsat on  the mat\nlast line"
    items = parse(data, "text", ["text"])
    assert items == [
        (1, {"text": "the cat"}),
        (2, {"text": ""}),
        (3, {"text": "sat on  the mat"}),
        (4, {"text": "last line"}),
    ]


def test_text_line_endings_match_the_in_process_reader(tmp_path):
    # Only one line ending is removed; a lone or doubled "\r" stays part of the text,
    # exactly as read_documents (the in-process builder's reader) keeps it.
    data = b"a\r\r\nb\rc\nd \r\nlast\r"
    path = tmp_path / "endings.txt"
    path.write_bytes(data)
    beam_values = [values["text"] for _, values in parse(data, "text", ["text"])]
    assert beam_values == list(read_documents([str(path)]))
    assert beam_values == ["a\r", "b\rc", "d ", "last\r"]


def test_text_undecodable_line():
    items = parse(b"fine\ncaf\xe9 au lait\nalso fine\n", "text", ["text"], path="/d/t.txt")
    assert good(items) == [(1, {"text": "fine"}), (3, {"text": "also fine"})]
    [record] = bad(items)
    assert (record.record, record.reason, record.unit) == (2, "undecodable", "line")
    check_error_text(
        record, "/d/t.txt, line 2: bytes b'\\xe9' at column 4 are not valid UTF-8", "re-encode"
    )


def test_text_takes_only_the_text_field():
    with pytest.raises(InputDataError) as info:
        parse(b"a\n", "text", ["body"], path="/d/t.txt")
    assert str(info.value) == (
        "/d/t.txt is a text file: each line is one document, read as field 'text'. Use field "
        "'text' (or a jsonl/csv/parquet input for other fields). Received: fields=['body']"
    )


def test_unknown_format_is_an_error():
    with pytest.raises(InputDataError) as info:
        parse(b"a\n", "xml", ["text"], path="/d/t.xml")
    assert str(info.value) == (
        "Unknown input format 'xml' for /d/t.xml; expected one of text, jsonl, csv, parquet, "
        "tfrecord. Received: format='xml'"
    )


# -- JSON Lines --


def test_jsonl_records_and_line_numbers():
    data = (
        b'\xef\xbb\xbf{"text": "a b", "country": "fr", "year": 2020, "extra": [1]}\n'
        b"\n"
        b"   \n"
        b'{"text": "", "country": "de", "year": -3}\r\n'
    )
    items = parse(data, "jsonl", ["text", "country", "year"])
    assert items == [
        (1, {"text": "a b", "country": "fr", "year": 2020}),
        (4, {"text": "", "country": "de", "year": -3}),
    ]


@pytest.mark.parametrize(
    ("line", "field", "reason", "detail"),
    [
        (
            '{"country": "fr"}',
            "text",
            "missing_field",
            "the record has no field 'text' (its fields: 'country')",
        ),
        ('{"text": null, "country": "fr"}', "text", "missing_field", "the field is null"),
        (
            '{"text": "ok", "country": 1.5}',
            "country",
            "wrong_type",
            "expected a string or an integer, found float 1.5",
        ),
        (
            '{"text": "ok", "country": true}',
            "country",
            "wrong_type",
            "expected a string or an integer, found bool True",
        ),
        (
            '{"text": ["a", "b"], "country": "fr"}',
            "text",
            "wrong_type",
            "expected a string or an integer, found list ['a', 'b']",
        ),
        (
            '{"text": "a", "country": "fr"',
            None,
            "bad_json",
            "invalid JSON (Expecting ',' delimiter",
        ),
        ('["a", "fr"]', None, "wrong_type", "expected a JSON object, found list"),
        ('"just a string"', None, "wrong_type", "expected a JSON object, found str"),
    ],
)
def test_jsonl_bad_records(line, field, reason, detail):
    data = jsonl({"text": "first", "country": "us"}) + line.encode() + b"\n"
    data += jsonl({"text": "third", "country": "jp"})
    items = parse(data, "jsonl", ["text", "country"], path="/data/news.jsonl")
    assert good(items) == [
        (1, {"text": "first", "country": "us"}),
        (3, {"text": "third", "country": "jp"}),
    ]
    [record] = bad(items)
    assert (record.path, record.record, record.field, record.reason, record.unit) == (
        "/data/news.jsonl",
        2,
        field,
        reason,
        "line",
    )
    assert record.detail.startswith(detail), record.detail
    field_part = f", field {field!r}" if field else ""
    check_error_text(record, f"/data/news.jsonl, line 2{field_part}: {detail}")


def test_jsonl_undecodable_line_names_the_bytes_and_column():
    data = jsonl({"text": "ok"}) + b'{"text": "na\xefve"}\n' + jsonl({"text": "ok too"})
    items = parse(data, "jsonl", ["text"], path="/data/news.jsonl")
    assert good(items) == [(1, {"text": "ok"}), (3, {"text": "ok too"})]
    [record] = bad(items)
    assert (record.record, record.field, record.reason) == (2, None, "undecodable")
    check_error_text(
        record,
        "/data/news.jsonl, line 2: bytes b'\\xef' at column 13 are not valid UTF-8 "
        "(re-encode the file as UTF-8). Fix the record",
    )


def test_passthrough_fields_accept_any_non_null_value():
    data = jsonl(
        {"text": "a", "score": 0.5, "flag": True},
        {"text": "b", "score": None, "flag": False},
        {"text": 1.5, "score": 1.0, "flag": True},
    )
    items = parse(data, "jsonl", ["text"], passthrough=["score", "flag"])
    assert good(items) == [(1, {"text": "a", "score": 0.5, "flag": True})]
    null, typed = bad(items)
    assert (null.record, null.field, null.reason, null.detail) == (
        2,
        "score",
        "missing_field",
        "the field is null",
    )
    assert (typed.record, typed.field, typed.reason) == (3, "text", "wrong_type")


# -- CSV --


def test_csv_header_is_line_one_and_quoted_records_keep_their_first_line():
    data = (
        b'\xef\xbb\xbftext,country,n\n"multi\nline, text",fr,1\n\nplain,de,2\r\n"say ""hi""",us,3\n'
    )
    items = parse(data, "csv", ["text", "country", "n"])
    assert items == [
        (2, {"text": "multi\nline, text", "country": "fr", "n": "1"}),
        (5, {"text": "plain", "country": "de", "n": "2"}),
        (6, {"text": 'say "hi"', "country": "us", "n": "3"}),
    ]


def test_csv_matches_the_in_process_reader(tmp_path):
    data = b'\xef\xbb\xbftext,country\r\n"a\nb",fr\n\nc d,de\n'
    path = tmp_path / "in.csv"
    path.write_bytes(data)
    beam_values = [values["text"] for _, values in parse(data, "csv", ["text", "country"])]
    assert beam_values == list(read_documents([str(path)], field="text")) == ["a\nb", "c d"]


def test_csv_missing_header_column_is_an_error():
    with pytest.raises(InputDataError) as info:
        parse(b"body,country\nx,fr\n", "csv", ["text"], path="/d/in.csv")
    assert str(info.value) == (
        "/d/in.csv, line 1: the CSV header has no column 'text' (columns: 'body', 'country'). "
        "Fix the field name in the job config. Received: file='/d/in.csv', field='text'"
    )


def test_csv_empty_file_holds_no_records():
    assert parse(b"", "csv", ["text"]) == []


def test_csv_short_row_is_a_wrong_field_count():
    items = parse(b"text,country\na,fr\nb\nc,de\n", "csv", ["text", "country"], path="/d/in.csv")
    assert good(items) == [(2, {"text": "a", "country": "fr"}), (4, {"text": "c", "country": "de"})]
    [record] = bad(items)
    assert (record.record, record.field, record.reason) == (3, None, "wrong_field_count")
    check_error_text(record, "/d/in.csv, line 3: the row has 1 fields, expected 2 as in the header")


def test_csv_undecodable_line_is_reported_on_its_line_and_the_rest_is_read():
    data = b"text,country\na,fr\nb,de\nc\xff,us\nd,jp\n"
    items = parse(data, "csv", ["text", "country"], path="/d/in.csv")
    assert good(items) == [
        (2, {"text": "a", "country": "fr"}),
        (3, {"text": "b", "country": "de"}),
        (5, {"text": "d", "country": "jp"}),
    ]
    [record] = bad(items)
    assert (record.record, record.field, record.reason) == (4, None, "undecodable")
    check_error_text(record, "/d/in.csv, line 4: bytes b'\\xff' at column 2 are not valid UTF-8")


def test_csv_undecodable_line_inside_a_quoted_record_drops_that_record():
    data = b'text,country\n"a\nb\xff\nc",fr\nd,de\n'
    items = parse(data, "csv", ["text", "country"], path="/d/in.csv")
    assert good(items) == [(5, {"text": "d", "country": "de"})]
    [record] = bad(items)
    assert (record.record, record.reason) == (3, "undecodable")
    check_error_text(record, "/d/in.csv, line 3: bytes b'\\xff' at column 2")


def test_csv_undecodable_header():
    [record] = parse(b"te\xffxt\na\n", "csv", ["text"], path="/d/in.csv")
    assert (record.record, record.reason) == (1, "undecodable")
    check_error_text(record, "/d/in.csv, line 1: bytes b'\\xff'")


def test_csv_malformed_line_is_a_bad_record_and_reading_goes_on():
    # A bare carriage return inside an unquoted field.
    data = b"text,country\na,fr\nb\rc,de\nd,us\n"
    items = parse(data, "csv", ["text", "country"], path="/d/in.csv")
    assert good(items) == [(2, {"text": "a", "country": "fr"}), (4, {"text": "d", "country": "us"})]
    [record] = bad(items)
    assert (record.record, record.field, record.reason) == (3, None, "bad_csv")
    check_error_text(record, "/d/in.csv, line 3: malformed CSV (new-line character seen")


def test_csv_field_larger_than_the_csv_module_default_limit():
    long_text = "word " * 40_000  # 200 KB, over csv's 128 KiB default field limit
    previous = csv.field_size_limit()
    csv.field_size_limit(131072)
    try:
        items = parse(f"text\n{long_text}\nshort\n".encode(), "csv", ["text"])
    finally:
        csv.field_size_limit(max(previous, csv.field_size_limit()))
    assert items == [(2, {"text": long_text}), (3, {"text": "short"})]


@pytest.mark.parametrize(
    ("format", "data", "expected"),
    [
        ("text", b"a b\r\nc\n", [(1, {"text": "a b"}), (2, {"text": "c"})]),
        (
            "jsonl",
            b'{"text": "a b"}\n\n{"text": "c"}\n',
            [(1, {"text": "a b"}), (3, {"text": "c"})],
        ),
        ("csv", b"text,n\na b,1\nc,2\n", [(2, {"text": "a b"}), (3, {"text": "c"})]),
    ],
)
def test_gzip_inputs_as_beam_opens_them(tmp_path, format, data, expected):
    # The Beam reader opens files uncompressed; iter_records decompresses by suffix.
    from apache_beam.io.filesystem import CompressionTypes
    from apache_beam.io.filesystems import FileSystems

    path = tmp_path / f"input.{format}.gz"
    path.write_bytes(gzip.compress(data))
    with FileSystems.open(str(path), compression_type=CompressionTypes.UNCOMPRESSED) as handle:
        items = list(iter_records(handle, str(path), format, ["text"]))
    assert items == expected


# -- Parquet --


def test_parquet_records_across_row_groups():
    table = pa.table(
        {
            "text": [f"doc {i}" for i in range(7)],
            "raw": [f"r{i}".encode() for i in range(7)],
            "year": pa.array(range(2000, 2007), type=pa.int32()),
            "unused": [0.5] * 7,
        }
    )
    data = parquet_bytes(table, row_group_size=3)
    assert pq.ParquetFile(io.BytesIO(data)).num_row_groups == 3
    items = parse(data, "parquet", ["text", "raw", "year"])
    assert items == [
        (i + 1, {"text": f"doc {i}", "raw": f"r{i}".encode(), "year": 2000 + i}) for i in range(7)
    ]


def test_parquet_null_and_wrong_type_are_bad_records():
    table = pa.table({"text": ["a", None, "c", "d"], "score": [1.0, 2.0, 3.5, None]})
    data = parquet_bytes(table)
    items = parse(data, "parquet", ["text", "score"], path="/d/p.parquet")
    assert good(items) == []
    first, null, wrong, last = bad(items)
    assert [(r.record, r.field, r.reason, r.unit) for r in (first, null, wrong, last)] == [
        (1, "score", "wrong_type", "record"),
        (2, "text", "missing_field", "record"),
        (3, "score", "wrong_type", "record"),
        (4, "score", "missing_field", "record"),
    ]
    check_error_text(null, "/d/p.parquet, record 2, field 'text': the field is null")
    check_error_text(
        wrong,
        "/d/p.parquet, record 3, field 'score': expected a string or an integer, found float 3.5",
    )
    # As passthrough, the float column is read as it is; only the null is refused.
    items = parse(data, "parquet", ["text"], passthrough=["score"], path="/d/p.parquet")
    assert good(items) == [(1, {"text": "a", "score": 1.0}), (3, {"text": "c", "score": 3.5})]
    assert [(r.record, r.field) for r in bad(items)] == [(2, "text"), (4, "score")]


def test_parquet_missing_column_is_an_error():
    data = parquet_bytes(pa.table({"body": ["x"], "n": [1]}))
    with pytest.raises(InputDataError) as info:
        parse(data, "parquet", ["text"], path="/d/p.parquet")
    assert str(info.value) == (
        "/d/p.parquet: the Parquet file has no column 'text' (columns: 'body', 'n'). Fix the "
        "field name in the job config. Received: file='/d/p.parquet', field='text'"
    )


# -- TFRecord --


def test_tfrecord_examples(tmp_path):
    data = tfrecord_bytes(
        tmp_path,
        [
            example(text="the cat", country="fr", year=2020),
            example(text="", country=b"de", year=-1, other=[1.0, 2.0]),
        ],
    )
    items = parse(data, "tfrecord", ["text", "country", "year"])
    assert items == [
        (1, {"text": "the cat", "country": "fr", "year": 2020}),
        (2, {"text": "", "country": "de", "year": -1}),
    ]


@pytest.mark.parametrize(
    ("features", "field", "reason", "detail"),
    [
        ({"country": "fr"}, "text", "missing_field", "no field 'text' (its fields: 'country')"),
        ({"text": [], "country": "fr"}, "text", "missing_field", "found 0 bytes_list values"),
        ({"text": ["a", "b"], "country": "fr"}, "text", "wrong_type", "found 2 bytes_list values"),
        ({"text": "a", "country": 1.5}, "country", "wrong_type", "found 1 float_list values"),
        (
            {"text": b"caf\xe9", "country": "fr"},
            "text",
            "undecodable",
            "bytes b'\\xe9' at column 4 are not valid UTF-8",
        ),
    ],
)
def test_tfrecord_bad_examples(tmp_path, features, field, reason, detail):
    data = tfrecord_bytes(
        tmp_path,
        [example(text="ok", country="us"), example(**features), example(text="b", country="jp")],
    )
    items = parse(data, "tfrecord", ["text", "country"], path="/d/x.tfrecord")
    assert good(items) == [
        (1, {"text": "ok", "country": "us"}),
        (3, {"text": "b", "country": "jp"}),
    ]
    [record] = bad(items)
    assert (record.record, record.field, record.reason, record.unit) == (2, field, reason, "record")
    assert detail in record.detail
    check_error_text(record, f"/d/x.tfrecord, record 2, field {field!r}: ", detail)


def test_tfrecord_float_passthrough(tmp_path):
    data = tfrecord_bytes(tmp_path, [example(text="a", score=0.5)])
    items = parse(data, "tfrecord", ["text"], passthrough=["score"])
    assert items == [(1, {"text": "a", "score": 0.5})]


def test_tfrecord_record_that_is_not_an_example(tmp_path):
    data = tfrecord_bytes(tmp_path, [example(text="a"), b"\xff\xff\xff", example(text="c")])
    items = parse(data, "tfrecord", ["text"], path="/d/x.tfrecord")
    assert good(items) == [(1, {"text": "a"}), (3, {"text": "c"})]
    [record] = bad(items)
    assert (record.record, record.field, record.reason) == (2, None, "bad_example")
    check_error_text(record, "/d/x.tfrecord, record 2: not a tf.train.Example (")


def test_tfrecord_corrupt_framing_stops_the_file(tmp_path):
    data = bytearray(tfrecord_bytes(tmp_path, [example(text="a"), example(text="b")]))
    first = 8 + 4 + len(example(text="a").SerializeToString()) + 4
    data[first + 8] ^= 0xFF  # the second record's length CRC
    items = parse(bytes(data), "tfrecord", ["text"], path="/d/x.tfrecord")
    assert items[0] == (1, {"text": "a"})
    [record] = items[1:]
    assert (record.record, record.reason, record.unit) == (2, "corrupt", "record")
    check_error_text(record, "/d/x.tfrecord, record 2: corrupt TFRecord framing (")


# -- BadRecord.error --


def test_bad_record_error_text_and_pickling():
    record = BadRecord("gs://b/news.jsonl", 12, "text", "wrong_type", "expected a string")
    err = record.error()
    assert str(err) == (
        "gs://b/news.jsonl, line 12, field 'text': expected a string. Fix the record. "
        "bad_records: skip drops and counts bad records instead, for a few of them (a build that "
        "skips more than max_bad_fraction of its records still fails). Received: "
        "file='gs://b/news.jsonl', record=12, field='text', reason='wrong_type'"
    )
    # Beam ships worker errors pickled: the text and details survive.
    copy = pickle.loads(pickle.dumps(err))
    assert type(copy) is InputDataError and str(copy) == str(err)
    assert (copy.file, copy.record, copy.field, copy.reason) == (
        "gs://b/news.jsonl",
        12,
        "text",
        "wrong_type",
    )
    no_field = BadRecord("f.tfrecord", 3, None, "corrupt", "bad CRC", "record")
    assert str(no_field.error()).startswith("f.tfrecord, record 3: bad CRC. Fix the record")


def test_missing_field_error_names_the_fields_and_the_closest_before_skip():
    [record] = parse(b'{"id": "1", "text": "a", "topic": "tech"}\n', "jsonl", ["topik"])
    text = str(record.error())
    assert text.startswith(
        "/data/input.jsonl, line 1, field 'topik': the record has no field 'topik' (its fields: "
        "'id', 'text', 'topic'; closest: 'topic'). If the field name in the job config is misspelled, "
        "fix it there; if only some records lack the field, fix them. bad_records: skip"
    ), text
