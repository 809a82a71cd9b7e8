"""The TFRecord format: framed records (CRC32C checked) of ``tf.train.Example``.

Read without TensorFlow: ``frames`` reads the framing, ``example_class`` parses
``tf.train.Example`` with a copy of its protobuf schema in a private descriptor
pool. Its views are ``tfrecord_records`` (the Beam jobs' input: a field holds
exactly one bytes or int64 value, or a list where the rules allow) and
``read_tfrecord`` (the audit's encoded data: the raw records of a file).

>>> import io
>>> example = example_class()()
>>> example.features.feature["text"].bytes_list.value.append(b"to be")
>>> data = frame(example.SerializeToString())
>>> list(tfrecord_records(io.BytesIO(data), "a.tfrecord", Wanted(["text"])))
[(1, {'text': 'to be'})]
"""

from __future__ import annotations

import dataclasses
import gzip
import struct
from collections.abc import Iterator, Mapping
from typing import Any, BinaryIO

from vocabguard._src.core.errors import InputDataError, received
from vocabguard._src.engines.formats.common import BadRecord, as_record_unit, decode
from vocabguard._src.engines.formats.fields import Wanted, check_value, missing_field_detail

_EXAMPLE_CLASS = None


def example_class() -> type:
    """``tf.train.Example`` as a protobuf class, without TensorFlow (a private pool)."""
    global _EXAMPLE_CLASS
    if _EXAMPLE_CLASS is not None:
        return _EXAMPLE_CLASS
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    F = descriptor_pb2.FieldDescriptorProto
    proto = descriptor_pb2.FileDescriptorProto(
        name="vocabguard_example.proto", package="tensorflow", syntax="proto3"
    )

    def message(name: str, fields: list[tuple[str, int, int, int, str | None]]):
        msg = proto.message_type.add(name=name)
        for field_name, number, label, type_, type_name in fields:
            field = msg.field.add(name=field_name, number=number, label=label, type=type_)
            if type_name:
                field.type_name = type_name
        return msg

    repeated, optional = F.LABEL_REPEATED, F.LABEL_OPTIONAL
    message("BytesList", [("value", 1, repeated, F.TYPE_BYTES, None)])
    message("FloatList", [("value", 1, repeated, F.TYPE_FLOAT, None)])
    message("Int64List", [("value", 1, repeated, F.TYPE_INT64, None)])
    feature = message(
        "Feature",
        [
            ("bytes_list", 1, optional, F.TYPE_MESSAGE, ".tensorflow.BytesList"),
            ("float_list", 2, optional, F.TYPE_MESSAGE, ".tensorflow.FloatList"),
            ("int64_list", 3, optional, F.TYPE_MESSAGE, ".tensorflow.Int64List"),
        ],
    )
    feature.oneof_decl.add(name="kind")
    for field in feature.field:
        field.oneof_index = 0
    features = message(
        "Features",
        [("feature", 1, repeated, F.TYPE_MESSAGE, ".tensorflow.Features.FeatureEntry")],
    )
    entry = features.nested_type.add(name="FeatureEntry")
    entry.options.map_entry = True
    entry.field.add(name="key", number=1, label=optional, type=F.TYPE_STRING)
    entry.field.add(
        name="value", number=2, label=optional, type=F.TYPE_MESSAGE, type_name=".tensorflow.Feature"
    )
    message("Example", [("features", 1, optional, F.TYPE_MESSAGE, ".tensorflow.Features")])
    pool = descriptor_pool.DescriptorPool()
    pool.Add(proto)
    _EXAMPLE_CLASS = message_factory.GetMessageClass(
        pool.FindMessageTypeByName("tensorflow.Example")
    )
    return _EXAMPLE_CLASS


# -- framing --


def _masked_crc(data: bytes) -> int:
    # google-crc32c comes with the `beam` extra: imported only when a TFRecord is read.
    import google_crc32c

    crc = google_crc32c.value(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def frame(data: bytes) -> bytes:
    """One record in TFRecord framing (length, its CRC, the data, its CRC)."""
    length = struct.pack("<Q", len(data))
    return (
        length
        + struct.pack("<I", _masked_crc(length))
        + data
        + struct.pack("<I", _masked_crc(data))
    )


def frames(handle: BinaryIO) -> Iterator[bytes | str]:
    """The records of an open (decompressed) TFRecord file; corrupt framing ends them
    with a ``str`` saying what is wrong (the records after it cannot be found)."""
    while True:
        header = handle.read(12)
        if not header:
            return
        if len(header) < 12:
            yield "the file ends inside a record header (truncated)"
            return
        length, length_crc = struct.unpack("<QI", header)
        if _masked_crc(header[:8]) != length_crc:
            yield "the length's CRC does not match (corrupt, or not a TFRecord file)"
            return
        data = handle.read(length)
        footer = handle.read(4)
        if len(data) < length or len(footer) < 4:
            yield "the file ends inside a record (truncated)"
            return
        if _masked_crc(data) != struct.unpack("<I", footer)[0]:
            yield "the data's CRC does not match (corrupt)"
            return
        yield data


def read_tfrecord(path: str) -> Iterator[bytes]:
    """The records of a local TFRecord file (gzip detected), CRCs checked.

    Raises ``InputDataError`` naming the file and the record on corrupt framing.
    """
    with open(path, "rb") as raw:
        gzipped = raw.read(2) == b"\x1f\x8b"
    with gzip.open(path, "rb") if gzipped else open(path, "rb") as handle:
        for number, data in enumerate(frames(handle)):
            if isinstance(data, str):
                raise InputDataError(
                    f"{path}, record {number} (0-based): {data}. Re-write the file, or leave "
                    "it out of the audit. " + received(data=path, record=number),
                    cases=[(path, number)],
                )
            yield data


def read_examples(path: str) -> Iterator[tuple[int, Any]]:
    """``(0-based number, tf.train.Example)`` per record of a local TFRecord file (the
    audit's encoded data). One Example object is parsed anew for each record: use it
    before asking for the next. A record that is no Example raises ``InputDataError``.
    """
    example = example_class()()
    for number, data in enumerate(read_tfrecord(path)):
        try:
            example.ParseFromString(data)
        except Exception as err:  # protobuf's DecodeError
            raise InputDataError(
                f"{path}, record {number} (0-based) is not a tf.train.Example "
                f"({err}). Audit TFRecord files of tf.train.Example. "
                + received(data=path, record=number),
                cases=[(path, number)],
            ) from err
        yield number, example


# -- writing (the Beam encode job's output) --


def table_to_examples(table: Any, fingerprints: Mapping[str, str]) -> Iterator[bytes]:
    """The rows of an Arrow table of ids as serialized ``tf.train.Example`` (the Beam
    encode job's TFRecord output): each id column with its vocabulary's fingerprint
    (``<column>_vocab_fingerprint``), other columns as int64, float or bytes features."""
    example_type = example_class()
    for row in table.to_pylist():
        example = example_type()
        feature = example.features.feature
        for key, value in row.items():
            if key in fingerprints:
                feature[key].int64_list.value.extend(value if isinstance(value, list) else [value])
                feature[f"{key}_vocab_fingerprint"].bytes_list.value.append(
                    fingerprints[key].encode()
                )
            elif isinstance(value, int):
                feature[key].int64_list.value.append(value)
            elif isinstance(value, float):
                feature[key].float_list.value.append(value)
            else:
                feature[key].bytes_list.value.append(
                    value.encode("utf-8") if isinstance(value, str) else value
                )
        yield example.SerializeToString()


# -- the Beam jobs' view --


def _listed(path, number, field, values, kind, rules, passthrough) -> Any:
    """A field read as a list (or a weight, or an absent value the rules allow): its
    value, or the ``BadRecord`` that says why it cannot be used."""
    decoded = []
    for value in values:
        if kind == "bytes_list":
            value = decode(path, number, value)
            if isinstance(value, BadRecord):
                return dataclasses.replace(value, field=field)
        decoded.append(value)
    if kind is None:
        value = None if field in rules.missing else []
    elif field in rules.weights:
        value = decoded[0] if len(decoded) == 1 else None
    elif rules.shapes.get(field) == "list" or len(decoded) != 1:
        value = decoded
    else:
        value = decoded[0]
    problem = check_value(path, number, field, value, field in passthrough, rules)
    return problem if problem else value


def _single(path, number, field, values, example, feature, kind, passthrough) -> Any:
    """A field of exactly one bytes or int64 value (floats: passthrough only)."""
    if len(values) != 1 or (kind == "float_list" and field not in passthrough):
        return BadRecord(
            path,
            number,
            field,
            "missing_field" if not values else "wrong_type",
            missing_field_detail(field, sorted(example.features.feature))
            if feature is None
            else "expected exactly one bytes or int64 value, found "
            + (f"{len(values)} {kind} values" if kind else "no feature"),
        )
    value = values[0]
    if kind == "bytes_list":
        decoded = decode(path, number, value)
        if isinstance(decoded, BadRecord):
            return dataclasses.replace(decoded, field=field)
        value = decoded
    return value


def _example_record(path, number, example, wanted: Wanted) -> dict | BadRecord:
    record = {}
    rules, passthrough = wanted.rules, wanted.passthrough
    for field in wanted.names:
        feature = example.features.feature.get(field)
        kind = feature.WhichOneof("kind") if feature is not None else None
        values = list(getattr(feature, kind).value) if kind else []
        if (
            field in rules.weights
            or (rules.shapes.get(field) and kind != "float_list")
            or (not values and field in rules.missing)
        ):
            # A list feature: each element one value (a feature of one value is one
            # value, unless the field's shape is `list`); absent: a missing value.
            value = _listed(path, number, field, values, kind, rules, passthrough)
        else:
            value = _single(path, number, field, values, example, feature, kind, passthrough)
        if isinstance(value, BadRecord):
            return value
        record[field] = value
    return record


def tfrecord_records(
    handle: BinaryIO, path: str, wanted: Wanted
) -> Iterator[tuple[int, dict] | BadRecord]:
    """``iter_records`` for TFRecord files of ``tf.train.Example``."""
    example = example_class()()
    for number, data in enumerate(frames(handle), start=1):
        if isinstance(data, str):
            detail = f"corrupt TFRecord framing ({data})"
            yield BadRecord(path, number, None, "corrupt", detail, "record")
            return
        try:
            example.ParseFromString(data)
        except Exception as err:  # protobuf's DecodeError
            detail = f"not a tf.train.Example ({err})"
            yield BadRecord(path, number, None, "bad_example", detail, "record")
            continue
        record = _example_record(path, number, example, wanted)
        yield as_record_unit(record) if isinstance(record, BadRecord) else (number, record)


__all__ = [
    "example_class",
    "frame",
    "frames",
    "read_examples",
    "read_tfrecord",
    "table_to_examples",
    "tfrecord_records",
]
