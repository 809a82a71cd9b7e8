"""``JobJournal``: several vocabularies published together, all or nothing.

A job (a Beam build's features) publishes each vocabulary as the next version of its
own name; readers see all of them or none, even when the publisher is killed
(``kill -9``) or the disk fills at any moment. The journal lives beside the names,
under the store's root::

    .jobs/<job>/plan.json        the names the job publishes, each with the lowest
                                 number it may take (written first)
    .jobs/<job>/lock             local disks: held (flock) by the live publisher
    .jobs/<job>/stage-<i>/       local disks: a version's files before their rename
    .jobs/<job>/decision.json    {"state": "committed" | "aborted", "versions": [...]}
                                 (written atomically; "aborted" only on object stores)
    <name>/v<N>/.claim-job-<job> a reserved version's manifest, held back
    .jobs/<id>.staged/<n>/       a version's files written ahead of its job, by any
                                 process (a Beam worker; ``stage_version``), moved
                                 into the job when it publishes (``publish_staged``)

Steps: (1) the plan; (2) each version is **reserved**: ``<name>/v<N>`` arrives
holding its data files and its manifest under the marker's name (locally one rename
of a staged directory; on object stores the claim protocol of ``VocabStore``), so
the number is taken, yet no reader sees the version (a version is visible only once
``manifest.json`` exists); (3) **commit**: ``decision.json`` says "committed",
written atomically -- the one step that makes the whole job visible; (4) **reveal**:
each marker is renamed (object stores: copied) to ``manifest.json``; (5) the job's
directory is deleted.

Staged files are not part of any job until one takes them: a job killed before it
publishes leaves them unseen, and readers delete them once untouched for a day.

Readers honour the journal: ``VocabStore.versions(name)`` first settles the
unfinished jobs that publish ``name``. A committed job is revealed (every step is
idempotent), so no reader sees one of its versions without the others; an
uncommitted job whose publisher is dead is rolled back (its reservations' files
deleted; the numbers stay used). A local publisher is alive while it holds its lock
(``rooted_dir`` ``hold``: the kernel drops it on ``kill -9``), and it commits only
while holding it, so a settler never rolls back a job that is committing. On an
object store a job uncommitted for ``STALE_SECONDS`` by the store's own clock is
dead; the settler records "aborted" first, and a publisher commits only if no
decision exists.

>>> import tempfile
>>> from vocabguard import VocabSpec, VocabStore, build_vocabulary
>>> store = VocabStore(tempfile.mkdtemp())
>>> vocabs = [build_vocabulary([t], VocabSpec(), progress=False) for t in ("a b", "c")]
>>> [v.ref for v in publish_together(store, [("text", "t", vocabs[0]), ("tag", "g", vocabs[1])])]
['t@v1', 'g@v1']
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import datetime
import fcntl
import json
import os
import re
import uuid
from collections.abc import Callable, Sequence
from typing import Any

import pyarrow.fs as pafs

from vocabguard._src.core.artifact import (
    MANIFEST,
    TOKENS,
    VOCAB_TXT,
    as_published,
    build_manifest,
    check_written,
    dump_manifest,
    read_file,
    render_files,
)
from vocabguard._src.core.errors import StoreError, VocabguardError, received
from vocabguard._src.core.rooted_dir import lock_held
from vocabguard._src.core.vocabulary import Vocabulary

# The store (a VocabStore) is passed in, never imported: store.py imports this module
# to settle jobs before it lists versions, and imports flow one way.
Store = Any

JOBS_DIR = ".jobs"
JOB_RE = re.compile(r"^[0-9a-f]{32}\Z")
NEW_SUFFIX = ".new"  # a job directory being assembled (renamed into place when whole)
STAGED_SUFFIX = ".staged"  # versions' files written ahead of their job (stage_version)
# Starts with the store's CLAIM_PREFIX (".claim-"): verify and gc leave claims alone.
MARKER_PREFIX = ".claim-job-"
STALE_SECONDS = 3600  # object stores: an uncommitted job this old (server clock) is dead
STAGED_STALE_SECONDS = 24 * 3600  # staged versions untouched this long: their job died
MAX_ATTEMPTS = 1000  # version numbers tried per reservation
PLAN, DECISION, LOCK = "plan.json", "decision.json", "lock"
COMMITTED, ABORTED = "committed", "aborted"


def publish_together(
    store: Store, entries: Sequence[tuple[str, str, Vocabulary]]
) -> list[Vocabulary]:
    """Publish each ``(label, name, vocab)``; the new versions become visible together or not
    at all. Returns the published (or reused) versions, in order.

    ``label`` names the entry in errors (a job's feature key). A vocabulary identical
    to its name's latest version is not published again: that version is returned with
    ``newly_published`` False, as ``VocabStore.publish`` does. When only one entry is
    new, it goes through ``VocabStore.publish`` unchanged. A failure (a full disk, a file
    where a directory should be) publishes nothing and raises one ``StoreError`` naming
    the entry and the path.
    """
    for _label, name, _vocab in entries:
        store._dir(name)  # checks the name (InvalidNameError)
    results: list[Vocabulary | None] = []
    for label, name, vocab in entries:
        try:
            results.append(store._unchanged(vocab, name))
        except (OSError, StoreError) as err:
            raise _failure(label, name, store._dir(name), err) from None
    todo = [index for index, result in enumerate(results) if result is None]
    if len(todo) == 1:
        label, name, vocab = entries[todo[0]]
        try:
            results[todo[0]] = store.publish(vocab, name)
        except (OSError, StoreError) as err:
            raise _failure(label, name, store._dir(name), err) from None
    elif todo:
        journal, versions = _journal_publish(
            store, [entries[i][:2] for i in todo], lambda j: [j.reserve(*entries[i]) for i in todo]
        )
        by_version = {(v.name, v.version): v for v in journal.published}
        for index, (name, version) in zip(todo, versions):
            results[index] = by_version[(name, version)]
            results[index].newly_published = True
    return results  # type: ignore[return-value]


def _journal_publish(
    store: Store, entries: Sequence[tuple[str, str]], reserve: Callable[[JobJournal], Any]
) -> tuple[JobJournal, list[tuple[str, int]]]:
    """Plan ``(label, name)`` entries, ``reserve`` each (``reserve(journal)``), commit and
    reveal them; returns the journal and the ``(name, version)`` published."""
    journal = JobJournal.begin(store, entries)
    try:
        reserve(journal)
        versions = journal.commit()
    except BaseException:
        journal.roll_back()
        raise
    try:
        journal.reveal(versions)
    except (OSError, StoreError) as err:
        raise StoreError(
            f"The job committed {', '.join(f'{n}@v{v}' for n, v in versions)}, but making "
            f"them visible failed: {_reason(err)}. The next store operation (list, load, "
            "publish) finishes it; all of them or none are visible meanwhile. "
            + received(job=journal.dir),
            cases=[journal.dir],
        ) from None
    finally:
        journal.close()
    return journal, versions


@dataclasses.dataclass(frozen=True)
class StagedVersion:
    """A vocabulary's files written ahead of its job's commit (``stage_version``), and
    what the commit needs of it: small and picklable, without the tokens.

    ``manifest`` is the version's manifest but for its number and ``build.created_utc``,
    which the commit sets (the manifest is then the one ``publish_together`` writes).
    """

    label: str
    name: str
    directory: str
    sizes: dict[str, int]
    manifest: dict

    @property
    def fingerprint(self) -> str:
        return self.manifest["fingerprint"]

    @property
    def input_dim(self) -> int:
        return self.manifest["input_dim"]


@dataclasses.dataclass
class PublishedVersion:
    """A version ``publish_staged`` published (or reused: ``newly_published`` False)."""

    name: str
    version: int
    fingerprint: str
    input_dim: int
    newly_published: bool

    @property
    def ref(self) -> str:
        return f"{self.name}@v{self.version}"


def staging_dir(store: Store, staging: str) -> str:
    """Where the versions of the staging id ``staging`` wait for their commit."""
    if not JOB_RE.match(staging):
        raise ValueError(f"a staging id is 32 hex digits. Received: staging={staging!r}")
    return f"{store._base}/{JOBS_DIR}/{staging}{STAGED_SUFFIX}"


def stage_version(
    store: Store, staging: str, label: str, name: str, vocab: Vocabulary
) -> StagedVersion:
    """Write ``vocab``'s files where ``publish_staged`` takes them from; nothing is visible.

    Each job's vocabularies are staged as soon as each is selected, in any process
    that reaches the store (a Beam worker), each in a directory of its own (a retried
    step stages again, elsewhere): the commit then holds no tokens, only these records.
    ``discard_staged`` deletes what a job staged, committed or not.

    >>> import tempfile, uuid
    >>> from vocabguard import VocabSpec, VocabStore, build_vocabulary
    >>> store = VocabStore(tempfile.mkdtemp())
    >>> job = uuid.uuid4().hex
    >>> staged = [stage_version(store, job, t, t, build_vocabulary([t], VocabSpec(),
    ...     progress=False)) for t in ("a", "b")]
    >>> [(v.ref, v.newly_published) for v in publish_staged(store, staged)]
    [('a@v1', True), ('b@v1', True)]
    >>> discard_staged(store, job)
    """
    store._dir(name)  # checks the name (InvalidNameError)
    published = copy.copy(vocab)
    published.name = name
    files, vocab_txt = render_files(published)
    directory = f"{staging_dir(store, staging)}/{uuid.uuid4().hex}"
    path = directory
    try:
        store.fs.create_dir(directory, recursive=True)
        for file_name, data in files.items():
            path = f"{directory}/{file_name}"
            store._write(path, data)
        check_written(
            store.fs, {f"{directory}/{f}": len(data) for f, data in files.items()}, directory
        )
    except (OSError, StoreError) as err:
        raise _failure(label, name, path, err) from None
    return StagedVersion(
        label,
        name,
        directory,
        {file_name: len(data) for file_name, data in files.items()},
        build_manifest(published, files, vocab_txt),
    )


def publish_staged(store: Store, staged: Sequence[StagedVersion]) -> list[PublishedVersion]:
    """``publish_together`` for staged versions: visible together or not at all, and one
    identical to its name's latest version is reused, not published again.

    Their files are moved into place (object stores: copied), never rewritten.
    """
    for item in staged:
        store._dir(item.name)  # checks the name (InvalidNameError)
    results: list[PublishedVersion | None] = []
    for item in staged:
        try:
            same = store._unchanged_as(item.fingerprint, item.manifest["spec"], item.name)
        except (OSError, StoreError) as err:
            raise _failure(item.label, item.name, store._dir(item.name), err) from None
        results.append(
            None
            if same is None
            else PublishedVersion(item.name, same.version, same.fingerprint, same.input_dim, False)
        )
    todo = [index for index, result in enumerate(results) if result is None]
    if todo:
        _, versions = _journal_publish(
            store,
            [(staged[i].label, staged[i].name) for i in todo],
            lambda journal: [journal.reserve_staged(staged[i]) for i in todo],
        )
        for index, (name, version) in zip(todo, versions):
            item = staged[index]
            results[index] = PublishedVersion(name, version, item.fingerprint, item.input_dim, True)
    return results  # type: ignore[return-value]


def discard_staged(store: Store, staging: str) -> None:
    """Delete what was staged under ``staging`` (what a commit did not take)."""
    directory = staging_dir(store, staging)
    with contextlib.suppress(FileNotFoundError):
        if store._exists(directory):
            store._remove_tree(directory)


def settle(store: Store, name: str) -> None:
    """Finish (committed) or roll back (publisher dead) the unfinished jobs publishing ``name``."""
    for info in store._entries(f"{store._base}/{JOBS_DIR}"):
        if info.type != pafs.FileType.Directory:
            continue
        base = info.base_name
        if JOB_RE.match(base):
            journal = JobJournal(store, base)
            plan = journal._read(PLAN)
            if plan and name in plan.get("names", {}):
                journal.settle(plan)
        elif base.endswith(NEW_SUFFIX) and JOB_RE.match(base[: -len(NEW_SUFFIX)]):
            _remove_unborn(store, info.path)
        elif base.endswith(STAGED_SUFFIX) and JOB_RE.match(base[: -len(STAGED_SUFFIX)]):
            _remove_abandoned(store, info)


def _remove_abandoned(store: Store, info: pafs.FileInfo) -> None:
    """Versions staged by a job that never published them (killed before its publish
    step could discard them): deleted once nothing was staged there for
    ``STAGED_STALE_SECONDS`` by the store's clock. Staged files are never visible, so
    deleting them early can only make a very slow job fail, never publish part of it.
    """
    with contextlib.suppress(OSError, StoreError):
        written = info.mtime
        if written is not None and written.tzinfo is None:
            written = written.replace(tzinfo=datetime.timezone.utc)
        if written is None:
            return
        now = store._server_now(f"{store._base}/{JOBS_DIR}")
        if now is not None and (now - written).total_seconds() > STAGED_STALE_SECONDS:
            store._remove_tree(info.path)


def _remove_unborn(store: Store, path: str) -> None:
    """A local job directory whose publisher died before it was renamed into place.

    It holds no reservation. Its publisher writes the lock file and takes the lock
    right after creating the directory; a settler that comes in between makes that
    publisher fail with an error (its directory is gone), never publish half a job.
    """
    with contextlib.suppress(OSError, StoreError):
        if not _held(store, f"{path}/{LOCK}"):  # no lock file: not held either
            store._remove_tree(path)


def _now() -> str:
    """This machine's time, for the records' ``*_utc`` fields (never compared)."""
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def _json_bytes(record: dict) -> bytes:
    return json.dumps(record, indent=2, sort_keys=True).encode() + b"\n"


def _reason(err: BaseException) -> str:
    return " ".join(str(err).split()) or type(err).__name__


def _failure(label: str, name: str, path: str, err: BaseException) -> StoreError:
    path = getattr(err, "path", None) or path
    return StoreError(
        f"Could not publish feature '{label}' as '{name}': {path}: {_reason(err)}. Nothing was "
        "published: a job's vocabularies become visible together or not at all. Free space or "
        "fix the path, then run the job again. " + received(feature=label, path=path),
        cases=[label],
        feature=label,
        path=path,
    )


class JobJournal:
    """One job's record in the store: its plan, its reserved versions and the decision."""

    def __init__(self, store: Store, job: str):
        self.store = store
        self.job = job
        self.dir = f"{store._base}/{JOBS_DIR}/{job}"
        self.marker = f"{MARKER_PREFIX}{job}"
        self.plan: dict = {}
        self.labels: list[str] = []
        self.reserved: list[tuple[str, int]] = []
        self.published: list[Vocabulary] = []  # as reserved: returned once revealed
        self._manifest_bytes = b""
        self._lock: int | None = None
        self._path = self.dir  # what the publisher is writing, for its error

    # -- the publisher's side --

    @classmethod
    def begin(cls, store: Store, entries: Sequence[tuple[str, str]]) -> JobJournal:
        """Write the plan of ``(label, name)`` entries (locally: and hold the lock)."""
        journal = cls(store, uuid.uuid4().hex)
        journal.labels = [label for label, _ in entries]
        plan = {
            "job": journal.job,
            "started_utc": _now(),
            "names": {name: store._next_number(name) for _, name in entries},
        }
        new = journal.dir + NEW_SUFFIX
        try:
            store.fs.create_dir(journal._at(f"{store._base}/{JOBS_DIR}"), recursive=True)
            if store._atomic_rename:
                # Assembled under another name and renamed whole: a settler never sees a
                # job directory without its plan, or with its lock not yet held.
                store.fs.create_dir(journal._at(new), recursive=False)
                journal._lock = _hold(store, journal._at(f"{new}/{LOCK}"))
                store._write(journal._at(f"{new}/{PLAN}"), _json_bytes(plan))
                store.fs.move(new, journal._at(journal.dir))
            else:
                store._write(journal._at(f"{journal.dir}/{PLAN}"), _json_bytes(plan))
        except (OSError, StoreError) as err:
            path = journal._path
            with contextlib.suppress(OSError, StoreError):
                for directory in (new, journal.dir):
                    if store._exists(directory):
                        store._remove_tree(directory)
            journal.close()
            raise _failure(", ".join(journal.labels), entries[0][1], path, err) from None
        journal.plan = plan
        store._pause("job-planned", entries[0][1], 0)
        return journal

    def reserve(self, label: str, name: str, vocab: Vocabulary) -> int:
        """Take the next number of ``name`` for ``vocab``, invisibly; return it."""
        store = self.store
        published = copy.copy(vocab)
        published.name = name
        published.build = {**vocab.build, "created_utc": _now()}
        files, vocab_txt = render_files(published)
        try:
            store.fs.create_dir(self._at(store._dir(name)), recursive=True)
            if store._atomic_rename:
                version = self._reserve_by_rename(published, name, files, vocab_txt)
            else:
                version = self._reserve_in_place(published, name, files, vocab_txt)
            # Checked from the buffers just written (the manifest's sha256 are theirs):
            # the version is not read back and reparsed once revealed.
            target, where = store._dir(name, version), f"{store.root}/{name}/v{version}"
            sizes = {f"{target}/{f}": len(data) for f, data in files.items()}
            manifest = self._manifest_bytes
            check_written(store.fs, {**sizes, f"{target}/{self.marker}": len(manifest)}, where)
        except (OSError, StoreError) as err:
            raise _failure(label, name, self._path, err) from None
        self.published.append(as_published(published, manifest, where))
        self.reserved.append((name, version))
        store._pause("job-reserved", name, version)
        return version

    def reserve_staged(self, staged: StagedVersion) -> int:
        """``reserve`` for a version staged ahead (``stage_version``): its files are moved
        into the job (object stores: copied into the reserved version), not rewritten."""
        store, name = self.store, staged.name

        def manifest(version: int) -> bytes:
            record = {
                **staged.manifest,
                "version": version,
                "build": {**staged.manifest["build"], "created_utc": _now()},
            }
            self._manifest_bytes = dump_manifest(record)
            return self._manifest_bytes

        try:
            store.fs.create_dir(self._at(store._dir(name)), recursive=True)
            if store._atomic_rename:
                stage = self._at(f"{self.dir}/stage-{len(self.reserved)}")
                store.fs.move(self._at(staged.directory), stage)
                version = self._rename_into_place(stage, name, manifest)
            else:

                def put(target: str) -> None:
                    for file_name in staged.sizes:
                        source = self._at(f"{staged.directory}/{file_name}")
                        store.fs.copy_file(source, self._at(f"{target}/{file_name}"))

                version = self._claim_in_place(name, put, manifest)
            target = store._dir(name, version)
            sizes = {f"{target}/{f}": n for f, n in staged.sizes.items()}
            sizes[f"{target}/{self.marker}"] = len(self._manifest_bytes)
            check_written(store.fs, sizes, f"{store.root}/{name}/v{version}")
        except (OSError, StoreError) as err:
            raise _failure(staged.label, name, self._path, err) from None
        self.reserved.append((name, version))
        store._pause("job-reserved", name, version)
        return version

    def _manifest(self, vocab: Vocabulary, files: dict, vocab_txt: dict, version: int) -> bytes:
        vocab.version = version
        self._manifest_bytes = dump_manifest(build_manifest(vocab, files, vocab_txt))
        return self._manifest_bytes

    def _reserve_by_rename(self, vocab, name, files, vocab_txt) -> int:
        store = self.store
        stage = self._at(f"{self.dir}/stage-{len(self.reserved)}")
        store.fs.create_dir(stage, recursive=False)
        for file_name, data in files.items():
            store._write(self._at(f"{stage}/{file_name}"), data)
        return self._rename_into_place(
            stage, name, lambda version: self._manifest(vocab, files, vocab_txt, version)
        )

    def _rename_into_place(self, stage: str, name: str, manifest: Callable[[int], bytes]) -> int:
        """Rename the job's ``stage`` directory (its files, then the marker holding
        ``manifest(number)``) to the next free version of ``name``; return the number."""
        store = self.store
        for version in store._numbers(name, MAX_ATTEMPTS):
            if not store._taken(name, version):
                store._write(self._at(f"{stage}/{self.marker}"), manifest(version))
                # Fails if another publisher took the number: a version directory,
                # reserved or published, is never empty.
                if store._move_in(stage, self._at(store._dir(name, version))):
                    return version
        raise OSError(f"no free version number in {MAX_ATTEMPTS} attempts")

    def _reserve_in_place(self, vocab, name, files, vocab_txt) -> int:
        def put(target: str) -> None:
            for file_name, data in files.items():
                self.store._write(self._at(f"{target}/{file_name}"), data)

        return self._claim_in_place(
            name, put, lambda version: self._manifest(vocab, files, vocab_txt, version)
        )

    def _claim_in_place(
        self, name: str, put: Callable[[str], None], manifest: Callable[[int], bytes]
    ) -> int:
        # The claim protocol of VocabStore._publish_in_place, with the job's marker as
        # the claim: a publisher goes on only if its claim is all it sees in v<N>.
        store = self.store
        for version in store._numbers(name, MAX_ATTEMPTS):
            if not store._taken(name, version):
                target = self._at(store._dir(name, version))
                marker = f"{target}/{self.marker}"
                store.fs.create_dir(target, recursive=True)
                store._write(self._at(marker), b"")
                if [i.base_name for i in store._entries(target)] == [self.marker]:
                    put(target)
                    store._write(self._at(marker), manifest(version))
                    return version
                store._delete_file(marker)
        raise OSError(f"no free version number in {MAX_ATTEMPTS} attempts")

    def commit(self) -> list[tuple[str, int]]:
        """Decide "committed": from here on the job is visible, whatever happens."""
        try:
            decision = self._decide(
                {"state": COMMITTED, "versions": [list(v) for v in self.reserved]}
            )
        except (OSError, StoreError) as err:
            raise _failure(", ".join(self.labels), self.reserved[-1][0], self._path, err) from None
        if decision.get("state") != COMMITTED:
            raise StoreError(
                f"The job {self.job} was rolled back by another process that took it for "
                "interrupted; nothing was published. Run the job again. "
                + received(job=self.job, store=self.store.root)
            )
        self.store._pause("job-committed", *self.reserved[0])
        return [(name, int(version)) for name, version in decision["versions"]]

    def roll_back(self) -> None:
        """Undo this process's uncommitted job (best effort: a later settle finishes it)."""
        try:
            with contextlib.suppress(OSError, StoreError):
                self._abort()
        finally:
            self.close()

    def close(self) -> None:
        """Release the lock (the job's directory is gone, or left for a settler)."""
        if self._lock is not None:
            os.close(self._lock)
            self._lock = None

    # -- every side: idempotent steps --

    def reveal(self, versions: Sequence[tuple[str, int]]) -> None:
        """Make each reserved version visible (its held-back manifest becomes
        ``manifest.json``), then delete the job's directory."""
        store = self.store
        for name, version in versions:
            target = store._dir(name, version)
            marker, manifest = f"{target}/{self.marker}", f"{target}/{MANIFEST}"
            try:
                if store._atomic_rename:
                    store.fs.move(marker, manifest)
                else:
                    if not store._exists(manifest):
                        store.fs.copy_file(marker, manifest)
                    store._delete_file(marker)
            except (OSError, StoreError):
                if not store._exists(manifest):
                    raise
            store._pause("job-revealed", name, version)
        self._remove_dir()

    def settle(self, plan: dict) -> None:
        """A reader's part: finish a committed job; roll back one whose publisher died."""
        decision = self._read(DECISION)
        if decision is None:
            if self.store._atomic_rename:
                try:
                    if _held(self.store, f"{self.dir}/{LOCK}"):
                        return  # a live publisher: it commits or rolls back itself
                except (OSError, StoreError):
                    return
                # Its lock is free: the publisher died (it holds the lock until its
                # job's directory is gone), so it can no longer commit.
            elif not self._stale():
                return
        self.plan = plan
        try:
            if (self._read(DECISION) or {}).get("state") == COMMITTED:
                self._abort()  # reveals a committed job
            else:
                # Nothing of it is visible either way.
                with contextlib.suppress(OSError, StoreError):
                    self._abort()
        except (OSError, StoreError) as err:
            raise StoreError(
                f"A job publishing {', '.join(plan.get('names', {}))} together committed, but "
                f"was interrupted before its versions were visible, and finishing it failed: "
                f"{_reason(err)}. Rerun with write access to {self.store.root}. "
                + received(job=self.dir),
                cases=[self.dir],
            ) from None
        finally:
            self.close()

    def _abort(self) -> None:
        """Roll back an uncommitted job (its publisher is this process or dead): delete its
        reservations and its directory. A committed one is revealed instead.

        On a local disk the publisher is this process or dead (its lock is free), so it
        cannot commit meanwhile and no decision needs writing (a full disk cannot stop a
        roll back).
        """
        decision = self._read(DECISION)
        if decision is None and not self.store._atomic_rename:
            decision = self._decide({"state": ABORTED})
        if (decision or {}).get("state") == COMMITTED:
            self.reveal([(name, int(version)) for name, version in decision["versions"]])
            return
        self._remove_reservations()
        self._remove_dir()

    def _decide(self, record: dict) -> dict:
        """Record the decision unless one exists; return the one in force."""
        store = self.store
        path = self._at(f"{self.dir}/{DECISION}")
        data = _json_bytes({"job": self.job, "decided_utc": _now(), **record})
        if store._atomic_rename:
            # Only the live publisher decides on a local disk (to commit, holding its
            # lock); a temp file renamed into place, so it is whole or absent.
            store._write_atomic(path, data)
            return record
        # Object stores: no exclusive create; an abort only follows a publisher silent
        # for STALE_SECONDS by the store's clock, so both sides never write at once.
        existing = self._read(DECISION)
        if existing is not None:
            return existing
        store._write(path, data)
        return record

    def _remove_reservations(self) -> None:
        """Delete this job's reserved, never visible versions."""
        store = self.store
        for name, first in self.plan.get("names", {}).items():
            try:
                numbers = range(int(first), store._next_number(name))
            except (FileNotFoundError, NotADirectoryError):
                continue  # not a directory (the job failed there): nothing reserved in it
            for number in numbers:
                target = store._dir(name, number)
                marker = f"{target}/{self.marker}"
                if not store._exists(marker) or store._exists(f"{target}/{MANIFEST}"):
                    continue
                # The marker last: while it is there, the directory is this job's. The
                # empty directory stays, so its number is never reused (deleting it
                # could race with a publisher renaming a version onto it).
                for file_name in (TOKENS, VOCAB_TXT):
                    store._delete_file(f"{target}/{file_name}")
                store._delete_file(marker)

    def _remove_dir(self) -> None:
        if self.store._exists(self.dir):
            self.store._remove_tree(self.dir)

    def _read(self, file_name: str) -> dict | None:
        path = f"{self.dir}/{file_name}"
        try:
            record = json.loads(read_file(self.store.fs, path))
        except (FileNotFoundError, NotADirectoryError):
            return None
        except (OSError, ValueError, VocabguardError):
            return {}
        return record if isinstance(record, dict) else {}

    def _stale(self) -> bool:
        """Object stores: whether the plan is ``STALE_SECONDS`` old by the store's clock."""
        try:
            written = self.store._mtime(f"{self.dir}/{PLAN}")
            now = self.store._server_now(f"{self.store._base}/{JOBS_DIR}")
        except (OSError, StoreError):
            return False  # e.g. a reader without write access: leave the job alone
        if written is None or now is None:
            return False
        return (now - written).total_seconds() > STALE_SECONDS

    def _at(self, path: str) -> str:
        """``path``, remembered for the error if what follows fails."""
        self._path = path
        return path


def _hold(store: Store, path: str) -> int:
    """Write the lock file ``path`` and hold its flock (released by close or death)."""
    store._write(path, b"")
    handler = getattr(store.fs, "handler", None)
    if hasattr(handler, "hold"):
        return handler.hold(path)  # rooted_dir: opened without following any link

    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)  # a plain LocalFileSystem
    fcntl.flock(fd, fcntl.LOCK_EX)
    return fd


def _held(store: Store, path: str) -> bool:
    """Whether a live process holds the lock file ``path`` (False if it is gone)."""
    handler = getattr(store.fs, "handler", None)
    if hasattr(handler, "is_held"):
        return handler.is_held(path)

    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        return False
    return lock_held(fd)
