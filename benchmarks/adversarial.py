"""Adversarial run of issue 11 against the store, the readers and the encoders.

Not part of the test suite (it takes a few minutes); every check here is also
pinned by a fast test. Prints one line per attack with its counts, and exits 1 if
anything was missed.

    PYTHONPATH=. TF_CPP_MIN_LOG_LEVEL=3 python benchmarks/adversarial.py [--quick]

Attacks:
  corruptions  every single-byte change (xor 0xFF) of every byte of a version's three
               files, through VocabStore.verify; plus random bit flips through the
               `vocabguard verify` CLI (in-process main()); each must fail naming the file.
  forgeries    re-signed manifests: files-map entries outside the store (../, /dev/zero,
               absolute), derived fields edited, vocab.txt lines swapped, a version copied
               into another's directory, symlinks (name, version, file), extra files.
  kills        SIGKILL at a random moment of a publishing process; afterwards every
               listed version must verify and no staging or half version be visible.
  concurrency  publishers of different content beside gc, pin and readers (processes):
               every publish gets its own number, none lost; identical content: one version.
  names        hostile names and references rejected with InvalidNameError, never OSError.
  ids          random strings over many specs, extreme integers: every id in [0, input_dim);
               guard_ids catches every out-of-range id.
  store links  a link to an outside directory at each housekeeping path (.pins, .gc,
               staging, a tombstone, a claimed version, a name) under every store
               operation; then `store/NAME` exchanged with such a link
               (renameat2 RENAME_EXCHANGE, by a separate process) while threads publish,
               pin, unpin and gc: nothing outside changes, every publish that returned is
               in the store.
  full disks   gc, pin and publish on a full disk (a small tmpfs when this process may
               mount one, else an injected ENOSPC): each fails naming a path and leaves
               no temp file, staging directory or gc intent; a pin right after works.
  hostile files a FIFO as each version file, a 3 GiB sparse manifest, an unreadable
               version directory (EACCES injected: root reads everything), a store
               root that does not exist: `list`/`verify` finish, the bad version alone
               is reported.
  jobs         SIGKILL at a random moment of a process publishing two-vocabulary jobs;
               ENOSPC at each write of a job and on small tmpfs disks: both versions or
               neither are visible, and the next listing leaves no journal.
  clocks       on a loopback S3 server, a publisher whose clock runs 120 s ahead and a
               pinner 2 h ahead racing a gc: one version, and no pin lost.
  inputs       small hostile inputs (YAML alias bombs, --num-oov-buckets 3e9, capacity 1e20,
               a 4 MB .gz holding one 4 GiB line, JSON nested 1e5 deep, integers past int64,
               non-UTF-8 Parquet strings, a record of 1e6 keys): one-line errors or counted
               bad records, each in its own process; time to the error and peak RSS.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from unittest import mock

import numpy as np

from vocabguard import VocabSpec, VocabStore, build_vocabulary
from vocabguard._src.core.artifact import MANIFEST, TOKENS, VOCAB_TXT, dump_manifest
from vocabguard._src.core.guard import guard_ids
from vocabguard.cli import main as cli_main
from vocabguard.errors import (
    ArtifactError,
    IdRangeError,
    InvalidNameError,
    StoreError,
)

FILES = (MANIFEST, TOKENS, VOCAB_TXT)
CORPUS = ["the cat sat on the mat", "a dog and a cat", "zebra crossing at noon"]
results: list[tuple[str, bool, str]] = []


def report(name: str, ok: bool, detail: str) -> None:
    results.append((name, ok, detail))
    print(f"{'ok  ' if ok else 'FAIL'} {name}: {detail}", flush=True)


def fresh_version(root: Path) -> Path:
    store = VocabStore(root)
    store.publish(build_vocabulary(CORPUS, VocabSpec(), progress=False), "news")
    return root / "news" / "v1"


# -- corruptions --


def corruptions(work: Path, flips: int) -> None:
    root = work / "corrupt"
    version = fresh_version(root)
    pristine = {name: (version / name).read_bytes() for name in FILES}
    store = VocabStore(root)
    tried = caught = 0
    missed = []
    for name in FILES:
        data = pristine[name]
        for position in range(len(data)):
            changed = bytearray(data)
            changed[position] ^= 0xFF
            (version / name).write_bytes(bytes(changed))
            tried += 1
            try:
                store.verify("news@v1")
                missed.append((name, position))
            except ArtifactError as err:
                if name in str(err):
                    caught += 1
                else:
                    missed.append((name, position, str(err)[:80]))
        (version / name).write_bytes(data)
    report(
        "single-byte corruptions (verify)",
        not missed,
        f"{caught}/{tried} detected naming the file; missed {missed[:3]}",
    )
    rng = random.Random(11)
    caught = 0
    for _ in range(flips):
        name = rng.choice(FILES)
        data = bytearray(pristine[name])
        bit = rng.randrange(len(data) * 8)
        data[bit // 8] ^= 1 << (bit % 8)
        (version / name).write_bytes(bytes(data))
        err = io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            code = cli_main(["verify", "news@v1", "--store", str(root)])
        if code != 0 and name in err.getvalue() and "Traceback" not in err.getvalue():
            caught += 1
        (version / name).write_bytes(pristine[name])
    report("random bit flips (vocabguard verify)", caught == flips, f"{caught}/{flips} detected")


# -- forgeries --


def forge(version: Path, change) -> None:
    manifest = json.loads((version / MANIFEST).read_bytes())
    change(manifest)
    (version / MANIFEST).write_bytes(dump_manifest(manifest))


def entry(path: Path) -> dict:
    import hashlib

    data = path.read_bytes()
    return {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}


def forgeries(work: Path) -> None:
    victim = work / "victim.txt"
    victim.write_text("outside the store\n")
    attacks = {
        "files entry ../../../victim": lambda v: forge(
            v, lambda m: m["files"].update({"../../../victim.txt": entry(victim)})
        ),
        "files entry absolute path": lambda v: forge(
            v, lambda m: m["files"].update({str(victim): entry(victim)})
        ),
        "files entry /dev/zero": lambda v: forge(
            v, lambda m: m["files"].update({"/dev/zero": {"sha256": "0" * 64, "bytes": 1}})
        ),
        "files map without vocab.txt": lambda v: forge(v, lambda m: m["files"].pop(VOCAB_TXT)),
        "layout.num_learned edited": lambda v: forge(
            v, lambda m: m["layout"].update(num_learned=12345)
        ),
        "oov_ids edited": lambda v: forge(v, lambda m: m.update(oov_ids=[1, 9])),
        "pad_id edited": lambda v: forge(v, lambda m: m.update(pad_id=4)),
        "contract edited": lambda v: forge(v, lambda m: m["contract"].update(lowercase=True)),
        "input_dim edited": lambda v: forge(v, lambda m: m.update(input_dim=99)),
        "vocab.txt lines swapped, sha recomputed": swap_lines,
        "extra file in the version": lambda v: (v / "notes.md").write_text("x"),
        "tokens.parquet is a symlink": lambda v: link_file(v, TOKENS, work),
        "manifest.json is a symlink": lambda v: link_file(v, MANIFEST, work),
        "version dir copied from another name": copy_other,
        "version dir is a symlink": link_version,
    }
    caught = 0
    for name, attack in attacks.items():
        root = work / f"forge-{len(results)}-{caught}-{abs(hash(name))}"
        version = fresh_version(root)
        attack(version)
        store = VocabStore(root)
        try:
            store.verify("news@v1")
            report(f"forgery: {name}", False, "verify passed")
            continue
        except (ArtifactError, StoreError) as err:
            message = str(err)
        if victim.exists():
            caught += 1
        else:
            report(f"forgery: {name}", False, "the victim file was deleted")
            continue
        # gc must not delete anything outside the store either.
        try:
            store.publish(build_vocabulary(["other words"], VocabSpec(), progress=False), "news")
            store.gc("news", keep=1)
        except (ArtifactError, StoreError):
            pass
        if not victim.exists():
            report(f"forgery: {name}", False, "gc deleted the victim file")
            caught -= 1
        shutil.rmtree(root, ignore_errors=True)
        del message
    report(
        "forged manifests, copies, links, extra files",
        caught == len(attacks),
        (f"{caught}/{len(attacks)} refused by verify, no file outside the store touched"),
    )
    # Publishing through a linked name writes nothing outside.
    root = work / "linked-name"
    VocabStore(root).publish(build_vocabulary(["x"], VocabSpec(), progress=False), "ok")
    outside = work / "outside"
    outside.mkdir()
    (root / "evil").symlink_to(outside, target_is_directory=True)
    try:
        VocabStore(root).publish(build_vocabulary(["y"], VocabSpec(), progress=False), "evil")
        ok = False
    except StoreError:
        ok = not os.listdir(outside)
    report("publish through a symlinked name", ok, "refused, nothing written outside")


def swap_lines(version: Path) -> None:
    lines = (version / VOCAB_TXT).read_bytes().split(b"\n")
    lines[0], lines[1] = lines[1], lines[0]
    (version / VOCAB_TXT).write_bytes(b"\n".join(lines))
    forge(version, lambda m: m["files"].update({VOCAB_TXT: entry(version / VOCAB_TXT)}))


def link_file(version: Path, name: str, work: Path) -> None:
    target = work / f"moved-{name}-{time.monotonic_ns()}"
    os.replace(version / name, target)
    (version / name).symlink_to(target)


def copy_other(version: Path) -> None:
    root = version.parent.parent
    VocabStore(root).publish(build_vocabulary(["other"], VocabSpec(), progress=False), "other")
    shutil.rmtree(version)
    shutil.copytree(root / "other" / "v1", version)


def link_version(version: Path) -> None:
    elsewhere = version.parent.parent.parent / f"elsewhere-{time.monotonic_ns()}"
    shutil.move(version, elsewhere)
    version.symlink_to(elsewhere, target_is_directory=True)


# -- kills --

PUBLISH_LOOP = textwrap.dedent(
    """
    import os, sys
    from vocabguard import VocabSpec, VocabStore, build_vocabulary
    root, seed = sys.argv[1], int(sys.argv[2])
    store = VocabStore(root)
    open(os.path.join(root, f"ready-{seed}"), "w").close()
    for i in range(1000):
        texts = [f"seed{seed} round{i} " + " ".join(f"w{j}" for j in range(i % 50))]
        store.publish(build_vocabulary(texts, VocabSpec(), progress=False), "news")
    """
)


def kills(work: Path, count: int) -> None:
    root = work / "kills"
    root.mkdir()
    rng = random.Random(7)
    store = VocabStore(root)
    bad = []
    for kill in range(count):
        proc = subprocess.Popen([sys.executable, "-c", PUBLISH_LOOP, str(root), str(kill)])
        while not (root / f"ready-{kill}").exists() and proc.poll() is None:
            time.sleep(0.01)
        time.sleep(rng.uniform(0.0, 0.5))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        for version in store.versions("news"):
            try:
                store.verify(f"news@v{version}")
            except Exception as err:
                bad.append((kill, version, str(err)[:80]))
    report(
        "SIGKILL during publishes",
        not bad,
        f"{count} kills, {len(store.versions('news'))} visible versions, all verify; bad {bad[:3]}",
    )


# -- concurrency --

WORKER = textwrap.dedent(
    """
    import json, os, sys, time, traceback
    from vocabguard import VocabSpec, VocabStore, build_vocabulary
    root, role, worker, rounds, signals = sys.argv[1:6]
    store = VocabStore(root)
    open(os.path.join(signals, f"ready-{role}-{worker}"), "w").close()
    while not os.path.exists(os.path.join(signals, "go")):
        time.sleep(0.005)
    out, errors = [], []
    if role == "publisher" or role == "twin":
        for i in range(int(rounds)):
            text = "identical words" if role == "twin" else f"w{worker} r{i} unique"
            v = store.publish(build_vocabulary([text], VocabSpec(), progress=False), "news")
            out.append([v.ref, v.fingerprint, v.newly_published])
    else:
        while not os.path.exists(os.path.join(signals, "stop")):
            try:
                if role == "reader":
                    v = store.load("news@latest")
                    assert v.fingerprint == v.manifest["fingerprint"]
                elif role == "gc":
                    store.gc("news", keep=2)
                elif role == "pin":
                    versions = store.versions("news")
                    if versions:
                        store.pin(f"news@v{versions[len(versions) // 2]}", reason="adv")
            except Exception as err:
                if role != "pin" or "being deleted by a concurrent" not in str(err):
                    if "has no version" not in str(err) and "No published" not in str(err):
                        errors.append(traceback.format_exc()[-300:])
    print(json.dumps({"out": out, "errors": errors}))
    """
)


def run_workers(work: Path, name: str, roles: list[tuple[str, int]], rounds: int) -> list:
    root, signals = work / name, work / f"{name}-signals"
    signals.mkdir(parents=True)
    procs = []
    for role, count in roles:
        for worker in range(count):
            procs.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        "-c",
                        WORKER,
                        str(root),
                        role,
                        str(worker),
                        str(rounds),
                        str(signals),
                    ],
                    stdout=subprocess.PIPE,
                    text=True,
                )
            )
    while len(list(signals.glob("ready-*"))) < len(procs):
        time.sleep(0.05)
    (signals / "go").touch()
    outputs = []
    publishers = [
        p
        for p, role in zip(procs, [r for r, n in roles for _ in range(n)])
        if role in ("publisher", "twin")
    ]
    for proc in publishers:
        outputs.append(json.loads(proc.communicate()[0]))
    (signals / "stop").touch()
    others = [json.loads(p.communicate()[0]) for p in procs if p not in publishers]
    return outputs, others, VocabStore(root)


def concurrency(work: Path, processes: int, rounds: int) -> None:
    outputs, others, store = run_workers(
        work, "conc", [("publisher", processes), ("gc", 1), ("pin", 1), ("reader", 2)], rounds
    )
    refs = [ref for o in outputs for ref, _, _ in o["out"]]
    errors = [e for o in others for e in o["errors"]]
    lost = []
    for o in outputs:
        for ref, fingerprint, _ in o["out"]:
            name, version = ref.split("@")[0], int(ref.split("@v")[1])
            if version in store.versions(name):
                if store.verify(ref)["fingerprint"] != fingerprint:
                    lost.append(ref)
            else:
                tomb = json.loads(
                    (work / "conc" / "news" / f"v{version}" / "deleted.json").read_text()
                )
                if tomb["fingerprint"] != fingerprint:
                    lost.append(ref)
    report(
        "concurrent publishes beside gc, pin, readers",
        len(set(refs)) == len(refs) == processes * rounds and not lost and not errors,
        f"{len(refs)} publishes, {len(set(refs))} distinct versions, {len(lost)} lost, "
        f"{len(errors)} reader/gc/pin errors",
    )
    outputs, _, store = run_workers(work, "twins", [("twin", processes)], 1)
    refs = {o["out"][0][0] for o in outputs}
    new = sum(o["out"][0][2] for o in outputs)
    report(
        "identical concurrent publishes",
        len(refs) == 1 and new == 1 and len(store.versions("news")) == 1,
        f"{processes} processes: {len(refs)} version(s), {new} newly published",
    )


# -- store links, full disks, hostile files --


def tree(directory: Path) -> dict[str, str]:
    """Every entry below ``directory`` (links not followed): path -> kind or content."""
    found = {}
    for base, dirs, files in os.walk(directory):
        for entry_name in dirs + files:
            path = Path(base) / entry_name
            kind = "link" if path.is_symlink() else "dir" if path.is_dir() else path.read_bytes()
            found[str(path.relative_to(directory))] = str(kind)
    return found


def outside_dir(work: Path, name: str) -> Path:
    """A directory outside the store shaped like a name's, to tempt writes and deletes."""
    outside = work / name
    (outside / "v1").mkdir(parents=True)
    (outside / "v1.json").write_text("{}")
    (outside / "v1" / MANIFEST).write_text("not the store's")
    return outside


def store_operations(store: VocabStore, name: str) -> dict:
    vocab = build_vocabulary([f"new words {time.monotonic_ns()}"], VocabSpec(), progress=False)
    return {
        "publish": lambda: store.publish(vocab, name),
        "pin": lambda: store.pin(f"{name}@v1"),
        "unpin": lambda: store.unpin(f"{name}@v1"),
        "pins": lambda: store.pins(name),
        "gc": lambda: store.gc(name, keep=1),
        "load": lambda: store.load(f"{name}@v1"),
        "verify": lambda: store.verify(f"{name}@latest"),
        "list": store.names,
    }


def housekeeping_links(work: Path) -> None:
    places = {
        ".pins": "news/.pins",
        ".gc": "news/.gc",
        "staging": "news/.staging-old",
        "tombstone": "news/v1/deleted.json",
        "claimed version": "news/v4",
        "name": "evil",
    }
    refused = ran = changed = others = 0
    for label, place in places.items():
        root = work / f"links-{label.replace(' ', '-')}"
        outside = outside_dir(work, f"outside-{label.replace(' ', '-')}")
        store = VocabStore(root)
        for i in range(3):
            store.publish(build_vocabulary([f"t{i} words"], VocabSpec(), progress=False), "news")
        if label == "tombstone":
            store.gc("news", keep=1)
            (root / place).unlink()
        if label == "claimed version":
            store._atomic_rename = False  # the object-store protocol, claims in v<N>
        (root / place).symlink_to(outside, target_is_directory=True)
        before = tree(outside)
        name = "evil" if label == "name" else "news"
        for operation in store_operations(store, name).values():
            ran += 1
            try:
                operation()
            except StoreError as err:
                refused += "is a symbolic link" in str(err)
            except Exception:
                others += 1
        changed += tree(outside) != before
    report(
        "links under housekeeping paths",
        changed == 0 and others == 0 and refused > 0,
        f"{len(places)} places x 8 operations: {ran} ran, {refused} refused naming the "
        f"link, {others} other errors, {changed} outside directories changed",
    )


EXCHANGER = textwrap.dedent(
    """
    import ctypes, os, sys
    a, b, stop = (p.encode() for p in sys.argv[1:4])
    libc = ctypes.CDLL(None, use_errno=True)
    count = 0
    while not os.path.exists(stop):
        if libc.renameat2(-100, a, -100, b, 2) != 0:  # RENAME_EXCHANGE
            raise OSError(ctypes.get_errno(), "renameat2")
        count += 1
    if count % 2:
        libc.renameat2(-100, a, -100, b, 2)  # put the real directory back
        count += 1
    print(count)
    """
)


def link_swaps(work: Path, seconds: float) -> None:
    import threading

    root = work / "swap-store"
    outside = outside_dir(work, "swap-outside")
    store = VocabStore(root)
    store.publish(build_vocabulary(["first words"], VocabSpec(), progress=False), "news")
    swap = root / ".swap"
    swap.symlink_to(outside, target_is_directory=True)
    before, stop = tree(outside), work / "swap-stop"
    attacker = subprocess.Popen(
        [sys.executable, "-c", EXCHANGER, str(root / "news"), str(swap), str(stop)],
        stdout=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + seconds
    successes, refused, unexpected = [], [0], []

    def publisher(worker: int) -> None:
        i = 0
        while time.monotonic() < deadline:
            text = f"worker {worker} round {i} words"
            vocab = build_vocabulary([text], VocabSpec(), progress=False)
            i += 1
            try:
                successes.append((store.publish(vocab, "news").ref, vocab.fingerprint))
            except StoreError:
                refused[0] += 1
            except Exception as err:
                unexpected.append(repr(err))

    def housekeeper() -> None:
        while time.monotonic() < deadline:
            for operation in ("pin", "gc", "unpin"):
                try:
                    store_operations(store, "news")[operation]()
                except StoreError:
                    refused[0] += 1
                except Exception as err:
                    unexpected.append(repr(err))

    threads = [threading.Thread(target=publisher, args=(w,)) for w in range(2)]
    threads.append(threading.Thread(target=housekeeper))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stop.touch()
    exchanges = int(attacker.communicate()[0] or 0)
    swap.unlink()
    missing = 0
    for ref, fingerprint in successes:
        directory = root / "news" / f"v{ref.rsplit('@v', 1)[1]}"
        if (directory / "deleted.json").exists():
            missing += json.loads((directory / "deleted.json").read_text())["fingerprint"] != (
                fingerprint
            )
        else:
            try:
                missing += store.load(ref).fingerprint != fingerprint
            except Exception:
                missing += 1
    changed = tree(outside) != before
    report(
        "name exchanged with a link during publishes, pins, gc",
        not changed and not missing and not unexpected,
        f"{exchanges} exchanges in {seconds:.0f} s; {len(successes)} publishes succeeded, "
        f"{len(successes) - missing} in the store; {refused[0]} operations refused; "
        f"outside changed: {changed}; other errors: {len(unexpected)} {unexpected[:2]}",
    )


@contextlib.contextmanager
def full_disk(work: Path):
    """A tmpfs of 512 KiB (None where it cannot be mounted); unmounted at exit."""
    disk = work / "disk"
    disk.mkdir()
    mounted = (
        os.geteuid() == 0
        and subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", str(disk)], capture_output=True
        ).returncode
        == 0
    )
    try:
        yield disk if mounted else None
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(disk)], capture_output=True)


def injected_enospc(fragment: str) -> contextlib.AbstractContextManager:
    real = os.write

    def write(fd, data):
        with contextlib.suppress(OSError):
            if fragment in os.readlink(f"/proc/self/fd/{fd}"):
                raise OSError(28, os.strerror(28))
        return real(fd, data)

    return mock.patch.object(os, "write", write)


def debris_in(root: Path) -> list[str]:
    return [
        str(p.relative_to(root))
        for p in root.rglob("*")
        if ".tmp-" in p.name or p.name.startswith(".staging-") or p.parent.name == ".gc"
    ]


def full_disks(work: Path) -> None:
    with full_disk(work) as disk:
        root = (disk or work / "disk") / "store"
        store = VocabStore(root)
        for i in range(3):
            store.publish(build_vocabulary([f"t{i} words"], VocabSpec(), progress=False), "news")
        filler = None
        if disk:
            filler = disk / "filler"
            with open(filler, "wb", buffering=0) as f, contextlib.suppress(OSError):
                while True:
                    f.write(b"x" * 1024)
        named = left = 0
        with contextlib.nullcontext() if disk else injected_enospc(str(root)):
            for operation in ("gc", "pin", "publish"):
                try:
                    store_operations(store, "news")[operation]()
                except StoreError as err:
                    named += str(err).startswith(f"Cannot write {root}/news/") and (
                        "no space left on device" in str(err)
                    )
                left += len(debris_in(root))
            verified = sum(store.verify(f"news@v{v}")["version"] == v for v in (1, 2, 3))
        if filler:
            filler.unlink()
        pinned = store.pin("news@v1") == "news@v1"
    how = "a full 512 KiB tmpfs" if disk else "injected ENOSPC (no tmpfs mount here)"
    report(
        "full disk: gc, pin, publish",
        named == 3 and left == 0 and verified == 3 and pinned,
        f"{how}: 3 operations failed, {named} naming the path and the cause; {left} temp "
        f"files, staging dirs or gc intents left; {verified}/3 versions verify; pin after: "
        f"{'works' if pinned else 'blocked'}",
    )


CLI = "import sys; from vocabguard.cli import main; sys.exit(main(sys.argv[1:]))"


def hostile_files(work: Path) -> None:
    import resource

    slow, fifo_ok = [], 0
    for file_name in FILES:
        root = work / f"fifo-{file_name}"
        store = VocabStore(root)
        for i in range(3):
            store.publish(build_vocabulary([f"t{i} words"], VocabSpec(), progress=False), "news")
        (root / "news" / "v1" / file_name).unlink()
        os.mkfifo(root / "news" / "v1" / file_name)
        started = time.monotonic()
        result = subprocess.run(
            [sys.executable, "-c", CLI, "list", "--verify", "--store", str(root)],
            capture_output=True,
            text=True,
            timeout=120,
        )
        slow.append(time.monotonic() - started)
        lines = result.stdout.splitlines()
        fifo_ok += (
            result.returncode == 1
            and "FAILED VERIFICATION" in lines[0]
            and len(lines) == 3
            and "is a FIFO (named pipe)" in result.stderr
        )
    report(
        "FIFO as a version file",
        fifo_ok == len(FILES),
        f"{fifo_ok}/{len(FILES)} files: `list --verify` ended in at most {max(slow):.1f} s, "
        "the FIFO version reported, the 2 others verified",
    )
    root = work / "sparse"
    store = VocabStore(root)
    for i in range(2):
        store.publish(build_vocabulary([f"t{i} words"], VocabSpec(), progress=False), "news")
    with open(root / "news" / "v1" / MANIFEST, "r+b") as f:
        f.truncate(3 << 30)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.monotonic()
    try:
        store.verify("news@v1")
        refused = False
    except ArtifactError as err:
        refused = "is larger than 16,777,216 bytes" in str(err)
    seconds = time.monotonic() - started
    grown = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak) / 1024
    latest = store.verify("news@latest")["version"] == 2
    report(
        "3 GiB sparse manifest.json",
        refused and grown < 1024 and latest,
        f"refused at the 16 MiB limit in {seconds:.2f} s, peak memory +{grown:.0f} MiB; "
        f"news@latest verifies: {latest}",
    )
    real_open = os.open

    def refuse_v1(path, flags, *args, **kwargs):
        if path == "v1" and flags & os.O_DIRECTORY:
            raise PermissionError(13, os.strerror(13), path)
        return real_open(path, flags, *args, **kwargs)

    root = work / "unreadable"
    store = VocabStore(root)
    for i in range(3):
        store.publish(build_vocabulary([f"t{i} words"], VocabSpec(), progress=False), "news")
    out = io.StringIO()
    with (
        mock.patch.object(os, "open", refuse_v1),
        contextlib.redirect_stdout(out),
        contextlib.redirect_stderr(io.StringIO()) as err,
    ):
        listed = cli_main(["list", "--store", str(root)])
        latest = cli_main(["verify", "news@latest", "--store", str(root)])
    lines = out.getvalue().splitlines()
    ok = (
        listed == 1
        and latest == 0
        and lines[0].split() == ["news@v1", "UNREADABLE"]
        and "permission denied" in err.getvalue()
        and "missing" not in err.getvalue()
    )
    report(
        "unreadable old version",
        ok,
        f"`list`: {sum('UNREADABLE' in line for line in lines)} of 3 versions reported "
        f"unreadable ('permission denied'), exit {listed}; `verify news@latest`: exit {latest}",
    )
    missing = work / "no-such-store"
    codes = []
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        for argv in (
            ["list"],
            ["verify", "news"],
            ["inspect", "news"],
            ["gc", "news", "--keep", "1"],
        ):
            codes.append(cli_main([*argv, "--store", str(missing)]))
    report(
        "store root that does not exist",
        codes == [1] * len(codes) and not missing.exists(),
        f"list, verify, inspect, gc: exit {codes}; root created: {missing.exists()}",
    )


# -- jobs: several vocabularies, all or nothing --

JOB_LOOP = textwrap.dedent(
    """
    import os, sys
    from vocabguard import VocabSpec, VocabStore, build_vocabulary
    from vocabguard._src.core.journal import publish_together
    root, seed = sys.argv[1], int(sys.argv[2])
    store = VocabStore(root)
    open(os.path.join(root, f"ready-{seed}"), "w").close()
    for i in range(1000):
        def vocab(kind):
            text = f"{kind}{seed}x{i} " + " ".join(f"w{j}" for j in range(i % 40))
            return build_vocabulary([text], VocabSpec(), progress=False)
        publish_together(store, [("topic", "topic", vocab("t")), ("text", "text", vocab("x"))])
    """
)


def _job_tags(store: VocabStore, name: str) -> list[str]:
    """Each version's job tag (its one token starting with the kind letter)."""
    return [
        next(t for t in store.load(f"{name}@v{v}").tokens if re.match(r"[tx]\d+x\d+$", t))[1:]
        for v in store.versions(name)
    ]


def _settled(root: Path) -> bool:
    jobs = root / ".jobs"
    return not jobs.exists() or not [p for p in jobs.iterdir() if not p.name.endswith(".new")]


def job_kills(work: Path, count: int) -> None:
    """SIGKILL a process publishing two-vocabulary jobs at a random moment; afterwards
    both names list the same jobs (pairwise), every version verifies, no journal stays."""
    root = work / "job-kills"
    root.mkdir()
    rng = random.Random(11)
    bad = []
    for kill in range(count):
        proc = subprocess.Popen([sys.executable, "-c", JOB_LOOP, str(root), str(kill)])
        while not (root / f"ready-{kill}").exists() and proc.poll() is None:
            time.sleep(0.01)
        time.sleep(rng.uniform(0.0, 1.0))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        store = VocabStore(root)
        try:
            topics, texts = _job_tags(store, "topic"), _job_tags(store, "text")
            for name in ("topic", "text"):
                for version in store.versions(name):
                    store.verify(f"{name}@v{version}")
            if topics != texts or not _settled(root):
                bad.append((kill, len(topics), len(texts)))
        except Exception as err:
            bad.append((kill, str(err)[:80]))
    store = VocabStore(root)
    report(
        "SIGKILL during two-vocabulary jobs",
        not bad,
        f"{count} kills, {len(store.versions('topic'))} jobs visible, topic and text paired, "
        f"all verify, no journal left; bad {bad[:3]}",
    )


def job_no_space(work: Path) -> None:
    """ENOSPC on the second feature: injected at each write, and a real small tmpfs."""
    import errno

    from vocabguard._src.core.journal import publish_together

    def entries(tag: str, words: int):
        return [
            ("topic", "topic", build_vocabulary([f"t{tag}"], VocabSpec(), progress=False)),
            (
                "text",
                "text",
                build_vocabulary(
                    [" ".join(f"{tag}w{j}" for j in range(words))], VocabSpec(), progress=False
                ),
            ),
        ]

    tried = held = 0
    failing = 0
    while True:
        failing += 1
        root = work / f"enospc-{failing}"
        store = VocabStore(root)
        publish_together(store, entries("old", 5))
        original, calls = store._write, [0]

        def write(path, data, original=original, calls=calls, failing=failing):
            calls[0] += 1
            if calls[0] == failing:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), path)
            original(path, data)

        store._write = write
        try:
            publish_together(store, entries("new", 5))
        except StoreError as err:
            tried += 1
            fresh = VocabStore(root)
            ok = (
                [fresh.versions("topic"), fresh.versions("text")] == [[1], [1]]
                and "no space left on device" in str(err).lower()
                and "path='" in str(err)
                and _settled(root)
            )
            held += ok
            continue
        break
    report(
        "ENOSPC at each write of a two-vocabulary job",
        held == tried and tried > 0,
        f"{tried} writes failed in turn: {held} left the previous versions only, named the "
        "path and left no journal",
    )
    sizes = [64, 128, 256, 512, 1024]
    outcomes = []
    for size in sizes:
        disk = work / f"tmpfs-{size}"
        disk.mkdir()
        mount = ["mount", "-t", "tmpfs", "-o", f"size={size}k", "tmpfs", str(disk)]
        if subprocess.run(mount, capture_output=True, check=False).returncode != 0:
            outcomes.append("no mount permission")
            break
        try:
            store = VocabStore(disk / "store")
            try:
                publish_together(store, entries("big", 30_000))
                outcome = "published"
            except StoreError as err:
                outcome = "refused" if "no space left" in str(err).lower() else f"other: {err}"[:60]
            fresh = VocabStore(disk / "store")
            visible = [fresh.versions("topic"), fresh.versions("text")]
            ok = visible in ([[1], [1]], [[], []]) and _settled(disk / "store")
            outcomes.append(f"{size}k {outcome} {'ok' if ok else f'BAD {visible}'}")
        finally:
            subprocess.run(["umount", str(disk)], check=False)
    report(
        "full tmpfs under a two-vocabulary job",
        all(o.endswith(" ok") or o == "no mount permission" for o in outcomes),
        "; ".join(outcomes),
    )


def skewed_clocks(work: Path, rounds: int) -> None:
    """Clients whose clock runs ahead of a loopback S3 server (moto): twins and pins."""
    import datetime
    import socket
    import threading
    import uuid

    import pyarrow.fs as pafs

    import vocabguard._src.core.store_records as store_module

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    real_clock = store_module._clock
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    report("skewed clocks", False, "the moto server did not start")
                    return

        def fs():
            return pafs.S3FileSystem(
                endpoint_override=f"127.0.0.1:{port}",
                scheme="http",
                access_key="testing",
                secret_key="testing",
                region="us-east-1",
                allow_bucket_creation=True,
            )

        def stores(count):
            bucket = f"adv-{uuid.uuid4().hex[:12]}"
            fs().create_dir(bucket)
            return [VocabStore(f"{bucket}/vocab", filesystem=fs()) for _ in range(count)]

        def skew(seconds):
            ahead = datetime.timedelta(seconds=seconds)
            store_module._clock = lambda: real_clock() + ahead

        twins = pins = 0
        for i in range(rounds):
            skew(0)
            a, b = stores(2)
            vocab = build_vocabulary([f"same {i}"], VocabSpec(), progress=False)
            claimed, resume, done = threading.Event(), threading.Event(), threading.Event()

            def a_hook(point, _n, _v, claimed=claimed, resume=resume):
                if point == "claimed":
                    claimed.set()
                    resume.wait(60)

            a._hook = a_hook
            b._hook = lambda point, _n, _v, done=done: done.set() if point == "twin" else None
            out = {}
            ta = threading.Thread(
                target=lambda a=a, v=vocab, out=out: out.update(a=a.publish(v, "news"))
            )
            ta.start()
            claimed.wait(60)
            skew(120)

            def run_b(b=b, v=vocab, done=done, out=out):
                try:
                    out["b"] = b.publish(v, "news")
                finally:
                    done.set()

            tb = threading.Thread(target=run_b)
            tb.start()
            done.wait(60)
            resume.set()
            ta.join(60)
            tb.join(60)
            twins += a.versions("news") == [1] and out["b"].ref == "news@v1"

            skew(0)
            gc_store, pinner = stores(2)
            for text in ("a", "b"):
                gc_store.publish(build_vocabulary([f"{text}{i}"], VocabSpec(), progress=False), "n")
            checked, go = threading.Event(), threading.Event()

            def gc_hook(point, _n, _v, checked=checked, go=go):
                if point == "gc-unpinned":
                    checked.set()
                    go.wait(60)

            gc_store._hook = gc_hook
            tg = threading.Thread(target=lambda g=gc_store: g.gc("n", keep=1))
            tg.start()
            checked.wait(60)
            skew(7200)
            try:
                pinner.pin("n@v1")
                accepted = True
            except StoreError:
                accepted = False
            go.set()
            tg.join(60)
            kept = 1 in pinner.versions("n")
            pinned = 1 in pinner.pins("n")
            pins += (accepted and kept and pinned) or (not accepted and not pinned)
    finally:
        store_module._clock = real_clock
        server.terminate()
        server.wait(10)
    report(
        "client clock 120 s ahead: identical publishes",
        twins == rounds,
        f"{rounds} races on S3 (moto): {twins} gave one version",
    )
    report(
        "pinner clock 2 h ahead vs gc",
        pins == rounds,
        f"{rounds} races on S3 (moto): {pins} pins kept with their version or refused",
    )


# -- names --

HOSTILE = [
    "",
    ".",
    "..",
    "../x",
    "a/b",
    "/abs",
    "a\\b",
    "a\x00b",
    "a\nb",
    "name\n",
    " lead",
    "-dash",
    ".hidden",
    "a..b",
    "x" * 129,
    "é",
    "a b",
    "a:b",
    "a*b",
    "a?b",
    "~user",
    "$HOME",
    "a|b",
    "a@v1@v2",
    "ok@v" + "9" * 400,
    "ok@v0",
    "ok@v-1",
    "ok@vx",
    "ok@" + "g" * 8,
    "ok@abc",
]


def names(work: Path) -> None:
    store = VocabStore(work / "names")
    store.publish(build_vocabulary(["a"], VocabSpec(), progress=False), "ok")
    wrong, calls = [], 0
    for name in HOSTILE:
        for call in (store.load, store.resolve, store.verify):
            calls += 1
            try:
                call(name)
                wrong.append((name, "accepted"))
            except InvalidNameError:
                pass
            except Exception as err:
                if not name.startswith("ok@") or type(err).__name__ != "VersionNotFoundError":
                    wrong.append((name[:20], type(err).__name__))
        if "@" not in name:
            calls += 1
            try:
                store.publish(build_vocabulary(["a"], VocabSpec(), progress=False), name)
                wrong.append((name, "published"))
            except InvalidNameError:
                pass
    outside = [p for p in (work / "names").rglob("*") if "ok" not in p.parts]
    report(
        "hostile names and references",
        not wrong and not outside,
        f"{len(HOSTILE)} names, {calls} calls (load/resolve/verify/publish) rejected as "
        f"InvalidNameError; wrong {wrong[:3]}",
    )


# -- hostile inputs: bounded memory, one-line errors, bad records --

_CHILD = """
import json, resource, sys, time
started = time.monotonic()
outcome = "ok"
try:
{body}
except Exception as err:
    outcome = type(err).__name__ + ": " + str(err)
print(json.dumps({{"outcome": outcome, "seconds": time.monotonic() - started,
    "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024}}))
"""


def _child(body: str, *args: str) -> dict:
    """Run ``body`` in a fresh Python; its outcome (error text), seconds and peak RSS."""
    code = _CHILD.format(body=textwrap.indent(textwrap.dedent(body), "    "))
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    done = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, env=env
    )
    lines = done.stdout.strip().splitlines()
    if done.returncode or not lines:
        return {
            "outcome": f"crashed rc={done.returncode}: {done.stderr[-300:]}",
            "seconds": 0,
            "peak_mib": 0,
        }
    return json.loads(lines[-1])


def _figures(run: dict) -> str:
    return f"{run['seconds']:.1f} s to the error, peak {run['peak_mib']} MiB"


def _gzip_line(path: Path, mebibytes: int, after: bytes = b"") -> None:
    import gzip

    member = gzip.compress(b"x" * (1 << 20))
    with open(path, "wb") as out:
        out.write(gzip.compress(b'{"t": "'))
        for _ in range(mebibytes):
            out.write(member)
        out.write(gzip.compress(b'"}\n' + after))


def inputs(work: Path, line_mib: int) -> None:
    """Small hostile inputs: each must end in a one-line error (or a counted bad record)
    in bounded memory."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = work / "inputs"
    folder.mkdir()
    laughs = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n' + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [{','.join(['*' + chr(97 + i)] * 9)}]\n" for i in range(8)
    )
    for name, tail in (("unknown keys", ""), ("reserved_tokens", "reserved_tokens: *i\n")):
        path = folder / f"bomb-{len(tail)}.yaml"
        path.write_text(laughs + tail)
        run = _child(
            """
            from vocabguard import VocabSpec
            VocabSpec.from_yaml(sys.argv[1])
            """,
            str(path),
        )
        report(
            f"YAML alias bomb ({name}, {path.stat().st_size} bytes)",
            "expands to more than 1,000,000 values" in run["outcome"] and run["peak_mib"] < 300,
            _figures(run),
        )
    corpus = folder / "c.txt"
    corpus.write_text("a b c\n")
    for buckets in ("20000000", "3000000000"):
        run = _child(
            """
            from vocabguard.cli import main
            if main(sys.argv[1:]):
                raise SystemError("refused")
            """,
            *["build", "--name", "n", "--input", str(corpus), "--num-oov-buckets", buckets],
            *["--store", str(folder / "st")],
        )
        report(
            f"--num-oov-buckets {buckets}",
            run["outcome"] == "SystemError: refused" and run["peak_mib"] < 300,
            _figures(run),
        )
    run = _child(
        """
        from vocabguard import VocabSpec
        VocabSpec(capacity=10**20)
        """
    )
    report(
        "capacity 10**20 (int32 ids)",
        "largest input_dim int32 ids can address" in run["outcome"],
        _figures(run),
    )
    big = folder / "line.jsonl.gz"
    _gzip_line(big, line_mib, after=b'{"t": "fine"}\n')
    size = big.stat().st_size
    for policy in ("fail", "skip"):
        run = _child(
            """
            from vocabguard._src.engines.formats.read import read_records
            skipped = {}
            kept = list(read_records([sys.argv[1]], fields=["t"], bad_records=sys.argv[2],
                                     skipped=skipped))
            raise SystemError(f"kept {len(kept)}, skipped {skipped}")
            """,
            str(big),
            policy,
        )
        expected = (
            "more than max_record_bytes (67,108,864 bytes"
            if policy == "fail"
            else "kept 1, skipped {'too_large': 1}"
        )
        report(
            f"{size / 1e6:.1f} MB .gz holding one {line_mib} MiB line ({policy})",
            expected in run["outcome"] and run["peak_mib"] < 400,
            f"{run['seconds']:.1f} s, peak {run['peak_mib']} MiB",
        )
    deep = folder / "deep.jsonl"
    deep.write_text('{"t": "ok"}\n{"t": ' + "[" * 100_000 + "]" * 100_000 + "}\n")
    keys = folder / "keys.jsonl"
    keys.write_text(json.dumps({f"k{i}": i for i in range(10**6)}) + "\n")
    ints = folder / "ints.jsonl"
    ints.write_text(f'{{"t": 1}}\n{{"t": {2**64}}}\n')
    utf8 = folder / "utf8.parquet"
    pq.write_table(pa.table({"t": pa.array([b"ok", b"\xff"]).view(pa.string())}), utf8)
    u64 = folder / "u64.parquet"
    pq.write_table(pa.table({"t": pa.array([1, 2**64 - 1], pa.uint64())}), u64)
    for label, path, field, expected in (
        ("JSON nested 10**5 deep", deep, "t", "nested 100,001 levels deep"),
        ("JSON integer 2**64", ints, "t", "outside int64"),
        ("Parquet string not UTF-8", utf8, "t", "are not valid UTF-8"),
        ("Parquet uint64 2**64-1", u64, "t", "outside int64"),
        ("JSONL record of 10**6 keys, no --field", keys, "", "and 999,990 more"),
    ):
        failed = _child(
            """
            from vocabguard._src.engines.formats.read import read_records
            list(read_records([sys.argv[1]], fields=[sys.argv[2]] if sys.argv[2] else None))
            """,
            str(path),
            field,
        )
        skipped = _child(
            """
            from vocabguard._src.engines.formats.read import read_records
            skipped = {}
            list(read_records([sys.argv[1]], fields=[sys.argv[2]] if sys.argv[2] else None,
                              bad_records="skip", skipped=skipped))
            raise SystemError(f"skipped {sum(skipped.values())}")
            """,
            str(path),
            field,
        )
        message = failed["outcome"]
        one_line = "\n" not in message and message.startswith("InputDataError: ")
        counted = skipped["outcome"] == "SystemError: skipped 1" or not field
        report(
            label,
            expected in message and one_line and len(message) < 600 and counted,
            f"{len(message)}-character error; skip: {skipped['outcome'].split(': ', 1)[-1][:40]}; "
            + _figures(failed),
        )


# -- ids --

ALPHABET = "abcXYZ  \t\n\u00a0\u2028éΣσς\u0301İ\u2c2f\U0001ccd6\x00中文🙂\u200d,.;-_"


def ids(strings: int, integers: int, guard_trials: int) -> None:
    rng = random.Random(5)
    specs = [
        VocabSpec(),
        VocabSpec(lowercase=True),
        VocabSpec(normalization="NFKC", lowercase=True),
        VocabSpec(normalization="NFC"),
        VocabSpec(num_oov_buckets=7),
        VocabSpec(max_tokens=3),
        VocabSpec(min_count=2),
        VocabSpec(capacity=4096),
        VocabSpec(reserved_tokens=["[CLS]", "[SEP]"]),
        VocabSpec(tokenizer="regex", pattern="[,;\\s]+"),
        VocabSpec(tokenizer="none"),
        VocabSpec(sequence_length=5),
        VocabSpec(max_token_bytes=4, id_dtype="int64"),
    ]
    bad = 0
    per_spec = strings // len(specs)

    def text() -> str:
        return "".join(rng.choice(ALPHABET) for _ in range(rng.randrange(0, 30)))

    for spec in specs:
        vocab = build_vocabulary([text() for _ in range(200)], spec, progress=False)
        encoded = vocab.encode([text() for _ in range(per_spec)])
        flat = np.concatenate([np.asarray(row).ravel() for row in encoded] or [np.zeros(0)])
        bad += int(((flat < 0) | (flat >= vocab.input_dim)).sum())
    report(
        "fuzzed strings",
        bad == 0,
        f"{per_spec * len(specs)} random strings over {len(specs)} specs: {bad} ids outside",
    )
    extremes = [0, 1, -1, 2**31 - 1, -(2**31), 2**63 - 1, -(2**63), 2**62, -(2**62)]
    values = extremes * (integers // len(extremes) // 2) + [
        rng.randrange(-(2**63), 2**63) for _ in range(integers // 2)
    ]
    vocab = build_vocabulary(
        values[:500], VocabSpec(tokenizer="none", num_oov_buckets=5), progress=False
    )
    encoded = np.asarray(vocab.encode(values))
    outside = int(((encoded < 0) | (encoded >= vocab.input_dim)).sum())
    report("extreme integers", outside == 0, f"{len(values)} integers: {outside} ids outside")
    missed = 0
    for _ in range(guard_trials):
        dim = rng.randrange(1, 1000)
        array = np.array([rng.randrange(-5, dim + 5) for _ in range(rng.randrange(1, 20))])
        expect = bool(((array < 0) | (array >= dim)).any())
        try:
            guard_ids(array, dim)
            missed += expect
        except IdRangeError:
            missed += not expect
    report("guard_ids", missed == 0, f"{guard_trials} trials: {missed} wrong answers")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller counts (about a minute)")
    args = parser.parse_args()
    scale = 0.1 if args.quick else 1.0
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        corruptions(work, flips=int(200 * scale) or 1)
        forgeries(work)
        names(work)
        kills(work, count=int(48 * scale) or 2)
        inputs(work, line_mib=512 if args.quick else 4096)
        concurrency(work, processes=8, rounds=int(30 * scale) or 2)
        ids(
            strings=int(104_000 * scale),
            integers=int(32_032 * scale),
            guard_trials=int(12_600 * scale),
        )
        housekeeping_links(work)
        link_swaps(work, seconds=60 * scale)
        full_disks(work)
        hostile_files(work)
        job_kills(work, count=int(24 * scale) or 2)
        job_no_space(work)
        skewed_clocks(work, rounds=int(10 * scale) or 1)
    failed = [name for name, ok, _ in results if not ok]
    print(
        f"{len(results) - len(failed)}/{len(results)} attacks held "
        f"({time.monotonic() - started:.0f} s)" + (f"; FAILED: {failed}" if failed else "")
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
