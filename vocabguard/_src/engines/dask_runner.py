"""Beam's ``DaskRunner``, given only its own options.

Beam 2.62's ``DaskRunner.run_pipeline`` passes every non-default pipeline option
(``runner``, ``job_name``, ...) to ``distributed.Client(**kwargs)``, which rejects
them (``ValueError: Unexpected keyword arguments: ['runner']``); later releases
pass only the Dask options. This subclass hands the runner a copy of the options
that holds the ``--dask_*`` flags alone, so ``--runner DaskRunner`` works on every
Beam release in setup.py's range. It imports Beam's Dask runner (``vocabguard[dask]``).
"""

from __future__ import annotations

from apache_beam.options.pipeline_options import PipelineOptions, _BeamArgumentParser
from apache_beam.runners.dask import dask_runner as _beam_dask


def dask_flags(options) -> list[str]:
    """The ``--dask_*`` flags of ``options`` whose values differ from their defaults.

    Beam's own ``_add_argparse_args`` declares them on Beam's parser (it may use
    argument groups, as 2.78's partition flags do), so the names, dests and defaults
    come from that parser's actions rather than a copy of Beam's list. Nothing here
    parses a command line: the parser is only read.
    """
    parser = _BeamArgumentParser(add_help=False)
    _beam_dask.DaskOptions._add_argparse_args(parser)
    view = options.view_as(_beam_dask.DaskOptions)
    flags = []
    for action in parser._actions:
        if not action.option_strings:
            continue
        flag, dest = action.option_strings[0], action.dest
        value = getattr(view, dest, None)
        if value is None or value == action.default:
            continue
        if action.nargs == 0:  # store_true and the like: the flag alone
            flags.append(flag)
            continue
        if dest == "timeout" and not isinstance(value, int):
            continue  # Beam's parser maps an unparsable timeout to "dask's default"
        flags.append(f"{flag}={value}")
    return flags


class DaskRunner(_beam_dask.DaskRunner):
    """Beam's ``DaskRunner``; the dask client gets the ``--dask_*`` options only."""

    def run_pipeline(self, pipeline, options):
        return super().run_pipeline(pipeline, PipelineOptions(dask_flags(options)))
