"""A table training job publishes the vocabularies it builds together or not at all.

``vocabguard train --config`` on a table (``features:``) builds ``places`` and
``maker`` from the train split and publishes both through the job journal, as a
build job does. ``maker`` is attacked (a file where its directory should be, an
injected ENOSPC on a write of its files, ``kill -9`` at a step of the commit); after
each, both are visible or neither is, and no model is trained. The journal itself is
tested in test_job_atomic.py.
"""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import textwrap

import pytest
from test_job_atomic import RUN_SECONDS

from vocabguard import VocabStore
from vocabguard._src.core.journal import JOBS_DIR
from vocabguard._src.engines import tabular
from vocabguard.cli import main
from vocabguard.errors import ConfigError, StoreError

NAMES = ("places", "maker")


@pytest.fixture
def config_path(tmp_path):
    """A two-feature table job; its store is ``tmp_path/store``, its output ``tmp_path/out``."""
    rows = [
        {"origin": o, "maker": m, "label": "late" if o == "AAA" else "on_time"}
        for o, m in zip(["AAA", "BBB", "CCC"] * 4, ["m1", "m2"] * 6)
    ]
    for split in ("train", "test"):
        (tmp_path / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    path = tmp_path / "job.yaml"
    path.write_text(
        textwrap.dedent(
            f"""
            data: {{train: {tmp_path}/train.jsonl, test: {tmp_path}/test.jsonl}}
            store: {tmp_path}/store
            features:
              places: {{fields: [origin], ref: places@latest, spec: {{tokenizer: none}}}}
              maker: {{ref: maker@latest, spec: {{tokenizer: none}}}}
            training: {{epochs: 1}}
            output: {tmp_path}/out
            """
        )
    )
    return path


def published(root) -> list[list[int]]:
    """The visible versions of both names, as a fresh reader sees them (it settles jobs)."""
    store = VocabStore(root)
    versions = [store.versions(name) for name in NAMES]
    jobs = os.path.join(root, JOBS_DIR)
    assert not os.path.exists(jobs) or os.listdir(jobs) == [], os.listdir(jobs)
    return versions


def test_a_file_where_the_second_features_directory_should_be(config_path, capsys):
    store = config_path.parent / "store"
    store.mkdir()
    (store / "maker").write_text("not a directory")
    assert main(["train", "--config", str(config_path)]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    lines = [line for line in err.splitlines() if line.startswith("vocabguard: error:")]
    assert len(lines) == 1 and "Traceback" not in err, err
    assert lines[0].startswith(
        f"vocabguard: error: Could not publish feature 'maker' as 'maker': {store}"
    ), err
    assert "Nothing was published" in lines[0]
    (store / "maker").unlink()
    assert published(store) == [[], []]
    assert not (config_path.parent / "out").exists()


def test_no_space_on_a_write_of_the_second_feature(config_path, monkeypatch):
    """The API raises one ``StoreError``; the first feature gets no new version."""
    original, failed = VocabStore._write, []

    def write(self, path, data):
        if "/stage-1/" in path and not failed:  # the second reservation's files
            failed.append(path)
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), path)
        original(self, path, data)

    monkeypatch.setattr(VocabStore, "_write", write)
    with pytest.raises(StoreError, match=r"(?i)no space left on device") as caught:
        tabular.train(tabular.TableConfig.from_yaml(str(config_path)))
    assert str(caught.value).startswith("Could not publish feature 'maker' as 'maker'")
    assert failed and f"path='{failed[0]}'" in str(caught.value)
    assert published(config_path.parent / "store") == [[], []]
    assert not (config_path.parent / "out").exists()


def test_a_feature_that_cannot_be_built_publishes_none(config_path):
    """Every feature is resolved or built before any is published."""
    text = config_path.read_text().replace("maker@latest, spec: {tokenizer: none}", "maker")
    config_path.write_text(text)
    with pytest.raises(ConfigError, match="The vocabulary maker of feature 'maker' is not in"):
        tabular.train(tabular.TableConfig.from_yaml(str(config_path)))
    assert published(config_path.parent / "store") == [[], []]


# The table job in a process that kills itself (SIGKILL) at the N-th time the
# journal reaches POINT, before any model is trained.
KILLED = textwrap.dedent(
    """
    import os, signal, sys
    from vocabguard import VocabStore
    from vocabguard._src.engines import tabular

    path, point, nth = sys.argv[1], sys.argv[2], int(sys.argv[3])
    seen = [0]

    def pause(self, here, name, version):
        if here == point:
            seen[0] += 1
            if seen[0] == nth:
                os.kill(os.getpid(), signal.SIGKILL)

    VocabStore._pause = pause
    config = tabular.TableConfig.from_yaml(path)
    tabular.resolve_all(config, tabular.read_table(config, config.train, {}))
    print("finished")
    """
)


@pytest.mark.parametrize(
    ("point", "nth", "expected"),
    [("job-reserved", 2, [[], []]), ("job-revealed", 1, [[1], [1]])],
)
def test_kill_9_mid_publish_leaves_both_or_neither(config_path, point, nth, expected):
    done = subprocess.run(
        [sys.executable, "-c", KILLED, str(config_path), point, str(nth)],
        capture_output=True,
        text=True,
        timeout=RUN_SECONDS,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    assert done.returncode == -signal.SIGKILL, done.stderr
    assert published(config_path.parent / "store") == expected
