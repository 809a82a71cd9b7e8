"""The on-disk form of one vocabulary version: files, manifest and checksums.

A version directory holds:

- ``tokens.parquet``: every used id with its token (binary, or int64), count and
  kind (pad/oov/reserved/learned). Binary-safe: any byte string round-trips.
- ``vocab.txt``: one token per line for ids ``k+1`` onward, for Keras
  ``StringLookup(vocabulary=...)`` and ``tf.lookup.TextFileInitializer``. Written
  only when every token is safe as a text line; otherwise the manifest says why.
- ``manifest.json``: the contract (``input_dim``, ids of each kind), the spec,
  stats, build info, the sha256 of every other file, and its own checksum.

No pickle anywhere: Parquet and JSON only.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from vocabguard._src.core.errors import (
    ArtifactError,
    ChecksumMismatchError,
    VocabguardError,
    received,
)
from vocabguard._src.core.layout import IdLayout, oov_bucket
from vocabguard._src.core.spec import VocabSpec
from vocabguard._src.core.vocabulary import (
    INT64,
    Vocabulary,
    arrow_token_type,
    as_token,
    binary_buffers,
    display_token,
    one_width,
)
from vocabguard._src.core.wordpiece import DEFAULT_JOINER, DEFAULT_MAX_CHARS_PER_WORD

FORMAT = "vocabguard._src.core.vocabulary"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
TOKENS = "tokens.parquet"
VOCAB_TXT = "vocab.txt"
# Every file a version directory may hold. Paths are always built from these
# constants, never from names read out of a manifest (which could say "../x").
VERSION_FILES = (MANIFEST, TOKENS, VOCAB_TXT)
_CHECKSUM_KEY = "manifest_sha256"
# Rows per row group of tokens.parquet (see render_files).
ROW_GROUP_ROWS = 1 << 17
# vocabguard writes manifests of a few KiB (the spec, stats and checksums; the tokens
# are in tokens.parquet): one larger than this is not one of its manifests, and is
# never read whole (a 3 GiB sparse file would be). VOCABGUARD_MAX_MANIFEST_BYTES lifts it.
MAX_MANIFEST_BYTES = 16 << 20
# Manifest fields computed from the tokens and the spec; load recomputes each one.
DERIVED_FIELDS = (
    "fingerprint",
    "token_type",
    "input_dim",
    "pad_id",
    "pad_token",
    "oov_token",
    "oov_ids",
    "reserved_tokens",
    "layout",
    "contract",
    "num_retired",
    "vocab_txt",
)

# Characters that end a line for some reader of vocab.txt: TF's line reader
# splits on \n (and strips \r); Keras' save/load path uses Python's
# str.splitlines(), which also splits on these.
_LINE_BREAKS = frozenset("\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029")


def unsafe_text_line(token: bytes | int) -> str | None:
    """Why ``token`` cannot be one line of ``vocab.txt``, or ``None`` if it can."""
    if isinstance(token, int):
        return None
    if token == b"":
        return "an empty token would be an empty line, which TextFileInitializer rejects"
    try:
        text = token.decode("utf-8")
    except UnicodeDecodeError:
        return f"token {token!r} is not valid UTF-8"
    breaks = sorted({c for c in text if c in _LINE_BREAKS})
    if breaks:
        return f"token {text!r} contains line break {breaks[0]!r}, which would split it in two"
    return None


def _sha256(data: bytes | pa.Buffer) -> str:
    return hashlib.sha256(data).hexdigest()


# The kind of each row of tokens.parquet, by code (dictionary-encoded in the file).
_KINDS = ("pad", "oov", "reserved", "learned", "retired")


def _kind_column(vocab: Vocabulary) -> pa.DictionaryArray:
    """The ``kind`` column: runs of codes laid out by numpy (retired rows set after),
    dictionary in order of first appearance (what ``dictionary_encode`` of the strings
    gives, so files stay the same)."""
    layout = vocab.layout
    runs = (1, vocab.num_oov_buckets, layout.num_reserved, layout.num_learned)
    starts = np.cumsum((0, *runs))
    first = {code: int(starts[code]) for code in range(4) if runs[code]}  # code -> first row
    if vocab.retired:
        first[4] = min(vocab.retired)
        learned = layout.learned_start  # the first learned row that is not retired
        while learned in vocab.retired:
            learned += 1
        first.pop(3, None)
        if learned < layout.used_ids:
            first[3] = learned
    present = sorted(first, key=first.__getitem__)
    remap = np.zeros(len(_KINDS), dtype=np.int32)
    remap[present] = np.arange(len(present), dtype=np.int32)
    indices = np.repeat(remap[:4], runs)
    if vocab.retired:
        # The row keeps its token (for diffs and repairs) but maps to OOV.
        indices[np.fromiter(vocab.retired, dtype=np.int64)] = remap[4]
    dictionary = pa.array([_KINDS[c] for c in present], type=pa.string())
    return pa.DictionaryArray.from_arrays(pa.array(indices), dictionary)


def _int_view(array: pa.Array) -> np.ndarray:
    """An integer Arrow array as numpy: a view when it is signed and has no nulls (what
    ``to_numpy`` gives, without the import of pandas it tries on every call)."""
    if array.null_count or not len(array) or not pa.types.is_signed_integer(array.type):
        return array.to_numpy(zero_copy_only=False)
    dtype = np.dtype(f"<i{array.type.bit_width // 8}")
    return np.frombuffer(array.buffers()[1], dtype=dtype)[array.offset : array.offset + len(array)]


def _kind_names(column: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """The ``kind`` column as codes into ``_KINDS`` (-1 for a name not among them),
    read through each chunk's dictionary: no string per row, no chunks combined."""
    chunks = column.chunks if isinstance(column, pa.ChunkedArray) else [column]
    parts = [np.zeros(0, dtype=np.int8)]
    for chunk in chunks:
        if not pa.types.is_dictionary(chunk.type):
            chunk = chunk.dictionary_encode()
        names = chunk.dictionary.cast(pa.string()).to_pylist()
        codes = np.array([_KINDS.index(n) if n in _KINDS else -1 for n in names] + [-1], np.int8)
        indices = chunk.indices.fill_null(len(names)) if chunk.null_count else chunk.indices
        parts.append(codes[_int_view(indices)])
    return np.concatenate(parts)


def recorded_spec(manifest: Mapping, source: str | None = None) -> VocabSpec:
    """The spec of a manifest, with the pad it records.

    Integer vocabularies published before the pad became an id only record the value
    0 as their pad (their spec leaves ``pad_token`` unset): it stays their pad, so
    they keep their ids and fingerprints.
    """
    spec = VocabSpec.from_dict(manifest["spec"], source=source)
    pad = manifest.get("pad_token")
    if manifest.get("token_type") == INT64 and spec.pad_token is None and pad is not None:
        spec = spec.replace(pad_token=pad)
    return spec


def render_files(vocab: Vocabulary) -> tuple[dict[str, Any], dict[str, Any]]:
    """The files of a version (except the manifest) and the ``vocab_txt`` status.

    Built from the vocabulary's columns (no Python object per token).
    """
    integer = vocab.token_type == INT64
    k = vocab.num_oov_buckets
    head_tokens = [vocab.pad_token] + [vocab.oov_token] * k
    head = pa.array(
        [t if integer else str(t).encode("utf-8") for t in head_tokens],
        type=arrow_token_type(vocab.token_type),
    )
    # The pad and OOV rows, then the vocabulary's own columns: chunks, not copies.
    zeros = pa.array(np.zeros(1 + k, dtype=np.int64))
    columns = {
        "id": pa.array(np.arange(1 + k + len(vocab.token_array), dtype=np.int64)),
        "token": pa.chunked_array([head, vocab.token_array]),
        "count": pa.chunked_array([zeros, pa.array(vocab.count_array)]),
        "kind": _kind_column(vocab),
    }
    documents = getattr(vocab, "document_array", None)
    if documents is not None:
        # Documents holding each token (builds with document-frequency rules only).
        columns["documents"] = pa.chunked_array([zeros, pa.array(documents)])
    table = pa.table(
        columns,
        metadata={b"vocabguard.fingerprint": vocab.fingerprint.encode()},
    )
    sink = pa.BufferOutputStream()
    # Written for speed: no dictionary for columns of distinct values, ids and counts
    # (both monotonic in the learned rows) delta-encoded, LZ4 pages (for 4.7 M hex
    # tokens, read back in about half snappy's time, written faster, the same size).
    # Row groups of 128 Ki rows: `inspect --id/--token` parses only the one holding a
    # row. Readers read any Parquet codec and encoding, so older versions (snappy, zstd,
    # row groups of 1 Mi rows) load the same.
    # vocab.txt is rendered and hashed in a thread while Arrow writes the Parquet file
    # (numpy's copies, hashlib and the Parquet writer release the GIL); the Parquet bytes
    # are then hashed in that thread while the store writes the files: the digests go
    # with the files, and build_manifest waits for them.
    pool = ThreadPoolExecutor(1)
    try:
        text = pool.submit(_hashed, render_vocab_txt, vocab)
        pq.write_table(
            table,
            sink,
            compression="lz4",
            use_dictionary=["kind"],
            column_encoding={"id": "DELTA_BINARY_PACKED", "count": "DELTA_BINARY_PACKED"},
            row_group_size=ROW_GROUP_ROWS,
            # No min/max of the tokens (a comparison of every token; rows are found by
            # id or through vocab.txt, never by statistics).
            write_statistics=[c for c in table.column_names if c != "token"],
        )
        tokens = sink.getvalue()  # Arrow memory, written and hashed as it is: no copy
        files = RenderedFiles({TOKENS: tokens})
        files.digests[TOKENS] = (tokens, pool.submit(_sha256, tokens))
        (vocab_txt, status), digest = text.result()
    finally:
        pool.shutdown(wait=False)  # its last task (the Parquet hash) runs on
    if vocab_txt is not None:
        files[VOCAB_TXT] = vocab_txt
        files.digests[VOCAB_TXT] = (vocab_txt, digest)
    return files, status


class RenderedFiles(dict):
    """The files ``render_files`` gives (name -> bytes), with the sha256 of each as it
    was rendered (``digests``: name -> (the bytes, their sha256 or its future)), so that
    publishing hashes each file once; ``build_manifest`` uses a digest only for those
    very bytes."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.digests: dict[str, tuple[Any, str | Future]] = {}


def _hashed(render, vocab: Vocabulary) -> tuple[tuple[bytes | None, dict[str, Any]], str | None]:
    """``render(vocab)`` (bytes or None, status) and the sha256 of its bytes."""
    data, status = render(vocab)
    return (data, status), None if data is None else _sha256(data)


def _digest_of(files: Mapping[str, Any], name: str) -> str:
    """The sha256 of ``files[name]``: the one ``render_files`` computed, else hashed."""
    data = files[name]
    known = getattr(files, "digests", {}).get(name)
    if known is None or known[0] is not data:
        return _sha256(data)
    return known[1].result() if isinstance(known[1], Future) else known[1]


def render_vocab_txt(vocab: Vocabulary) -> tuple[bytes | None, dict[str, Any]]:
    """The bytes of ``vocab.txt`` (``None`` when it cannot be written) and its status."""
    integer = vocab.token_type == INT64
    k = vocab.num_oov_buckets
    tokens = vocab.token_array
    if vocab.retired:
        # A text line cannot stand for a row that must match nothing.
        return None, {
            "written": False,
            "reason": f"{len(vocab.retired)} retired row(s) must match no token, which no text "
            "line can express. Use tokens.parquet (vocabguard.keras.string_lookup reads it).",
        }
    lines = tokens.cast(pa.string()) if integer else tokens
    data = _joined_lines(lines)
    if not integer and not _safe_lines(tokens, data):
        unsafe = _unsafe_lines(tokens)  # which ones, and why the first is
        first = unsafe_text_line(tokens[int(unsafe[0])].as_py())
        return None, {
            "written": False,
            "reason": f"{len(unsafe)} token(s) cannot be written as text lines; first: "
            f"{first}. Use tokens.parquet (vocabguard.keras.string_lookup reads it).",
        }
    return data, {"written": True, "first_id": k + 1, "lines": len(tokens)}


def _safe_lines(tokens: pa.Array, data: bytes) -> bool:
    """Whether every token is a safe line of ``vocab.txt`` (``unsafe_text_line``: not
    empty, UTF-8, no line break), given ``data``, the tokens each followed by a newline:
    scans of the buffers (a regex over the tokens only when one is unsafe)."""
    offsets, _ = binary_buffers(tokens, widen=False)
    if len(tokens) and not (one_width(offsets) or (np.diff(offsets) > 0).all()):
        return False  # an empty token: an empty line
    if not data.isascii():
        try:
            tokens.cast(pa.string())  # Arrow's UTF-8 check of every token
        except pa.ArrowInvalid:
            return False
    return not _holds_a_break(data, newlines=len(tokens))


def _joined_lines(tokens: pa.Array) -> bytes:
    """Every token followed by a newline, laid out with numpy from the Arrow buffers."""
    offsets, data = binary_buffers(tokens, widen=False)
    n = len(tokens)
    body = data[int(offsets[0]) : int(offsets[-1])] if n else data[:0]
    width = one_width(offsets)
    if width is not None:
        # Tokens of one length (ids, hashes): one 2-D copy.
        lines = np.empty((n, width + 1), dtype=np.uint8)
        lines[:, :-1] = body.reshape(n, width)
        lines[:, -1] = ord("\n")
        return lines.tobytes()
    out = np.empty(len(body) + n, dtype=np.uint8)
    ends = offsets[1:] - offsets[0] + np.arange(1, n + 1)  # one past each newline
    newline = np.zeros(len(out), dtype=bool)
    newline[ends - 1] = True
    out[newline] = ord("\n")
    out[~newline] = body
    return out.tobytes()


def _all_safe_lines(tokens: pa.Array) -> bool:
    """Whether every token is a safe line of vocab.txt (``unsafe_text_line``): numpy
    scans of the buffers when the tokens are printable ASCII (none empty), else the
    per-token check of ``_unsafe_lines``."""
    offsets, data = binary_buffers(tokens, widen=False)
    if len(tokens) and not (one_width(offsets) or (np.diff(offsets) > 0).all()):
        return False  # an empty token (width 0 too): an empty line
    body = data[int(offsets[0]) : int(offsets[-1])] if len(tokens) else data[:0]
    block = 1 << 20
    for start in range(0, len(body), block):
        # Bytes 0x20..0x7f wrap to 0..0x5f: anything else is a control byte or not ASCII.
        part = body[start : start + block] - np.uint8(0x20)
        if np.count_nonzero(part >= 0x60):
            return not len(_unsafe_lines(tokens))
    return True


def _unsafe_lines(tokens: pa.Array) -> np.ndarray:
    """Rows of tokens that cannot be a line of ``vocab.txt`` (``unsafe_text_line``):
    empty, not UTF-8, or holding a line break; checked over the whole column at once
    (numpy over the data buffer; Arrow's UTF-8 check and a regex only where needed)."""
    if not len(tokens):
        return np.zeros(0, dtype=np.int64)
    offsets, data = binary_buffers(tokens)
    body = data[offsets[0] : offsets[-1]].tobytes()
    bad = np.diff(offsets) == 0
    text = None
    if not body.isascii():  # only non-ASCII bytes can be invalid UTF-8
        try:
            text = tokens.cast(pa.string())  # validates UTF-8
        except pa.ArrowInvalid:
            # Some token is not UTF-8: find which, a slice at a time (cast validates a
            # whole slice), down to single tokens only inside the failing slices.
            return np.flatnonzero(bad | _invalid_utf8(tokens))
    if _holds_a_break(body):  # ASCII, or valid UTF-8 (checked above)
        text = tokens.cast(pa.string()) if text is None else text
        breaks = "[" + "".join(sorted(_LINE_BREAKS)) + "]"
        bad |= pc.match_substring_regex(text, breaks).to_numpy(zero_copy_only=False)
    return np.flatnonzero(bad)


# The UTF-8 bytes of every line break but the newline, ASCII (control bytes) and wider.
# In valid UTF-8 a multi-byte sequence appears only as that character.
_ASCII_BREAKS = tuple(c.encode() for c in sorted(_LINE_BREAKS) if c != "\n" and c.isascii())
_WIDE_BREAKS = tuple(c.encode() for c in sorted(_LINE_BREAKS) if not c.isascii())


def _holds_a_break(data: bytes, newlines: int = 0) -> bool:
    """Whether ``data`` (ASCII, or valid UTF-8) holds a line break other than the
    ``newlines`` newlines known to be in it (one ending each line), by byte scans in C
    and numpy (no copy, no regex): every ASCII break is a control byte, so the breaks
    are searched for only when there are other control bytes."""
    if _control_bytes(data) != newlines and (
        data.count(b"\n") != newlines or any(b in data for b in _ASCII_BREAKS)
    ):
        return True
    return not data.isascii() and any(b in data for b in _WIDE_BREAKS)


def _control_bytes(data: bytes) -> int:
    """How many bytes of ``data`` are below 0x20, counted a block at a time."""
    found, block = 0, 1 << 20
    for start in range(0, len(data), block):
        part = np.frombuffer(data, np.uint8, count=min(block, len(data) - start), offset=start)
        found += int(np.count_nonzero(part < 0x20))
    return found


def _written_as(tokens: pa.Array, data: bytes) -> bool:
    """Whether ``data`` is exactly every token followed by a newline (what
    ``_joined_lines`` renders), checked over the buffers: the tokens' bytes against the
    file's, and a newline where each token ends."""
    offsets, buffer = binary_buffers(tokens, widen=False)
    n, first = len(tokens), int(offsets[0]) if len(tokens) else 0
    body = buffer[first : int(offsets[-1])] if n else buffer[:0]
    if len(data) != len(body) + n:
        return False
    text = np.frombuffer(data, dtype=np.uint8)
    width = one_width(offsets)
    if width is not None:
        # Tokens of one length: lines are rows of one width; compared a block at a time.
        lines, body = text.reshape(n, width + 1), body.reshape(n, width)
        step = 1 << 16
        return bool((lines[:, -1] == ord("\n")).all()) and all(
            np.array_equal(lines[i : i + step, :-1], body[i : i + step]) for i in range(0, n, step)
        )
    ends = offsets[1:] - first + np.arange(n)  # where each token's newline must be
    return (
        data.count(b"\n") == n
        and bool((text[ends] == ord("\n")).all())
        and data.replace(b"\n", b"") == body.tobytes()
    )


def matching_vocab_txt(vocab: Vocabulary, data: bytes | pa.Buffer | None) -> dict | None:
    """The ``vocab_txt`` status of ``vocab`` when ``data`` (the bytes of its vocab.txt)
    is exactly the file its tokens render to, shown over the buffers without rendering
    it: the same bytes, and every token a safe line (not empty, UTF-8, no line break).
    ``None`` when that cannot be shown so (then the file is rendered and compared).

    >>> from vocabguard import VocabSpec, build_vocabulary
    >>> vocab = build_vocabulary(["b a b"], VocabSpec(), progress=False)
    >>> matching_vocab_txt(vocab, b"b\\na\\n"), matching_vocab_txt(vocab, b"a\\nb\\n")
    ({'written': True, 'first_id': 2, 'lines': 2}, None)
    """
    if data is None or vocab.retired:
        return None
    data = data if isinstance(data, bytes) else bytes(data)
    integer = vocab.token_type == INT64
    tokens = vocab.token_array.cast(pa.string()) if integer else vocab.token_array
    if not _written_as(tokens, data) or not (integer or _safe_lines(tokens, data)):
        return None
    return {"written": True, "first_id": vocab.num_oov_buckets + 1, "lines": len(tokens)}


def _invalid_utf8(tokens: pa.Array) -> np.ndarray:
    """A mask of the tokens that are not valid UTF-8 (those that are valid are also
    checked for line breaks, so the mask covers every unsafe token)."""
    mask = np.zeros(len(tokens), dtype=bool)
    stack = [(0, len(tokens))]
    breaks = "[" + "".join(sorted(_LINE_BREAKS)) + "]"
    while stack:
        start, stop = stack.pop()
        part = tokens.slice(start, stop - start)
        try:
            text = part.cast(pa.string())
        except pa.ArrowInvalid:
            if stop - start == 1:
                mask[start] = True
            else:
                middle = (start + stop) // 2
                stack += [(start, middle), (middle, stop)]
            continue
        mask[start:stop] |= pc.match_substring_regex(text, breaks).to_numpy(zero_copy_only=False)
    return mask


def export_identity(vocab: Vocabulary) -> dict:
    """What every export's config records of the version it came from: ``input_dim``
    (size the Embedding with it), the vocabulary size, ref, fingerprint and the spec, with
    the pad and OOV tokens as used (the spec's ``None`` means the default, e.g. ``[PAD]``).
    """
    return {
        "input_dim": vocab.input_dim,
        "vocabulary_size": len(vocab),
        "ref": vocab.ref,
        "fingerprint": vocab.fingerprint,
        "spec": {
            **vocab.spec.to_dict(),
            "pad_token": vocab.pad_token,
            "oov_token": vocab.oov_token,
        },
    }


def derived_fields(vocab: Vocabulary, vocab_txt: dict) -> dict:
    """The manifest fields that follow from the tokens and the spec (``DERIVED_FIELDS``)."""
    fields = {
        "fingerprint": vocab.fingerprint,
        "token_type": vocab.token_type,
        "input_dim": vocab.input_dim,
        "pad_id": vocab.pad_id,
        "pad_token": vocab.pad_token,
        "oov_token": vocab.oov_token,
        "oov_ids": [vocab.oov_ids.start, vocab.oov_ids.stop - 1],
        "reserved_tokens": vocab.spec.resolved_reserved_tokens(vocab.token_type == INT64),
        "layout": vocab.layout.to_dict(),
        "contract": vocab.contract(),
        "num_retired": len(vocab.retired),
        # What a missing value encodes to (None under the default `missing: error`).
        "missing": None
        if vocab.missing_id is None
        else {"policy": vocab.spec.missing, "id": vocab.missing_id, "token": vocab.missing_token},
        "vocab_txt": vocab_txt,
    }
    # As JSON gives them back (tuples become lists), so a loaded manifest compares equal.
    return json.loads(json.dumps(fields, sort_keys=True))


def build_manifest(vocab: Vocabulary, files: dict[str, bytes], vocab_txt: dict) -> dict:
    """The manifest of a version, without its own checksum."""
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "name": vocab.name,
        "version": vocab.version,
        **derived_fields(vocab, vocab_txt),
        "spec": vocab.spec.to_dict(),
        "stats": vocab.stats,
        "build": vocab.build,
        # Stable-id lineage: the version this one was grown from (None for a root).
        "parent": vocab.parent,
        "files": {
            name: {"sha256": _digest_of(files, name), "bytes": len(data)}
            for name, data in sorted(files.items())
        },
    }


def dump_manifest(manifest: dict) -> bytes:
    """Serialize a manifest with an embedded sha256 of its own bytes.

    The checksum is computed over the exact bytes with the checksum value left
    empty, so any changed byte of manifest.json (even whitespace) is caught.
    """
    body = {**manifest, _CHECKSUM_KEY: ""}
    blank = json.dumps(body, indent=2, sort_keys=True, ensure_ascii=True).encode() + b"\n"
    digest = _sha256(blank)
    return blank.replace(
        f'"{_CHECKSUM_KEY}": ""'.encode(), f'"{_CHECKSUM_KEY}": "{digest}"'.encode(), 1
    )


def max_manifest_bytes() -> int:
    """The manifest size limit: ``MAX_MANIFEST_BYTES``, or ``$VOCABGUARD_MAX_MANIFEST_BYTES``."""
    value = os.environ.get("VOCABGUARD_MAX_MANIFEST_BYTES", "")
    return int(value) if value.isdigit() else MAX_MANIFEST_BYTES


def read_manifest(fs: pafs.FileSystem, path: str, where: str) -> bytes:
    """The bytes of a manifest, read up to the size limit: a larger one is an error
    naming the file and the limit, never read whole."""
    limit = max_manifest_bytes()
    raw = read_file(fs, path, limit=limit)
    if len(raw) > limit:
        raise ArtifactError(
            f"{where}/{MANIFEST} is larger than {limit:,} bytes, the limit for a manifest "
            "(vocabguard writes a few KiB), so it is not read; restore the version from a "
            "backup, or raise VOCABGUARD_MAX_MANIFEST_BYTES. "
            + received(file=f"{where}/{MANIFEST}", limit=limit),
            cases=[MANIFEST],
            file=MANIFEST,
        )
    return raw


def parse_manifest(raw: bytes, where: str) -> dict:
    """Parse manifest.json and check its embedded checksum."""
    try:
        manifest = json.loads(raw)
        stored = manifest[_CHECKSUM_KEY]
    except (ValueError, KeyError, TypeError) as err:
        raise ChecksumMismatchError(
            f"{where}/{MANIFEST} is corrupt ({err}); the version cannot be trusted. Restore it "
            "from a backup or rebuild the vocabulary. " + received(file=f"{where}/{MANIFEST}"),
            cases=[MANIFEST],
            file=MANIFEST,
        ) from None
    blank = raw.replace(
        f'"{_CHECKSUM_KEY}": "{stored}"'.encode(), f'"{_CHECKSUM_KEY}": ""'.encode(), 1
    )
    if _sha256(blank) != stored:
        raise ChecksumMismatchError(
            f"{where}/{MANIFEST} does not match its recorded sha256: the file was changed after "
            "publishing. Restore it or rebuild the vocabulary. "
            + received(file=f"{where}/{MANIFEST}"),
            cases=[MANIFEST],
            file=MANIFEST,
        )
    if manifest.get("format") != FORMAT or manifest.get("format_version") != FORMAT_VERSION:
        raise ArtifactError(
            f"{where}/{MANIFEST} has format {manifest.get('format')!r} version "
            f"{manifest.get('format_version')!r}; this vocabguard reads {FORMAT!r} version "
            f"{FORMAT_VERSION}. Upgrade vocabguard. "
            + received(format_version=manifest.get("format_version"))
        )
    return manifest


def read_file(fs: pafs.FileSystem, path: str, limit: int | None = None) -> bytes:
    """The bytes of a file; with ``limit``, at most ``limit + 1`` of them (enough to tell
    a file that is too long, without reading an endless one such as ``/dev/zero``)."""
    handler = fs.handler if isinstance(fs, pafs.PyFileSystem) else None
    if callable(getattr(handler, "read_bytes", None)):
        return handler.read_bytes(path, None if limit is None else limit + 1)
    with fs.open_input_stream(path) as stream:
        return stream.read() if limit is None else stream.read(limit + 1)


def read_buffer(fs: pafs.FileSystem, path: str, limit: int | None = None) -> pa.Buffer:
    """A file's bytes (with ``limit``, at most that many) in Arrow-owned memory (see
    ``_arrow_owned``): read straight into it where the filesystem allows (the local
    store, Arrow's own filesystems), else copied there once."""
    handler = fs.handler if isinstance(fs, pafs.PyFileSystem) else None
    if callable(getattr(handler, "read_buffer", None)):
        return handler.read_buffer(path, limit)
    with fs.open_input_stream(path) as stream:
        if isinstance(stream, pa.PythonFile):
            return _arrow_owned(stream.read() if limit is None else stream.read(limit))
        return stream.read_buffer(limit)


def _arrow_owned(data: bytes) -> pa.Buffer:
    """A copy of ``data`` in Arrow-owned memory.

    A reader over Python ``bytes`` wraps them in a buffer whose release takes the
    GIL; when an Arrow worker thread drops the last reference during interpreter
    shutdown, the thread is killed inside a destructor and the process aborts
    ("terminate called without an active exception", exit status 134).
    """
    sink = pa.BufferOutputStream()
    sink.write(data)
    return sink.getvalue()


def _corrupt(where: str, file: str, what: str) -> ChecksumMismatchError:
    return ChecksumMismatchError(
        f"{where}/{file} is corrupt: {what}. The version cannot be trusted; restore it from a "
        "backup or rebuild the vocabulary. " + received(file=f"{where}/{file}"),
        cases=[file],
        file=file,
    )


def check_identity(manifest: dict, name: str, version: int, where: str) -> None:
    """The manifest must name the directory it sits in (not a copy of another version's)."""
    for field, expected in (("name", name), ("version", version)):
        if manifest.get(field) != expected:
            raise _corrupt(
                where,
                MANIFEST,
                f"its {field} is {manifest.get(field)!r} but it sits in the directory of "
                f"{name}@v{version} (expected {field} {expected!r}), so it was copied or "
                "restored into the wrong place",
            )


def load_version(
    fs: pafs.FileSystem,
    directory: str,
    *,
    where: str | None = None,
    identity: tuple[str, int] | None = None,
    vocab_txt: bool = False,
) -> Vocabulary:
    """Load and verify one version directory.

    The manifest's own checksum and ``tokens.parquet``'s sha256 are checked; with
    ``identity`` (name, version) the manifest must name them; every field derived from
    the tokens (``DERIVED_FIELDS``, the fingerprint among them) is recomputed from the
    tokens and must match. ``vocab.txt`` is not what a loaded vocabulary is built from:
    here it must be there with its recorded size; with ``vocab_txt`` (``verify``) its
    sha256 is checked too and it must be exactly the file the tokens render to.
    """
    where = where or directory
    manifest = verified_manifest(fs, directory, where=where, identity=identity)
    listed = listed_files(manifest, where)
    data = _read_listed(fs, directory, TOKENS, listed[TOKENS], where)
    # sha256 of the file in a thread while Arrow parses it (hashlib and the Parquet
    # reader both release the GIL); a mismatch is reported before any parse error.
    with ThreadPoolExecutor(1) as pool:
        digest = pool.submit(_sha256, data)
        try:
            vocab, failed = _vocabulary_of(data, manifest, where), None
        except Exception as err:  # raised below, once the sha256 is known to match
            vocab, failed = None, err
        _check_sha256(data, digest.result(), listed[TOKENS], TOKENS, where)
    if failed is not None:
        raise failed
    txt = None
    if VOCAB_TXT in listed:
        if vocab_txt:
            txt = _read_listed(fs, directory, VOCAB_TXT, listed[VOCAB_TXT], where)
            _check_sha256(txt, _sha256(txt), listed[VOCAB_TXT], VOCAB_TXT, where)
        else:
            _check_size(fs, directory, VOCAB_TXT, listed[VOCAB_TXT], where)
    check_derived(vocab, manifest, txt, where, vocab_txt_read=vocab_txt)
    vocab.manifest = manifest
    return vocab


def verified_manifest(
    fs: pafs.FileSystem,
    directory: str,
    *,
    where: str | None = None,
    identity: tuple[str, int] | None = None,
) -> dict:
    """The manifest of a version directory, its own checksum checked; with ``identity``
    it must name that version."""
    where = where or directory
    try:
        raw = read_manifest(fs, f"{directory}/{MANIFEST}", where)
    except (FileNotFoundError, OSError) as err:
        raise ArtifactError(
            f"{where} has no readable {MANIFEST} ({err}); it is not a published version. "
            + received(path=where)
        ) from None
    manifest = parse_manifest(raw, where)
    if identity is not None:
        check_identity(manifest, *identity, where)
    return manifest


def verified_files(
    fs: pafs.FileSystem,
    directory: str,
    *,
    where: str | None = None,
    identity: tuple[str, int] | None = None,
    files: Sequence[str] | None = None,
    hints: Sequence[str] = (),
) -> tuple[dict, dict[str, pa.Buffer | bytes]]:
    """The manifest of a version directory (its own checksum checked; with ``identity``
    it must name that version) and the bytes of each of its files (or of those of
    ``files`` it lists), each checked against the sha256 the manifest records: what a
    reader of a few rows needs, nothing parsed. Files of ``hints`` it lists are read
    too, unchecked, while the others are hashed: ``VersionRows.find`` takes vocab.txt
    as a hint only, confirming every line it finds in the checked tokens.parquet."""
    where = where or directory
    manifest = verified_manifest(fs, directory, where=where, identity=identity)
    listed = listed_files(manifest, where)
    hinted = [name for name in hints if name in listed and (files is None or name not in files)]
    if not hinted:
        return manifest, verify_files(fs, directory, manifest, where, files=files)
    with ThreadPoolExecutor(1) as pool:
        checked = pool.submit(verify_files, fs, directory, manifest, where, files=files)
        try:
            found = {
                name: _read_listed(fs, directory, name, listed[name], where) for name in hinted
            }
        except VocabguardError:
            found = {}  # a hint that cannot be read (missing, a FIFO...) is no hint
        return manifest, {**found, **checked.result()}


def _vocabulary_of(tokens_file: pa.Buffer, manifest: dict, where: str) -> Vocabulary:
    """The Vocabulary held by the bytes of ``tokens.parquet``: its columns straight into
    it (no Python object per token); a file that does not hold one is corrupt."""
    try:
        table = pq.read_table(pa.BufferReader(tokens_file))
        spec = recorded_spec(manifest, source=f"{where}/{MANIFEST}")
        if table.column_names[:4] != ["id", "token", "count", "kind"]:
            raise _corrupt(where, TOKENS, f"its columns are {table.column_names}")
        start = 0
        for chunk in table["id"].chunks:  # a chunk at a time: no copy of the column
            ids = _int_view(chunk)
            if not np.array_equal(ids, np.arange(start, start + len(ids))):
                raise _corrupt(where, TOKENS, "its ids are not 0, 1, 2, ... in order")
            start += len(ids)
        kinds = _kind_names(table["kind"])
        keep = kinds >= _KINDS.index("reserved")  # reserved, learned, retired
        first = int(np.argmax(keep)) if keep.any() else len(keep)
        if keep[first:].all() and not keep[:first].any():
            reserved_and_learned = table.slice(first)  # the usual layout: no copy
        else:
            reserved_and_learned = table.filter(pa.array(keep))
        documents = "documents" in table.column_names
        return Vocabulary(
            spec,
            manifest["token_type"],
            reserved_and_learned["token"],
            reserved_and_learned["count"],
            name=manifest["name"],
            version=manifest["version"],
            stats=manifest["stats"],
            build=manifest["build"],
            # Rows are ids (checked above), so a retired row's position is its id.
            retired=np.flatnonzero(kinds == _KINDS.index("retired")).tolist(),
            parent=manifest.get("parent"),
            document_counts=reserved_and_learned["documents"] if documents else None,
        )
    except ArtifactError:
        raise
    except (KeyError, TypeError, ValueError, IndexError, pa.ArrowException) as err:
        raise _corrupt(where, TOKENS, f"it does not hold a vocabulary ({err})") from None


def check_derived(
    vocab: Vocabulary,
    manifest: dict,
    vocab_txt: bytes | None,
    where: str,
    *,
    vocab_txt_read: bool = True,
) -> None:
    """Every field derived from the tokens (``DERIVED_FIELDS``) must be the manifest's,
    and ``vocab_txt`` (the bytes of vocab.txt, ``None`` when absent) the file the tokens
    render to: compared over the buffers, rendered only to name a difference. Without
    ``vocab_txt_read`` (the file was not read) only its status is derived and compared."""
    rendered = None
    if not vocab_txt_read:
        status = vocab_txt_status(vocab)
    else:
        status = matching_vocab_txt(vocab, vocab_txt)
        if status is None:
            rendered, status = render_vocab_txt(vocab)
    derived = derived_fields(vocab, status)
    for field in DERIVED_FIELDS:
        if manifest.get(field) != derived[field]:
            raise _corrupt(
                where,
                MANIFEST,
                f"its {field} is {manifest.get(field)!r}, but the tokens in {TOKENS} give "
                f"{derived[field]!r}",
            )
    if vocab_txt_read and rendered is not None and vocab_txt != rendered:
        raise _corrupt(
            where,
            VOCAB_TXT,
            f"it differs from the file regenerated from {TOKENS}"
            f" (first difference at line {_first_diff_line(vocab_txt, rendered)})",
        )


def vocab_txt_status(vocab: Vocabulary) -> dict[str, Any]:
    """The ``vocab_txt`` status ``render_vocab_txt`` gives, without rendering the file
    when it would be written (every token a safe line: scans of the token buffer).

    >>> from vocabguard import VocabSpec, build_vocabulary
    >>> vocab_txt_status(build_vocabulary(["b a b"], VocabSpec(), progress=False))
    {'written': True, 'first_id': 2, 'lines': 2}
    """
    tokens = vocab.token_array
    if not vocab.retired and (vocab.token_type == INT64 or _all_safe_lines(tokens)):
        return {"written": True, "first_id": vocab.num_oov_buckets + 1, "lines": len(tokens)}
    return render_vocab_txt(vocab)[1]


def check_written(fs: pafs.FileSystem, sizes: Mapping[str, int], where: str) -> None:
    """Each file just written (path -> the size of the bytes hashed into its manifest)
    has that size on the store: a short or lost write is an error naming the file.

    Publishing verifies from its buffers: the sha256 in the manifest are computed over
    the exact bytes written, so what was written is not read back and parsed again.
    """
    paths = list(sizes)
    for path, info in zip(paths, fs.get_file_info(paths)):
        if info.type != pafs.FileType.File or info.size != sizes[path]:
            name = path.rsplit("/", 1)[-1]
            found = "is missing" if info.type != pafs.FileType.File else f"has {info.size} bytes"
            raise ArtifactError(
                f"{where}/{name} {found} right after it was written ({sizes[path]} bytes); "
                "the store lost or cut the write, so nothing was published. Check the "
                "store's free space and publish again. " + received(file=f"{where}/{name}"),
                cases=[name],
                file=name,
            )


def as_published(vocab: Vocabulary, manifest_bytes: bytes, where: str) -> Vocabulary:
    """``vocab`` as a loaded copy of it would be: name, version, stats, build and parent
    from ``manifest_bytes`` (the manifest written for it), without reparsing its files.

    >>> from vocabguard import VocabSpec, build_vocabulary
    >>> vocab = build_vocabulary(["a b b"], VocabSpec(), progress=False)
    >>> vocab.name, vocab.version = "demo", 3
    >>> raw = dump_manifest(build_manifest(vocab, *render_files(vocab)))
    >>> as_published(vocab, raw, "store/demo/v3").ref
    'demo@v3'
    """
    manifest = parse_manifest(manifest_bytes, where)
    published = copy.copy(vocab)
    published.name, published.version = manifest["name"], manifest["version"]
    published.stats, published.build = manifest["stats"], manifest["build"]
    published.parent = manifest.get("parent")
    published.manifest = manifest
    published.newly_published = None  # the publisher says which case happened
    return published


class VersionRows:
    """Some rows of a published version, read without loading its tokens: the manifest
    and only the asked rows of ``tokens.parquet`` (a filtered Parquet read, scanned by
    Arrow). Answers ``token_to_id`` and ``row`` like a ``Vocabulary`` for those rows
    (what ``vocabguard inspect --token/--id/--rows`` prints); it verifies nothing.
    """

    def __init__(self, manifest: dict, table: pa.Table):
        self.manifest = manifest
        self.spec = recorded_spec(manifest)
        self.token_type = manifest["token_type"]
        layout = manifest["layout"]
        self.layout = IdLayout(
            num_oov_buckets=layout["num_oov_buckets"],
            num_reserved=layout["num_reserved"],
            num_learned=layout["num_learned"],
            capacity=layout["capacity"],
            pad_to_multiple_of=layout.get("pad_to_multiple_of"),
        )
        self.input_dim = manifest["input_dim"]
        self.pad_id = self.layout.pad_id
        self.oov_ids = self.layout.oov_ids
        self.num_oov_buckets = self.layout.num_oov_buckets
        self.pad_token = manifest["pad_token"]
        self.oov_token = manifest["oov_token"]
        kinds = table["kind"].cast(pa.string()).to_pylist()
        ids = table["id"].to_pylist()
        tokens = table["token"].to_pylist()
        counts = table["count"].to_pylist()
        self._rows = {i: (t, c) for i, t, c, kind in zip(ids, tokens, counts, kinds)}
        self.retired = frozenset(i for i, kind in zip(ids, kinds) if kind == "retired")
        self._ids = {
            t: i for i, t, kind in zip(ids, tokens, kinds) if kind in ("reserved", "learned")
        }

    @classmethod
    def read(
        cls, fs: pafs.FileSystem, directory: str, manifest: dict, *, tokens=(), ids=()
    ) -> VersionRows:
        """The rows holding ``tokens`` (canonical: bytes or int) or ``ids``, read from
        tokens.parquet without checking it (``inspect --no-verify``)."""
        contents = {TOKENS: read_buffer(fs, f"{directory}/{TOKENS}")}
        txt = manifest.get("vocab_txt")
        if tokens and isinstance(txt, dict) and txt.get("written") is True:
            contents[VOCAB_TXT] = read_file(fs, f"{directory}/{VOCAB_TXT}")
        return cls.find(manifest, contents, tokens=tokens, ids=ids)

    @classmethod
    def find(cls, manifest: dict, contents: Mapping, *, tokens=(), ids=()) -> VersionRows:
        """The rows holding ``tokens`` (canonical) or ``ids``, from the bytes of the
        version's files (``contents``, e.g. as ``verified_files`` checked them): only the
        row groups of tokens.parquet that hold them are parsed. A token is found by its
        line in vocab.txt when that was written (a byte search), else by a scan of the
        token column; either way its row is read from tokens.parquet."""
        parquet = pq.ParquetFile(pa.BufferReader(contents[TOKENS]))
        starts = np.cumsum(
            [0] + [parquet.metadata.row_group(g).num_rows for g in range(parquet.num_row_groups)]
        )
        keys = list(dict.fromkeys(t for t in tokens if t is not None))
        wanted = [np.asarray([int(i) for i in ids], dtype=np.int64)]
        txt = manifest.get("vocab_txt") or {}
        if keys and contents.get(VOCAB_TXT) is not None and txt.get("written") is True:
            # vocab.txt is a hint: a line found there must hold the same token in
            # tokens.parquet. A key it does not hold is absent only if vocab.txt is the
            # file published (its sha256 matches); otherwise a scan looks for it.
            hinted = _lines_of(contents[VOCAB_TXT], keys) + int(txt["first_id"])
            hinted = hinted[(hinted >= 0) & (hinted < starts[-1])]
            confirmed = _tokens_at(parquet, starts, hinted)
            missing = [key for key in keys if key not in confirmed]
            wanted.append(hinted)
            if missing and not _as_listed(contents[VOCAB_TXT], manifest, VOCAB_TXT):
                wanted.append(_rows_holding(parquet, starts, missing))
        elif keys:
            wanted.append(_rows_holding(parquet, starts, keys))
        rows = np.unique(np.concatenate(wanted))
        rows = rows[(rows >= 0) & (rows < starts[-1])]
        columns = ["id", "token", "count", "kind"]
        parts = [parquet.schema_arrow.empty_table().select(columns)]
        groups = np.searchsorted(starts, rows, side="right") - 1
        for group in np.unique(groups):
            table = parquet.read_row_group(int(group), columns=columns)
            parts.append(table.take(pa.array(rows[groups == group] - starts[group])))
        table = pa.concat_tables(parts)
        # Rows are ids in a published file; a row whose id says otherwise is not shown.
        return cls(manifest, table.filter(pa.array(table["id"].to_numpy() == rows)))

    def token_to_id(self, token) -> int:
        """As ``Vocabulary.token_to_id``, for a token asked for when reading."""
        key = as_token(token, self.token_type)
        if self.pad_token is not None and key == as_token(self.pad_token, self.token_type):
            return self.pad_id
        found = self._ids.get(key)
        return found if found is not None else oov_bucket(key, self.num_oov_buckets)

    def row(self, id_: int) -> tuple:
        """``(token, count)`` of a reserved or learned id read (canonical token)."""
        return self._rows[id_]


def _lines_of(vocab_txt: bytes | pa.Buffer, keys: Sequence) -> np.ndarray:
    """The line numbers (from 0) of ``keys`` (canonical tokens) in the bytes of a
    vocab.txt, found by a byte search for the whole line; keys not there are left out."""
    data = vocab_txt if isinstance(vocab_txt, bytes) else vocab_txt.to_pybytes()
    lines = []
    for key in keys:
        line = str(key).encode() if isinstance(key, int) else key
        if b"\n" in line:
            continue  # not a line of the file
        if data.startswith(line + b"\n"):
            lines.append(0)
            continue
        at = data.find(b"\n" + line + b"\n")
        if at >= 0:
            lines.append(data.count(b"\n", 0, at + 1))
    return np.asarray(lines, dtype=np.int64)


def _as_listed(data: bytes | pa.Buffer, manifest: dict, name: str) -> bool:
    """Whether ``data`` has the size and sha256 the manifest records for ``name``."""
    meta = (manifest.get("files") or {}).get(name) or {}
    return len(data) == meta.get("bytes") and _sha256(data) == meta.get("sha256")


def _tokens_at(parquet: pq.ParquetFile, starts: np.ndarray, rows: np.ndarray) -> set:
    """The tokens (canonical) at ``rows`` of tokens.parquet, reading only the token
    column of the row groups that hold them."""
    found = set()
    groups = np.searchsorted(starts, rows, side="right") - 1
    for group in np.unique(groups):
        column = parquet.read_row_group(int(group), columns=["token"])["token"]
        found.update(column.take(pa.array(rows[groups == group] - starts[group])).to_pylist())
    return found


def _rows_holding(parquet: pq.ParquetFile, starts: np.ndarray, keys: Sequence) -> np.ndarray:
    """The rows of tokens.parquet whose token is one of ``keys``, by a scan of the token
    column a row group at a time (stopping once every key is found)."""
    found = [np.zeros(0, dtype=np.int64)]
    for group in range(parquet.num_row_groups):
        column = parquet.read_row_group(group, columns=["token"])["token"]
        needles = pa.array(keys, type=column.type)
        hits = pc.is_in(column, value_set=needles).to_numpy()
        found.append(np.flatnonzero(hits) + starts[group])
        if sum(len(f) for f in found) >= len(keys):
            break
    return np.concatenate(found)


def _first_diff_line(a: bytes | None, b: bytes | None) -> int:
    left, right = (a or b"").split(b"\n"), (b or b"").split(b"\n")
    for line, (x, y) in enumerate(zip(left, right), 1):
        if x != y:
            return line
    return min(len(left), len(right)) + 1


def listed_files(manifest: dict, where: str) -> dict[str, dict]:
    """The manifest's ``files`` map, checked: exactly the version's own files
    (``tokens.parquet``, and ``vocab.txt`` when ``vocab_txt.written`` says so), each
    with a sha256 and a size. Any other entry (``../../etc/passwd``) makes the manifest
    corrupt; files are read from the directory + a fixed name, never a name in it."""
    listed = manifest.get("files")
    if not isinstance(listed, dict):
        raise _corrupt(where, MANIFEST, f"its 'files' is {listed!r}, not a map of file names")
    vocab_txt = manifest.get("vocab_txt")
    written = isinstance(vocab_txt, dict) and vocab_txt.get("written") is True
    expected = [TOKENS, VOCAB_TXT] if written else [TOKENS]
    for name in listed:
        if name not in expected:
            raise _corrupt(
                where,
                MANIFEST,
                f"it lists the file {name!r}, which is not one of this version's files "
                f"(expected exactly {expected})",
            )
    for name in expected:
        meta = listed.get(name)
        if (
            not isinstance(meta, dict)
            or not isinstance(meta.get("sha256"), str)
            or isinstance(meta.get("bytes"), bool)
            or not isinstance(meta.get("bytes"), int)
        ):
            raise _corrupt(
                where, MANIFEST, f"its entry for {name} is {meta!r}, not a sha256 and a size"
            )
    return {name: listed[name] for name in expected}


def _unreadable(err: OSError, where: str, name: str) -> ArtifactError:
    # Only an absent file is "missing": a permission error says so.
    what = (
        "is missing"
        if isinstance(err, FileNotFoundError)
        else f"cannot be read ({err.strerror or err})"
    )
    return ArtifactError(
        f"{where}/{name} {what}, but the manifest lists it. Restore it or rebuild "
        "the vocabulary. " + received(file=f"{where}/{name}"),
        cases=[name],
        file=name,
    )


def _read_listed(
    fs: pafs.FileSystem, directory: str, name: str, meta: dict, where: str
) -> pa.Buffer | bytes:
    """A listed file's bytes, read up to one more than its recorded size: tokens.parquet
    into Arrow memory (parsed from there), vocab.txt as bytes (searched and compared
    with bytes methods)."""
    path = f"{directory}/{name}"
    try:
        if name == TOKENS:
            return read_buffer(fs, path, limit=meta["bytes"] + 1)
        return read_file(fs, path, limit=meta["bytes"])
    except OSError as err:
        raise _unreadable(err, where, name) from None


def _check_sha256(data, digest: str, meta: dict, name: str, where: str) -> None:
    """``data`` (a listed file's bytes, ``digest`` their sha256) must be what the
    manifest records."""
    if len(data) != meta["bytes"] or digest != meta["sha256"]:
        size = f"{len(data)}" if len(data) <= meta["bytes"] else f"more than {meta['bytes']}"
        raise ChecksumMismatchError(
            f"{where}/{name} does not match the sha256 in {MANIFEST}: the file was changed "
            f"after publishing ({size} bytes, {meta['bytes']} recorded). Restore it or "
            "rebuild the vocabulary. " + received(file=f"{where}/{name}"),
            cases=[name],
            file=name,
        )


def _check_size(fs: pafs.FileSystem, directory: str, name: str, meta: dict, where: str) -> None:
    """A listed file that is not read (vocab.txt at load) must be there, a regular file
    (a link is refused by the local store) of its recorded size: a lost or cut file is
    caught without reading it; ``verify`` checks its sha256."""
    try:
        info = fs.get_file_info(f"{directory}/{name}")
    except OSError as err:
        raise _unreadable(err, where, name) from None
    if info.type == pafs.FileType.NotFound:
        raise _unreadable(FileNotFoundError(name), where, name)
    if info.type != pafs.FileType.File:
        # Not a regular file: opening it says what it is (the local store refuses a
        # FIFO, device or directory by name, without blocking or opening a device).
        _read_listed(fs, directory, name, {**meta, "bytes": 0}, where)
    if info.type != pafs.FileType.File or info.size != meta["bytes"]:
        found = "is not a file" if info.type != pafs.FileType.File else f"has {info.size} bytes"
        raise ChecksumMismatchError(
            f"{where}/{name} {found} but {MANIFEST} records {meta['bytes']} bytes: the file "
            "was changed after publishing. Restore it or rebuild the vocabulary "
            f"(`vocabguard verify` checks its sha256). " + received(file=f"{where}/{name}"),
            cases=[name],
            file=name,
        )


def verify_files(
    fs: pafs.FileSystem,
    directory: str,
    manifest: dict,
    where: str,
    files: Sequence[str] | None = None,
) -> dict[str, pa.Buffer | bytes]:
    """Read the version's files (or those of ``files`` it lists) and check each sha256;
    return the contents, each read once (tokens.parquet into Arrow memory, vocab.txt as
    bytes). The ``files`` map is checked first (``listed_files``)."""
    listed = listed_files(manifest, where)
    contents = {}
    for name, meta in listed.items():
        if files is not None and name not in files:
            continue
        data = _read_listed(fs, directory, name, meta, where)
        _check_sha256(data, _sha256(data), meta, name, where)
        contents[name] = data
    return contents


def categorical_facts(manifest: dict) -> list[str]:
    """Lines for fields, missing values, weights and padding rows (empty when none apply)."""
    layout = manifest.get("layout", {})
    spec = manifest.get("spec", {})
    stats = manifest.get("stats", {})
    build = manifest.get("build", {})
    lines = []
    if build.get("fields"):
        shared = " (one id space)" if len(build["fields"]) > 1 else ""
        lines.append(f"fields          {', '.join(build['fields'])}{shared}")
    if spec.get("missing", "error") != "error":
        missing = manifest.get("missing") or {}
        where = (
            f" -> id {missing['id']} ({missing['token']!r})"
            if missing.get("token") is not None
            else f" -> id {missing.get('id')}"
        )
        counts = stats.get("missing") or {}
        seen = ", ".join(f"{field} {n}" for field, n in counts.items())
        lines.append(
            f"missing         {spec['missing']}{where}" + (f"; seen: {seen}" if seen else "")
        )
    if stats.get("weighted"):
        lines.append(
            f"weighted        by {build.get('weight_field')!r}: total weight "
            f"{stats.get('total_weight')}; counts in units of {stats.get('weight_unit')}"
        )
    if layout.get("pad_to_multiple_of"):
        lines.append(
            f"aligned         input_dim {manifest['input_dim']} = {layout['used_ids']} used ids "
            f"+ {layout.get('unused_ids', 0)} unused, a multiple of {layout['pad_to_multiple_of']}"
        )
    if stats.get("bad_records_skipped"):
        lines.append(f"skipped         {stats['bad_records_skipped']}")
    rule = stats.get("document_rule")
    if rule:
        high = rule.get("max_documents")
        lines.append(
            f"document rule   learned tokens occur in {rule.get('min_documents')}.."
            + (f"{high}" if high is not None else "any")
            + f" of {stats.get('documents')} documents (min_document_count="
            f"{spec.get('min_document_count')}, max_document_fraction="
            f"{spec.get('max_document_fraction')}); per-token counts in tokens.parquet"
        )
    return lines


def wordpiece_facts(manifest: dict, learned: Sequence[str] | None = None) -> list[str]:
    """Lines for a WordPiece version (empty for others): the target size and the pieces
    learned, the joiner and word limit, the counted words; with ``learned`` (the learned
    pieces, in id order) also how many start a word and how many continue one."""
    spec = manifest.get("spec", {})
    if spec.get("tokenizer") != "wordpiece":
        return []

    joiner = spec.get("joiner") if spec.get("joiner") is not None else DEFAULT_JOINER
    max_chars = spec.get("max_chars_per_word") or DEFAULT_MAX_CHARS_PER_WORD
    num_learned = manifest.get("layout", {}).get("num_learned", 0)
    lines = [
        f"wordpiece       vocab_size {spec.get('vocab_size')} (target); {num_learned} pieces "
        f"learned; joiner {joiner!r}; max_chars_per_word {max_chars}"
    ]
    if learned is not None:
        continuing = sum(1 for piece in learned if piece.startswith(joiner))
        lines.append(
            f"pieces          {len(learned) - continuing} word-initial, {continuing} "
            f"continuation ({joiner!r}...)"
        )
    counted = manifest.get("stats", {}).get("wordpiece")
    if counted:
        lines.append(
            f"words           {counted['words']} counted ({counted['distinct_words']} distinct, "
            f"{counted['learned_from_words']} learned from) -> "
            f"{counted['pieces_of_counted_words']} pieces; {counted['oov_words']} OOV words"
        )
    return lines


def describe(manifest: dict, learned: Sequence[str] | None = None) -> str:
    """A short human summary of a manifest (``vocabguard inspect``); ``learned``, the
    learned tokens in id order, adds what only they tell (WordPiece's continuation pieces)."""
    layout = manifest["layout"]
    stats = manifest.get("stats", {})
    spec = manifest["spec"]
    lines = [
        f"{manifest['name']}@v{manifest['version']}  fingerprint {manifest['fingerprint'][:16]}",
        f"  input_dim       {manifest['input_dim']}   (Embedding(input_dim={manifest['input_dim']}))",
        f"  pad             id 0 = {manifest['pad_token']!r}"
        if manifest["pad_token"] is not None
        else "  pad             id 0 (padding only: no value maps to it)",
        f"  oov             ids {layout['oov_ids'][0]}..{layout['oov_ids'][1]} = "
        f"{manifest['oov_token']!r}",
        f"  reserved        {layout['num_reserved']} {manifest['reserved_tokens']}",
        f"  learned         {layout['num_learned']} tokens"
        + (
            f" (ids {layout['learned_ids'][0]}..{layout['learned_ids'][1]})"
            if layout["learned_ids"]
            else ""
        ),
        f"  capacity        {layout['capacity']}",
        f"  tokenizer       {spec['tokenizer']}"
        + (f" pattern={spec['pattern']!r}" if spec.get("pattern") else "")
        + f", lowercase={spec['lowercase']}, normalization={spec['normalization']}",
        f"  documents       {stats.get('documents')}   tokens {stats.get('total_tokens')}   "
        f"distinct {stats.get('distinct_tokens')}",
    ]
    if "coverage" in stats:
        lines.append(
            f"  coverage        {stats['coverage']:.4f}   oov_rate {stats['oov_rate']:.4f}"
        )
    txt = manifest["vocab_txt"]
    lines.append(
        "  vocab.txt       " + ("written" if txt["written"] else f"not written: {txt['reason']}")
    )
    lines.append(
        f"  built           {manifest['build'].get('created_utc')} from {manifest['build'].get('input')}"
    )
    lines.extend(f"  {line}" for line in categorical_facts(manifest))
    lines.extend(f"  {line}" for line in wordpiece_facts(manifest, learned))
    parent = manifest.get("parent")
    if parent:
        lines.append(
            f"  parent          {parent.get('ref')} fingerprint {parent['fingerprint'][:16]} "
            f"input_dim {parent['input_dim']}; {manifest.get('num_retired', 0)} retired"
        )
    return "\n".join(lines)


__all__ = ["display_token", "load_version", "render_files"]
