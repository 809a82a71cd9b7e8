"""Commands over the store's published versions: inspect, list, verify, diff, gc, pin, unpin."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    pass

from vocabguard.cli._common import (
    PROG,
    _print_error,
    note,
    store_from_args,
)


def register(command: Callable[..., argparse.ArgumentParser]) -> None:
    """Add this group's subcommands through the root parser's ``command`` factory."""
    _add_inspect(command)
    _add_listing(command)
    _add_verify(command)
    _add_diff(command)
    _add_gc(command)
    _add_pin(command)
    _add_unpin(command)


def _add_inspect(command: Callable[..., argparse.ArgumentParser]) -> None:
    inspect = command(
        "inspect",
        _cmd_inspect,
        "show a published version: input_dim, id layout, spec and stats",
        "vocabguard inspect sotu@v1 --json",
    )
    inspect.add_argument("ref", metavar="REF", help="name, name@latest, name@vN or name@<hex>")
    inspect.add_argument("--json", action="store_true", help="print the manifest as JSON")
    inspect.add_argument(
        "--no-verify",
        dest="verify",
        action="store_false",
        help="skip re-checking every file's sha256 and the fingerprint (the first line says so)",
    )
    rows = inspect.add_argument_group(
        "which row is which",
        "row i of the Embedding is the vector of the token with id i: print id, token "
        "(escaped), kind and count",
    )
    rows.add_argument("--rows", metavar="A:B", help="ids A..B-1 (e.g. 120:130)")
    rows.add_argument(
        "--token", action="append", metavar="T", help="the id of token T (may be repeated)"
    )
    rows.add_argument(
        "--id",
        action="append",
        type=int,
        metavar="N",
        help="the token that owns row N, or why none does (may be repeated)",
    )


def _add_listing(command: Callable[..., argparse.ArgumentParser]) -> None:
    listing = command(
        "list",
        _cmd_list,
        "list published versions: ref, created, input_dim, fingerprint, bytes, learned tokens, "
        "parent, pin",
        "vocabguard list sotu",
    )
    listing.add_argument("name", metavar="NAME", nargs="?", help="only this vocabulary")
    listing.add_argument("--json", action="store_true", help="print one JSON object per version")
    listing.add_argument(
        "--verify",
        action="store_true",
        help="re-check every version's checksums and fingerprint; mark the ones that fail "
        "(exit 1 if any does)",
    )


def _add_verify(command: Callable[..., argparse.ArgumentParser]) -> None:
    verify = command(
        "verify",
        _cmd_verify,
        "re-check the sha256 of every file of a version",
        "vocabguard verify sotu@v1",
    )
    verify.add_argument("ref", metavar="REF")


def _add_diff(command: Callable[..., argparse.ArgumentParser]) -> None:
    diff = command(
        "diff",
        _cmd_diff,
        "compare two versions: tokens added, removed and retired, ids moved, input_dim change, "
        "id compatibility",
        "vocabguard diff news@v1 news@v2 --data sample.jsonl --field text",
    )
    diff.add_argument("old", metavar="A", help="the earlier version (REF)")
    diff.add_argument("new", metavar="B", help="the later version (REF)")
    diff.add_argument(
        "--data",
        action="append",
        metavar="PATH_OR_GLOB",
        help="sample documents: coverage and OOV rate of A and B on them (may be repeated)",
    )
    diff.add_argument(
        "--format",
        choices=("text", "jsonl", "csv", "parquet"),
        help="--data format (default: from each file's extension)",
    )
    diff.add_argument("--field", help="JSON key / CSV or Parquet column holding the document")
    diff.add_argument(
        "--limit",
        type=int,
        default=20,
        metavar="N",
        help="tokens listed per section in the text output (default: 20; --json lists all)",
    )
    diff.add_argument(
        "--check",
        action="store_true",
        help="exit 1 unless B is id-compatible with A (every token of A keeps its id in B)",
    )
    diff.add_argument("--json", action="store_true", help="print the result as JSON")


def _add_gc(command: Callable[..., argparse.ArgumentParser]) -> None:
    gc = command(
        "gc",
        _cmd_gc,
        "delete old versions of NAME, keeping the newest N, the latest and every pinned version",
        "vocabguard gc news --keep 3 --dry-run",
    )
    gc.add_argument("name", metavar="NAME")
    gc.add_argument(
        "--keep", required=True, type=int, metavar="N", help="newest versions to keep (>= 1)"
    )
    gc.add_argument(
        "--dry-run", action="store_true", help="print what would be deleted, delete nothing"
    )


def _add_pin(command: Callable[..., argparse.ArgumentParser]) -> None:
    pin = command(
        "pin",
        _cmd_pin,
        "protect a version from gc (e.g. the one a production model was trained with)",
        "vocabguard pin news@v3 --reason 'model prod-2026-11'",
    )
    pin.add_argument("ref", metavar="REF")
    pin.add_argument("--reason", help="why it is pinned (shown by list)")


def _add_unpin(command: Callable[..., argparse.ArgumentParser]) -> None:
    unpin = command(
        "unpin",
        _cmd_unpin,
        "remove a pin, so gc may delete the version again",
        "vocabguard unpin news@v3",
    )
    unpin.add_argument("ref", metavar="REF")


def _cmd_inspect(args: argparse.Namespace) -> int:
    import json

    from vocabguard._src.core.artifact import describe

    store = store_from_args(args)
    wants_rows = args.rows is not None or args.token or args.id
    verified = contents = None  # what was verified: rows are answered from it, read once
    if args.verify:
        try:
            if wants_rows:
                # tokens.parquet's sha256, not the tokens parsed: a few rows of a
                # 10M-token version are read from its verified bytes; vocab.txt only
                # points at rows, each confirmed there (`verify` checks the rest).
                manifest, contents = store.verified_files(
                    args.ref, files=["tokens.parquet"], hints=["vocab.txt"]
                )
            else:
                verified = store.verified(args.ref)
                manifest = verified.manifest
        except Exception as err:
            from vocabguard._src.core.errors import ArtifactError

            if isinstance(err, ArtifactError):
                _print_error(err)
                note(f"{PROG}: inspect {args.ref} --no-verify shows it without verifying.")
                return 1
            raise
        files = len(manifest.get("files", {}))
        status = (
            "verified: sha256 of tokens.parquet and the manifest match"
            if wants_rows
            else f"verified: sha256 of {files} files, the manifest and the fingerprint match"
        )
    else:
        manifest = store.manifest(args.ref)
        status = (
            f"NOT VERIFIED (--no-verify): file checksums not re-checked; run "
            f"`vocabguard verify {args.ref}`"
        )
    if args.json and not wants_rows:
        note(status)
        print(json.dumps(manifest, indent=2, sort_keys=True))
        return 0
    vocab = learned = None
    ref = f"{manifest['name']}@v{manifest['version']}"
    if manifest["spec"].get("tokenizer") == "wordpiece":
        vocab = verified or store.load(ref)  # WordPiece: small; its pieces are described
        learned = vocab.tokens[len(vocab.tokens) - manifest["layout"]["num_learned"] :]
    elif wants_rows:
        # Only the asked rows: a 10M-token version's tokens never become Python objects.
        vocab = _asked_rows(store, ref, manifest, args, contents)
    lines = describe(manifest, learned).split("\n")
    print(f"{lines[0]}  {status}")
    if not wants_rows:
        print("\n".join(lines[1:]))
        return 0
    rows = row_table(vocab, rows=args.rows, tokens=args.token or (), ids=args.id or ())
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        print(format_rows(rows))
    return 0


def _asked_rows(store, ref: str, manifest: dict, args: argparse.Namespace, contents=None):
    """The rows ``--token/--id/--rows`` ask for: from the verified files' ``contents``
    (only the row groups that hold them are parsed), else read from tokens.parquet."""
    from vocabguard._src.core.artifact import VersionRows
    from vocabguard._src.core.vocabulary import INT64, as_token

    integer = manifest["token_type"] == INT64
    tokens = []
    for token in args.token or ():
        try:
            tokens.append(as_token(int(token) if integer else token, manifest["token_type"]))
        except ValueError:
            continue  # not an integer: row_table reports it as not in the vocabulary
    ids = [int(i) for i in args.id or ()]
    if args.rows is not None:
        ids += list(_parse_rows(args.rows, manifest["input_dim"]))
    if contents is not None:
        return VersionRows.find(manifest, contents, tokens=tokens, ids=ids)
    return VersionRows.read(store.fs, store.path(ref), manifest, tokens=tokens, ids=ids)


def _parse_rows(text: str, input_dim: int) -> range:
    from vocabguard._src.core.errors import ConfigError, received

    start, sep, stop = text.partition(":")
    try:
        first = int(start) if start.strip() else 0
        last = int(stop) if stop.strip() else input_dim
    except ValueError:
        first = last = None
    if not sep or first is None or first < 0 or last < first:
        raise ConfigError(
            "--rows takes A:B, the ids A..B-1 with 0 <= A <= B (e.g. 120:130). "
            + received(rows=text)
        )
    return range(first, last)


def describe_id(vocab, id_: int) -> dict:
    """Who owns row ``id_`` of the Embedding: ``{"id", "token", "kind", "count"}``;
    ``kind`` is pad, oov, reserved, learned, retired, unused or out of range."""
    from vocabguard._src.core.vocabulary import printable_token

    layout = vocab.layout
    row = {"id": id_, "token": None, "kind": None, "count": None}
    if id_ < 0 or id_ >= vocab.input_dim:
        row["kind"] = (
            f"out of range: input_dim is {vocab.input_dim}, ids are 0..{vocab.input_dim - 1}"
        )
    elif id_ == vocab.pad_id:
        # An integer vocabulary's default pad is the id only (no token).
        pad = vocab.pad_token
        row.update(token=None if pad is None else printable_token(pad), kind="pad")
    elif id_ in vocab.oov_ids:
        row.update(token=printable_token(vocab.oov_token), kind="oov")
    elif id_ >= layout.used_ids:
        row["kind"] = (
            f"unused: capacity {vocab.input_dim} reserves ids {layout.used_ids}.."
            f"{vocab.input_dim - 1} for tokens a later version may add"
        )
    else:
        token, count = vocab.row(id_)
        kind = "reserved" if id_ < layout.learned_start else "learned"
        if id_ in vocab.retired:
            kind = "retired (maps to OOV; the row is kept)"
        row.update(token=printable_token(token), kind=kind, count=count)
    return row


def row_table(vocab, *, rows: str | None, tokens, ids) -> list[dict]:
    """The rows ``inspect --rows/--token/--id`` prints, in that order."""
    from vocabguard._src.core.vocabulary import INT64

    table = []
    if rows is not None:
        table += [describe_id(vocab, i) for i in _parse_rows(rows, vocab.input_dim)]
    for token in tokens:
        key = token
        if vocab.token_type == INT64:
            try:
                key = int(token)
            except ValueError:
                key = None
        id_ = vocab.token_to_id(key) if key is not None else None
        if id_ is None or id_ in vocab.oov_ids:
            hint = ""
            if vocab.spec.lowercase and isinstance(token, str) and token != token.lower():
                hint = "; the spec lowercases text, so look up the lowercase form"
            row = {
                "id": id_,
                "token": token,
                "kind": "not in the vocabulary: maps to OOV"
                + (f" id {id_}" if id_ is not None else "")
                + hint,
                "count": None,
            }
        else:
            row = describe_id(vocab, id_)
        row["query"] = token
        table.append(row)
    table += [describe_id(vocab, i) for i in ids]
    return table


def format_rows(rows: list[dict]) -> str:
    """``id  token  kind  count`` columns; rows without a count (pad, OOV, unused, out of
    range) end with their kind, which may be a sentence."""
    cells = [("id", "token", "kind", "count")] + [
        (
            "-" if row["id"] is None else str(row["id"]),
            "-" if row["token"] is None else str(row["token"]),
            row["kind"],
            None if row["count"] is None else str(row["count"]),
        )
        for row in rows
    ]
    sized = [cell for cell in cells if cell[3] is not None]
    widths = [max(len(cell[i]) for cell in (sized if i == 2 else cells)) for i in range(3)]
    lines = []
    for cell in cells:
        head = f"{cell[0].ljust(widths[0])}  {cell[1].ljust(widths[1])}  "
        if cell[3] is None:
            lines.append(head + cell[2])
        else:
            lines.append(head + f"{cell[2].ljust(widths[2])}  {cell[3]}")
    return "\n".join(lines)


def list_entry(manifest: dict, pin: dict | None = None) -> dict:
    """The facts ``vocabguard list`` shows for one version (``--json`` prints them)."""
    parent = manifest.get("parent")
    return {
        "ref": f"{manifest['name']}@v{manifest['version']}",
        "created_utc": manifest.get("build", {}).get("created_utc"),
        "input_dim": manifest["input_dim"],
        "fingerprint": manifest["fingerprint"],
        # The bytes of the files the manifest lists (the manifest itself not counted).
        "bytes": sum(int(meta["bytes"]) for meta in manifest.get("files", {}).values()),
        "learned": manifest["layout"]["num_learned"],
        "parent": None if not parent else parent.get("ref") or parent["fingerprint"],
        "parent_fingerprint": None if not parent else parent["fingerprint"],
        "pinned": pin is not None,
        "pin_reason": None if pin is None else pin.get("reason"),
        "pinned_utc": None if pin is None else pin.get("pinned_utc"),
    }


def list_line(manifest: dict, pin: dict | None = None) -> str:
    """One ``vocabguard list`` line of a manifest (and its pin record, if pinned).

    Columns: ref, created (UTC), input_dim, fingerprint prefix, bytes (sum of
    the files the manifest lists), learned tokens, parent ref (``-`` for a root;
    a fingerprint prefix if the parent was never published), then
    ``pinned`` or ``pinned(reason)`` for a version gc keeps.

    >>> from vocabguard import VocabSpec, build_vocabulary
    >>> from vocabguard._src.core.artifact import build_manifest, render_files
    >>> vocab = build_vocabulary(["a b"], VocabSpec(), progress=False)
    >>> vocab.name, vocab.version = "demo", 1
    >>> line = list_line(build_manifest(vocab, *render_files(vocab)), {"reason": "prod"})
    >>> line.split()[0], line.split()[-2:]
    ('demo@v1', ['parent=-', 'pinned(prod)'])
    """
    entry = list_entry(manifest, pin)
    parent = (manifest.get("parent") or {}).get("ref") or (entry["parent"] or "-")[:12]
    line = (
        f"{entry['ref']:<24} {entry['created_utc'] or '-':<25} "
        f"input_dim={entry['input_dim']:<8} fingerprint={entry['fingerprint'][:12]} "
        f"bytes={entry['bytes']:<10} learned={entry['learned']:<8} parent={parent}"
    )
    if entry["pinned"]:
        reason = entry["pin_reason"]
        line += f" pinned({reason})" if reason else " pinned"
    return line


def _cmd_list(args: argparse.Namespace) -> int:
    import json

    from vocabguard._src.core.errors import VersionNotFoundError, VocabguardError

    store = store_from_args(args)
    store.require_root()  # a mistyped --store is an error, not an empty store
    if args.name is not None:
        # resolve() names the store's vocabularies when there is no such name.
        names = [store.resolve(args.name)[0]]
    else:
        names = store.names()
        if not names:
            note(f"No vocabularies in store {store.root}.")
            return 0
    failed = 0
    for name in names:
        pins = store.pins(name)
        for version in store.versions(name):
            try:
                check = store.verify if args.verify else store.manifest
                manifest = check(f"{name}@v{version}")
            except VersionNotFoundError:
                continue  # deleted by a gc since versions() listed it
            except VocabguardError as err:
                failed += 1
                mark = "FAILED VERIFICATION" if args.verify else "UNREADABLE"
                if args.json:
                    print(json.dumps({"ref": f"{name}@v{version}", "error": str(err)}))
                else:
                    print(f"{f'{name}@v{version}':<24} {mark}", flush=True)
                _print_error(err)
                continue
            if args.json:
                entry = list_entry(manifest, pins.get(version))
                if args.verify:
                    entry["verified"] = True
                print(json.dumps(entry, sort_keys=True))
            else:
                print(list_line(manifest, pins.get(version)) + (" verified" if args.verify else ""))
    return 1 if failed else 0


def _cmd_verify(args: argparse.Namespace) -> int:
    manifest = store_from_args(args).verify(args.ref)
    print(f"OK {manifest['name']}@v{manifest['version']} {manifest['fingerprint']}")
    return 0


def _cmd_diff(args: argparse.Namespace) -> int:
    import json

    from vocabguard._src.core.errors import received
    from vocabguard._src.tools.diff import diff_vocabularies, format_diff

    store = store_from_args(args)
    old, new = store.load(args.old), store.load(args.new)
    # The store lets diff follow the lineage through versions in between (v3 <- v2 <- v1).
    result = diff_vocabularies(
        old, new, data=args.data, format=args.format, field=args.field, store=store
    )
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
    else:
        print(format_diff(result, limit=args.limit))
    if args.check and not result.id_compatible:
        note(f"{PROG}: error: {result.summary()} " + received(a=args.old, b=args.new))
        return 1
    return 0


def _cmd_gc(args: argparse.Namespace) -> int:
    store = store_from_args(args)
    deleted = store.gc(
        args.name,
        keep=args.keep,
        dry_run=args.dry_run,
        on_leftover=lambda path: note(f"removed leftover of a crashed process: {path}"),
    )
    verb = "would delete" if args.dry_run else "deleted"
    for ref in deleted:
        print(f"{verb} {ref}")
    pinned = ", ".join(f"v{v}" for v in store.pins(args.name)) or "none"
    note(
        f"{verb} {len(deleted)} version{'' if len(deleted) == 1 else 's'} of {args.name}; "
        f"kept the newest {args.keep} and the pinned ones ({pinned})."
    )
    return 0


def _cmd_pin(args: argparse.Namespace) -> int:
    ref = store_from_args(args).pin(args.ref, reason=args.reason)
    print(f"pinned {ref}")
    return 0


def _cmd_unpin(args: argparse.Namespace) -> int:
    ref = store_from_args(args).unpin(args.ref)
    print(f"unpinned {ref}")
    return 0
