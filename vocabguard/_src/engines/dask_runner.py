"""Beam's ``DaskRunner``, given only its own options.

Beam 2.62's ``DaskRunner.run_pipeline`` passes every non-default pipeline option
(``runner``, ``job_name``, ...) to ``distributed.Client(**kwargs)``, which rejects
them (``ValueError: Unexpected keyword arguments: ['runner']``); later releases
pass only the Dask options. This subclass hands the runner a copy of the options
that holds the ``--dask_*`` flags alone, so ``--runner DaskRunner`` works on every
Beam release in setup.py's range. It imports Beam's Dask runner (``vocabguard[dask]``).
"""

from __future__ import annotations

from typing import Any

from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.runners.dask import dask_runner as _beam_dask


class _Declared:
    """What an options class declares: its ``_add_argparse_args`` calls ``add_argument``
    only, so this records each flag (names, dest, default) without building a parser."""

    def __init__(self) -> None:
        self.flags: list[tuple[str, str, Any]] = []

    def add_argument(self, *names: str, **kwargs: Any) -> None:
        dest = kwargs.get("dest") or names[0].lstrip("-").replace("-", "_")
        self.flags.append((names[0], dest, kwargs.get("default")))


def dask_flags(options) -> list[str]:
    """The ``--dask_*`` flags of ``options`` whose values differ from their defaults."""
    declared = _Declared()
    _beam_dask.DaskOptions._add_argparse_args(declared)
    view = options.view_as(_beam_dask.DaskOptions)
    flags = []
    for flag, dest, default in declared.flags:
        value = getattr(view, dest, None)
        if not flag.startswith("-") or value is None or value == default:
            continue
        if dest == "timeout" and not isinstance(value, int):
            continue  # Beam's parser maps an unparsable timeout to "dask's default"
        flags.append(f"{flag}={value}")
    return flags


class DaskRunner(_beam_dask.DaskRunner):
    """Beam's ``DaskRunner``; the dask client gets the ``--dask_*`` options only."""

    def run_pipeline(self, pipeline, options):
        return super().run_pipeline(pipeline, PipelineOptions(dask_flags(options)))
