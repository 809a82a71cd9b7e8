"""The input formats' shared layers: lines, TFRecord framing, the writer and reader of
encoded TFRecord files, and the error for an input that matches no file."""

from __future__ import annotations

import io
import pickle

import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from vocabguard._src.engines.formats.common import Oversized, lines
from vocabguard._src.engines.formats.fields import Wanted
from vocabguard._src.engines.formats.inputs import expand_inputs
from vocabguard._src.engines.formats.tfrecord import (
    frame,
    frames,
    table_to_examples,
    tfrecord_records,
)
from vocabguard.errors import InputDataError, InputNotFoundError

RECORDS = st.lists(st.binary(max_size=64), max_size=8)


@given(RECORDS)
def test_framing_round_trips(records):
    data = b"".join(frame(r) for r in records)
    assert list(frames(io.BytesIO(data))) == records


@given(RECORDS.filter(bool), st.data())
def test_a_cut_inside_a_record_is_reported_never_dropped(records, data):
    framed = [frame(r) for r in records]
    whole = b"".join(framed)
    ends = {sum(len(f) for f in framed[: i + 1]) for i in range(len(framed))}
    cut = data.draw(st.integers(1, len(whole) - 1).filter(lambda n: n not in ends))
    items = list(frames(io.BytesIO(whole[:cut])))
    assert isinstance(items[-1], str) and "truncated" in items[-1]
    assert items[:-1] == records[: len(items) - 1]


def test_a_flipped_byte_is_a_crc_mismatch():
    data = bytearray(frame(b"hello"))
    data[13] ^= 0xFF  # inside the data
    assert list(frames(io.BytesIO(bytes(data)))) == ["the data's CRC does not match (corrupt)"]


def test_encoded_examples_read_back_through_the_input_reader():
    table = pa.table({"ids": [[3, 4], [5]], "label": [1.5, 2.0], "name": ["a", "b"]})
    data = b"".join(frame(e) for e in table_to_examples(table, {"ids": "fp0"}))
    wanted = Wanted(["name"], passthrough=["label"])
    rows = list(tfrecord_records(io.BytesIO(data), "out.tfrecord", wanted))
    assert rows == [(1, {"name": "a", "label": 1.5}), (2, {"name": "b", "label": 2.0})]


@given(st.lists(st.text(alphabet="ab\r", max_size=5), min_size=1, max_size=6))
def test_lines_remove_exactly_one_line_ending(texts):
    data = "\n".join(texts).encode() + b"\n"
    got = [raw.decode() for _, raw in lines(io.BytesIO(data), 100)]
    # A "\r" before "\n" goes with the line ending; any other "\r" stays.
    assert got == [t[:-1] if t.endswith("\r") else t for t in texts]


def test_a_line_over_the_bound_is_one_oversized_and_reading_goes_on():
    data = b"short\n" + b"x" * 50 + b"\nafter\n"
    got = list(lines(io.BytesIO(data), 10))
    assert got[0] == (1, b"short") and got[2] == (3, b"after")
    assert isinstance(got[1][1], Oversized)


def test_input_not_found_is_an_input_error_and_a_file_not_found_error(tmp_path):
    with pytest.raises(InputNotFoundError) as info:
        expand_inputs([str(tmp_path / "none-*.txt")])
    err = info.value
    assert isinstance(err, InputDataError) and isinstance(err, FileNotFoundError)
    assert str(err).endswith(f"Received: input='{tmp_path}/none-*.txt'")
    copy = pickle.loads(pickle.dumps(err))
    assert type(copy) is InputNotFoundError and copy.cases == err.cases
