"""Read input files as the builds do: one reader per format, bad records named.

- ``expand_inputs(patterns)``: the files of paths and globs (local or an object store);
- ``detect_format(path)``: ``text``, ``jsonl``, ``csv``, ``parquet`` or ``tfrecord``
  from the extension (a compression suffix ignored);
- ``read_documents(paths)``: one document per line, record or row;
- ``read_records(paths, fields=...)``: one checked ``{field: value}`` dict per
  record, with the bad-record policy (``fail`` or ``skip``, counted).

Importing this module loads neither TensorFlow nor Beam.

A public face: the implementation lives in ``vocabguard._src.engines.formats``.

>>> import pathlib, tempfile
>>> path = pathlib.Path(tempfile.mkdtemp()) / "a.jsonl"
>>> _ = path.write_text('{"city": "Oslo"}\\n{"city": "Lima"}\\n', encoding="utf-8")
>>> list(read_records([str(path)], fields=["city"]))
[{'city': 'Oslo'}, {'city': 'Lima'}]
"""

from vocabguard._src.engines.formats.inputs import detect_format, expand_inputs
from vocabguard._src.engines.formats.read import read_documents, read_records

__all__ = ["detect_format", "expand_inputs", "read_documents", "read_records"]
