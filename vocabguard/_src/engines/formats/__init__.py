"""Input formats, one reader each: ``text``, ``jsonl``, ``csv``, ``parquet``, ``tfrecord``.

Every path that reads input (the in-process build, Beam's read and encode, the
in-process job runner, audit) reads it through these modules, so a format is
parsed in one place and a bad record is named alike everywhere:

- ``compression``: the bytes of a file, decompressed by suffix (gzip, bz2, xz,
  zstd, LZ4); a truncated stream is an error naming the file;
- ``common``: ``BadRecord``, the bad-record policies, the bound on one record,
  lines; ``fields``: the checks of one record's fields;
- ``text``, ``jsonl``, ``csv``, ``parquet``, ``tfrecord``: one parser per format
  and its views (records for the Beam jobs, documents and records for the
  in-process builder);
- ``inputs``: globs to files, a file's format from its extension;
- ``read``: ``read_documents``, ``read_records`` and ``iter_records``, which pick
  the reader of each file's format.

The folder sits inside ``engines``: its readers use ``core`` (errors, value
checks) and are used by ``engines`` and ``tools``, so imports still flow one way.
"""
