"""The CLI run in this process, as the tests of its commands call it."""

from __future__ import annotations

import os

from vocabguard.cli import main


def run(capsys, where: dict | str | os.PathLike, *argv: str) -> tuple[int, str, str]:
    """``vocabguard ARGV --store STORE``: ``(exit code, stdout, stderr)``.

    ``where`` is the store's root, or a test's setup dict holding it under ``"store"``.
    A traceback on stderr fails the test: every error is a one-line message.
    """
    store = where["store"] if isinstance(where, dict) else where
    code = main([*argv, "--store", os.fspath(store)])
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    return code, captured.out, captured.err
