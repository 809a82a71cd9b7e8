"""Quiet output for the command line and the ``pipelines/`` scripts.

TensorFlow's C++ start-up banner (absl's "All log messages before
absl::InitializeLog()", oneDNN, ``cudart_stub``, ``cpu_feature_guard``, and
``failed call to cuInit`` on machines without a GPU) ignores
``TF_CPP_MIN_LOG_LEVEL``: absl writes it to file descriptor 2 before TensorFlow's
own logging is configured. Beam logs ``apitools not found`` on the root logger at
import, which also makes Python's logging print every later root message.

``quiet()`` (called by the CLI and the pipelines before they import TensorFlow or
Beam) sets the environment variables that work, keeps the root logger from
configuring itself, turns Beam's and absl's Python loggers down to errors, drops
the traceback of a background thread whose gRPC stream was cancelled (Beam's
LOOPBACK worker when a Flink or Spark job server hangs up after a job), and
wraps the first ``import tensorflow`` so that the known banner lines written to
stderr while TensorFlow loads (and finds its devices) are dropped; every other
line written meanwhile is replayed. ``quiet(verbose=True)`` changes nothing.

Only the standard library is used here; nothing is imported.

>>> is_noise("I0000 00:00:1795794521.619777   22048 port.cc:153] oneDNN custom operations are on.")
True
>>> is_noise("E0000 00:00:1.2   1 cuda_platform.cc:52] failed call to cuInit: UNKNOWN ERROR (303)")
True
>>> is_noise("2026-11-27 18:34:15.914425: I external/local_xla/cudart_stub.cc:31] Could not find cuda")
True
>>> is_noise("vocabguard: error: something real")
False
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import logging
import os
import re
import sys
import threading
from collections.abc import Sequence

VERBOSE_ENV = "VOCABGUARD_VERBOSE"

# absl/glog line prefix: severity, MMDD, time, thread id, file:line]
_ABSL = re.compile(r"^[IWEF]\d{4} [\d:.]+\s+\d+ [^\]\s]+:\d+\] ")
# TensorFlow 2.20's own prefix: date time: severity file:line]
_TF_LOG = re.compile(r"^\d{4}-\d\d-\d\d [\d:.]+: ([IWEF]) [^\]\s]+:\d+\] ")
_NOISE = (
    re.compile(r"^WARNING: All log messages before absl::InitializeLog\(\) is called"),
    re.compile(r"^To enable the following instructions: .* rebuild TensorFlow"),
)
# absl lines at error severity that are start-up noise, not failures.
_NOISE_ERRORS = re.compile(
    r"failed call to cuInit|Unable to register cu(DNN|FFT|BLAS) factory|"
    r"computation placer already registered"
)
_LOGGERS = ("apache_beam", "absl", "tensorflow", "h5py", "matplotlib", "urllib3", "google")


def is_noise(line: str) -> bool:
    """True for a known TensorFlow start-up line (not an error)."""
    line = line.rstrip("\r\n")
    if any(pattern.match(line) for pattern in _NOISE):
        return True
    if _ABSL.match(line):
        return line[0] in "IW" or bool(_NOISE_ERRORS.search(line))
    tf_line = _TF_LOG.match(line)
    if tf_line:
        return tf_line.group(1) in "IW" or bool(_NOISE_ERRORS.search(line))
    return False


def verbose_requested(argv: Sequence[str]) -> bool:
    """``-v``/``--verbose`` anywhere before a ``--`` in ``argv``, or ``$VOCABGUARD_VERBOSE``."""
    for arg in argv:
        if arg == "--":
            break
        if arg in ("-v", "--verbose"):
            return True
    return os.environ.get(VERBOSE_ENV, "") not in ("", "0")


_installed = False


def quiet(verbose: bool = False) -> None:
    """Silence TensorFlow's, absl's and Beam's chatter for this process (idempotent).

    Call it before TensorFlow or Beam is imported. Environment variables set here
    are inherited by Beam's worker processes.
    """
    global _installed
    if verbose:
        os.environ[VERBOSE_ENV] = "1"  # Beam workers and child processes follow
        return
    if _installed:
        return
    _installed = True
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
    os.environ.setdefault("ABSL_MIN_LOG_LEVEL", "3")
    root = logging.getLogger()
    if not root.handlers:
        # logging.warning() on the root logger (Beam's "apitools not found") would
        # otherwise install a handler that prints every later root message.
        root.addHandler(logging.NullHandler())
    for name in _LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)
    if "tensorflow" not in sys.modules:
        sys.meta_path.insert(0, _QuietTensorFlowFinder())
    threading.excepthook = _drop_cancelled_streams(threading.excepthook)


def is_cancelled_stream(error: BaseException) -> bool:
    """A gRPC stream the other side cancelled (``StatusCode.CANCELLED``): how a
    LOOPBACK worker's data and control threads end when a Flink or Spark job server
    hangs up after the job. Duck-typed, so gRPC is not imported.

    >>> class Stream(Exception):
    ...     def code(self):
    ...         return "StatusCode.CANCELLED"
    >>> is_cancelled_stream(Stream()), is_cancelled_stream(ValueError("x"))
    (True, False)
    """
    code = getattr(error, "code", None)
    try:
        return callable(code) and str(code()) == "StatusCode.CANCELLED"
    except Exception:
        return False


def _drop_cancelled_streams(previous):
    def excepthook(args) -> None:
        if not is_cancelled_stream(args.exc_value):
            previous(args)

    return excepthook


class _QuietLoader(importlib.abc.Loader):
    def __init__(self, loader):
        self._loader = loader

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module) -> None:
        with filtered_stderr():
            self._loader.exec_module(module)
            try:  # device discovery prints cuInit errors on machines without a GPU
                module.config.list_physical_devices("GPU")
            except Exception:
                pass

    def __getattr__(self, name):
        return getattr(self._loader, name)


class _QuietTensorFlowFinder(importlib.abc.MetaPathFinder):
    """Wraps the first import of ``tensorflow`` in ``filtered_stderr()``, then steps aside."""

    def find_spec(self, fullname, path, target=None):
        if fullname != "tensorflow":
            return None
        if self in sys.meta_path:
            sys.meta_path.remove(self)
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is not None and spec.loader is not None:
            spec.loader = _QuietLoader(spec.loader)
        return spec


def filtered_stderr() -> stderr_lines:
    """File descriptor 2 without noise lines (``is_noise``) until exit."""
    return stderr_lines(lambda line: None if is_noise(line) else line)


# Python logging's default format, as Beam's worker processes print it.
_RECORD = re.compile(r"^(DEBUG|INFO|WARNING|ERROR|CRITICAL):([\w.]+):")
_OUR_LOG = re.compile(r"^(?:DEBUG|INFO|WARNING|ERROR):vocabguard[\w.]*:(.*)$", re.DOTALL)


class BeamLines:
    r"""What a worker's stderr line becomes while a Beam job runs quietly (None: dropped).

    Beam's own log records are dropped, including ERROR records and the tracebacks
    after them (the job's failure reaches the command, which reports it once);
    vocabguard's records lose their ``INFO:module:`` prefix; anything else is kept.

    >>> lines = BeamLines()
    >>> lines("INFO:apache_beam.runners.worker.sdk_worker:Done consuming work.\n")
    >>> lines("INFO:vocabguard._src.engines.beam.read:vocabguard: a.txt: done, 3 records\n")
    'vocabguard: a.txt: done, 3 records\n'
    >>> lines("ERROR:apache_beam.runners.common:a.txt, line 1: bad\n")
    >>> lines("Traceback (most recent call last):\n")
    >>> lines("plain output\n")
    >>> lines("WARNING:vocabguard.x:vocabguard: note\n")
    'vocabguard: note\n'
    >>> lines("plain output\n")
    'plain output\n'
    """

    def __init__(self) -> None:
        self._in_error = False

    def __call__(self, line: str) -> str | None:
        if is_noise(line):
            return None
        record = _RECORD.match(line)
        if record is None:
            return None if self._in_error else line
        ours = _OUR_LOG.match(line)
        self._in_error = ours is None and record.group(1) in ("ERROR", "CRITICAL")
        return ours.group(1) if ours else None


class stderr_lines:
    """Pass everything written to file descriptor 2 (by this process and the processes it
    starts) through ``transform`` line by line, on a thread, until the block ends.

    A partial line holding a carriage return (a progress bar redrawing itself) is
    passed on at once. With ``enabled=False`` it does nothing.
    """

    def __init__(self, transform, enabled: bool = True):
        self._transform = transform
        self._enabled = enabled
        self._saved = None

    def __enter__(self):
        if not self._enabled:
            return self
        try:
            sys.stderr.flush()
            self._saved = os.dup(2)
        except (OSError, ValueError, AttributeError):
            self._saved = None
            return self
        read_end, write_end = os.pipe()
        os.dup2(write_end, 2)
        os.close(write_end)
        self._thread = threading.Thread(target=self._pump, args=(read_end,), daemon=True)
        self._thread.start()
        return self

    def _emit(self, text: str) -> None:
        data = text.encode("utf-8", "replace")
        while data:
            try:
                written = os.write(self._saved, data)
            except OSError:
                return
            data = data[written:]

    def _pump(self, read_end: int) -> None:
        pending = ""
        with os.fdopen(read_end, "rb", buffering=0) as pipe:
            while True:
                chunk = pipe.read(65536)
                if not chunk:
                    break
                pending += chunk.decode("utf-8", "replace")
                *lines, pending = pending.split("\n")
                out = [self._transform(line + "\n") for line in lines]
                if "\r" in pending:  # a progress bar: show it now
                    head, _, pending = pending.rpartition("\r")
                    out.append(head + "\r")
                text = "".join(line for line in out if line)
                if text:
                    self._emit(text)
        if pending:
            kept = self._transform(pending)
            if kept:
                self._emit(kept)

    def __exit__(self, *exc) -> None:
        if self._saved is None:
            return
        try:
            sys.stderr.flush()
        except (OSError, ValueError):
            pass
        os.dup2(self._saved, 2)  # closes our copy of the pipe's write end
        # Worker processes that outlive the job may still hold the write end: wait a little.
        self._thread.join(timeout=5)
        os.close(self._saved)
        self._saved = None


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is at each record, not the stream it was created
    with: a later caller that swaps ``sys.stderr`` (a test's capture, a notebook) must not
    get "I/O operation on closed file" tracebacks from an earlier run's handler."""

    @property
    def stream(self):  # type: ignore[override]
        return sys.stderr

    @stream.setter
    def stream(self, _value) -> None:
        pass


def progress_lines() -> None:
    """Show vocabguard's own progress lines (``logging`` INFO records of the
    ``vocabguard`` loggers) on stderr as plain lines, as the command line prints them."""
    ours = logging.getLogger("vocabguard")
    if not any(isinstance(h, _StderrHandler) for h in ours.handlers):
        handler = _StderrHandler()
        handler.setFormatter(logging.Formatter("%(message)s"))
        ours.addHandler(handler)
    ours.setLevel(logging.INFO)
    ours.propagate = False
