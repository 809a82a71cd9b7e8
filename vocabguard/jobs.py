"""Build vocabularies from files, in this process or on any Apache Beam runner.

The one build use case behind ``vocabguard build`` and ``pipelines/``:

- ``build(BuildOptions(name=..., inputs=[...]))``: one vocabulary from local files,
  counted in this process (or, with ``runner=``, as a one-feature job);
- ``run_job(JobConfig.from_yaml("job.yaml"), runner=...)``: every feature of a job
  config in one pass (``runner="inprocess"``: this process, no Beam; otherwise a Beam
  runner, with Beam ``PipelineOptions`` or a list of Beam flags);
- ``encode_job(config, ...)``: encode a job config's inputs with pinned versions on Beam.

Each returns what it published or wrote and prints nothing. Importing this module
loads neither TensorFlow nor Beam (a Beam runner imports Beam when the job runs).

A public face: the implementation lives in ``vocabguard._src.engines.build_job``.

>>> import pathlib, tempfile
>>> root = pathlib.Path(tempfile.mkdtemp())
>>> _ = (root / "a.txt").write_text("to be or not to be\\n")
>>> build(BuildOptions(name="play", inputs=[str(root / "a.txt")], store=str(root))).refs
['play@v1']
"""

from vocabguard._src.engines.build_job import (
    BuildOptions,
    BuildResult,
    PublishedFeature,
    build,
    run_job,
)
from vocabguard._src.engines.jobs import EncodeConfig, JobConfig
from vocabguard._src.engines.jobs import run_encode as encode_job

__all__ = [
    "BuildOptions",
    "BuildResult",
    "EncodeConfig",
    "JobConfig",
    "PublishedFeature",
    "build",
    "encode_job",
    "run_job",
]
