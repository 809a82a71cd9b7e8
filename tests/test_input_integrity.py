"""Inputs under accident: mis-parsed CSV, compressed and truncated files, corrupt Parquet.

Issue 11: every path (the in-process readers behind ``vocabguard build`` and the
Beam reader) parses CSV with one parser and decompresses with one implementation,
so each defect below is tested on both. Each test failed before the fix.
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import os

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.testing import test_pipeline as beam_testing

from vocabguard._src.engines.beam.read import ReadRecordBatches
from vocabguard._src.engines.formats.common import BadRecord
from vocabguard._src.engines.formats.read import iter_records, read_documents
from vocabguard.cli import main
from vocabguard.errors import InputDataError

ROWS = [f"document number {i},{i % 2}" for i in range(1000)]


def csv_bytes(rows) -> bytes:
    return ("text,label\n" + "".join(row + "\n" for row in rows)).encode()


def records(path, format, fields):
    with open(path, "rb") as handle:
        return list(iter_records(handle, str(path), format, fields))


def bad(items):
    return [i for i in items if isinstance(i, BadRecord)]


def good(items):
    return [i for i in items if not isinstance(i, BadRecord)]


def pipeline():
    return beam_testing.TestPipeline(options=PipelineOptions(["--runner=DirectRunner"]))


def run_read(paths, fields, policy):
    """Run ReadRecordBatches; return (records read, counters)."""
    p = pipeline()
    batches = p | ReadRecordBatches([str(x) for x in paths], fields, bad_records=policy)
    _ = batches | beam.Map(len)
    result = p.run(test_runner_api=False)
    result.wait_until_finish()
    totals: dict[str, int] = {}
    for counter in result.metrics().query(MetricsFilter().with_namespace("vocabguard"))["counters"]:
        totals[counter.key.metric.name] = totals.get(counter.key.metric.name, 0) + counter.committed
    return totals


# -- CSV: one parser, strict --


def test_unterminated_quote_is_a_bad_record_on_every_path(tmp_path):
    rows = list(ROWS)
    rows[2] = '"an opening quote that never closes,0'
    path = tmp_path / "news.csv"
    path.write_bytes(csv_bytes(rows))
    expected = (
        f"{path}, line 4: a quoted field opened on line 4 is never closed: the rest of the "
        "file (998 lines) would be one field; expected a closing '\"'"
    )
    with pytest.raises(InputDataError) as info:
        list(read_documents([path], field="text"))
    assert str(info.value).startswith(expected)
    assert "bad_records" not in str(info.value)  # the in-process build has no skip policy
    items = records(path, "csv", ["text"])
    assert len(good(items)) == 2
    [record] = bad(items)
    assert (record.record, record.reason) == (4, "unterminated_quote")
    assert str(record.error()).startswith(expected)


def cli(capsys, *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return code, err


def test_unterminated_quote_fails_the_cli_build_with_one_line(tmp_path, capsys):
    rows = list(ROWS)
    rows[2] = '"an opening quote that never closes,0'
    (tmp_path / "news.csv").write_bytes(csv_bytes(rows))
    code, err = cli(
        capsys,
        "build",
        "--input",
        str(tmp_path / "news.csv"),
        "--field",
        "text",
        "--name",
        "news",
        "--store",
        str(tmp_path / "st"),
    )
    assert code != 0
    assert "line 4: a quoted field opened on line 4 is never closed" in err
    assert not os.path.exists(tmp_path / "st" / "news")


def test_one_comma_too_many_is_a_bad_record_not_a_short_document(tmp_path):
    path = tmp_path / "news.csv"
    path.write_bytes(b"text,label\nfine,1\nhello, world,1\nalso fine,0\n")
    with pytest.raises(InputDataError) as info:
        list(read_documents([path], field="text"))
    assert str(info.value).startswith(
        f"{path}, line 3: the row has 3 fields, expected 2 as in the header (quote values "
        "that contain commas). Fix the record. Received:"
    )
    items = records(path, "csv", ["text"])
    assert [values["text"] for _, values in good(items)] == ["fine", "also fine"]
    [record] = bad(items)
    assert (record.record, record.reason) == (3, "wrong_field_count")


def test_beam_counts_bad_csv_rows_under_skip_and_fails_under_fail(tmp_path):
    path = tmp_path / "news.csv"
    path.write_bytes(b"text,label\nfine,1\nhello, world,1\nalso fine,0\n")
    assert run_read([path], ["text"], "skip")["bad_records.wrong_field_count"] == 1
    with pytest.raises(Exception, match=r"line 3: the row has 3 fields, expected 2"):
        run_read([path], ["text"], "fail")


# -- compressed inputs: every compression Beam reads, on every path --


def _arrow_frame(data: bytes, codec: str) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.CompressedOutputStream(sink, codec) as out:
        out.write(data)
    return sink.getvalue().to_pybytes()


COMPRESSORS = {
    ".gz": gzip.compress,
    ".bz2": bz2.compress,
    ".xz": lzma.compress,
    ".zst": lambda data: _arrow_frame(data, "zstd"),
}
if pa.Codec.is_available("lz4"):
    COMPRESSORS[".lz4"] = lambda data: _arrow_frame(data, "lz4")

TEXT = "".join(f"line {i} of the corpus\n" for i in range(20_000)).encode()


@pytest.mark.parametrize("suffix", list(COMPRESSORS))
@pytest.mark.parametrize("format", ["txt", "csv"])
def test_compressed_inputs_read_alike_on_every_path(tmp_path, suffix, format):
    data = TEXT if format == "txt" else b"text\n" + TEXT
    path = tmp_path / f"corpus.{format}{suffix}"
    path.write_bytes(COMPRESSORS[suffix](data))
    expected = TEXT.decode().splitlines()
    field = None if format == "txt" else "text"
    assert list(read_documents([path], field=field)) == expected
    items = records(path, "text" if format == "txt" else "csv", ["text"])
    assert [values["text"] for _, values in items] == expected


@pytest.mark.parametrize("suffix", list(COMPRESSORS))
def test_truncated_compressed_file_is_an_error_on_every_path(tmp_path, suffix):
    whole = COMPRESSORS[suffix](TEXT)
    path = tmp_path / f"corpus.txt{suffix}"
    path.write_bytes(whole[: len(whole) // 2])
    expected = f"{path}: the "
    with pytest.raises(InputDataError) as info:
        list(read_documents([path]))
    assert str(info.value).startswith(expected)
    assert "-compressed file is truncated or corrupt" in str(info.value)
    with pytest.raises(InputDataError, match="file is truncated or corrupt"):
        records(path, "text", ["text"])


def test_truncated_gzip_fails_the_beam_read_under_both_policies(tmp_path):
    whole = gzip.compress(TEXT)
    path = tmp_path / "corpus.txt.gz"
    path.write_bytes(whole[: len(whole) // 2])
    for policy in ("fail", "skip"):
        with pytest.raises(Exception, match=r"corpus\.txt\.gz: the gzip-compressed file is trunc"):
            run_read([path], ["text"], policy)


def test_gzip_csv_builds_in_process_like_the_plain_file(tmp_path):
    (tmp_path / "a.csv").write_bytes(csv_bytes(ROWS))
    (tmp_path / "b.csv.gz").write_bytes(gzip.compress(csv_bytes(ROWS)))
    assert list(read_documents([tmp_path / "b.csv.gz"], field="text")) == list(
        read_documents([tmp_path / "a.csv"], field="text")
    )


# -- corrupt Parquet: one line, never a traceback; counted as a file under skip --


def corrupt_parquet(path) -> None:
    path.write_bytes(os.urandom(3000))


def test_corrupt_parquet_in_process_is_one_line(tmp_path):
    path = tmp_path / "random.parquet"
    corrupt_parquet(path)
    with pytest.raises(InputDataError) as info:
        list(read_documents([path], field="text"))
    assert str(info.value).startswith(f"{path} is not a readable Parquet file (")
    assert "\n" not in str(info.value)


def test_corrupt_parquet_on_beam_fails_or_is_counted_as_a_file(tmp_path):
    good_path = tmp_path / "good.parquet"
    pq.write_table(pa.table({"text": ["a b", "c"]}), good_path)
    bad_path = tmp_path / "random.parquet"
    corrupt_parquet(bad_path)
    with open(bad_path, "rb") as handle:
        [record] = list(iter_records(handle, str(bad_path), "parquet", ["text"]))
    assert (record.reason, record.unit) == ("unreadable_file", "file")
    assert str(record.error()).startswith(f"{bad_path}: not a readable Parquet file (")
    assert "bad_records: skip drops and counts bad files instead" in str(record.error())
    counts = run_read([good_path, bad_path], ["text"], "skip")
    assert counts["records_read"] == 2
    assert counts["bad_records.unreadable_file"] == 1
    with pytest.raises(Exception, match=r"random\.parquet: not a readable Parquet file"):
        run_read([good_path, bad_path], ["text"], "fail")


def test_audit_of_a_corrupt_parquet_is_one_line(tmp_path, capsys):
    from vocabguard import VocabSpec, VocabStore, build_vocabulary

    store = tmp_path / "st"
    VocabStore(store).publish(build_vocabulary(["a b"], VocabSpec(), progress=False), "news")
    corrupt_parquet(tmp_path / "random.parquet")
    code, err = cli(
        capsys, "audit", str(tmp_path / "random.parquet"), "--vocab", "news", "--store", str(store)
    )
    assert code != 0
    assert "random.parquet is not a readable Parquet file" in err
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("policy", ["fail", "skip"])
def test_truncated_gzip_fails_read_records_under_both_policies(tmp_path, policy):
    from vocabguard._src.engines.formats.read import read_records

    whole = gzip.compress(csv_bytes(ROWS * 20))
    path = tmp_path / "news.csv.gz"
    path.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(InputDataError) as info:
        list(read_records([path], fields=["text", "label"], bad_records=policy))
    assert str(info.value).startswith(f"{path}: the gzip-compressed file is truncated or corrupt")
