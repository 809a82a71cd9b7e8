"""A vocabulary lineage on growing slices of a corpus, and a model carried along it.

    python pipelines/lineage.py --config configs/bbc_news.yaml --name bbc_lineage \
        --slices 3 --output out/lineage

1. Splits the config's train split (a seeded permutation) into ``--slices`` growing
   prefixes and builds ``NAME@v1`` from the first, then each next version from the
   next prefix with the previous one as ``parent``: stable ids, new tokens appended.
2. Checks that every token of every version keeps its id in all later ones, and
   that ``diff`` calls each step (and v1 -> last) id-compatible.
3. Trains the config's classifier on ``NAME@v1`` (the vocabulary of the earliest
   data), migrates the saved model to the last version with ``migrate-model``
   (every token keeps its trained row, new tokens start at the mean row), and
   compares both models on held-out texts reduced to v1 tokens: the outputs must
   be identical. On the full held-out texts it reports both accuracies.

Writes ``model_v1/`` (training output), ``model_vN.keras`` and ``lineage.json``
under ``--output``, which must not exist. ``NAME`` must not exist in the store:
the job starts a lineage, it never appends to someone else's.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import shutil
import sys
import uuid
from collections.abc import Sequence
from typing import Any


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pipelines/lineage.py", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--config", required=True, help="training config (data, spec, model)")
    parser.add_argument("--name", default="bbc_lineage", help="new vocabulary name")
    parser.add_argument("--slices", type=int, default=3, help="versions to build (>= 2)")
    parser.add_argument("--output", required=True, help="new directory for models and summary")
    parser.add_argument("--store", help="vocabulary store (default: the config's)")
    parser.add_argument("--epochs", type=int, help="override the config's training epochs")
    parser.add_argument("--seed", type=int, default=0, help="seed of the slice permutation")
    return parser


def _v1_only(texts: Sequence[str], vocab: Any) -> list[str]:
    """Each text reduced to the tokens ``vocab`` knows (as its tokenizer sees them).

    The tokens are already normalized and lowercased, so joined by spaces they
    tokenize to themselves; texts left empty are dropped.
    """
    import pyarrow as pa

    from vocabguard import Tokenizer

    oov = set(vocab.oov_ids) | {vocab.pad_id}
    reduced = []
    for tokens in Tokenizer(vocab.spec).tokenize_arrow(pa.array(list(texts))).to_pylist():
        known = [t.decode("utf-8") for t in tokens if vocab.token_to_id(t) not in oov]
        if known:
            reduced.append(" ".join(known))
    return reduced


def build_lineage(
    texts: Sequence[str],
    spec: Any,
    store: Any,
    name: str,
    slices: int,
    seed: int,
    description: str = "texts",
):
    """Publish ``name@v1..vN`` from growing prefixes of a seeded permutation of ``texts``.

    Successive releases, as a lineage grows in practice: each version is published
    (whole, by the store) before the next is built on it as its parent. A failure at
    slice k leaves v1..v(k-1) published and complete, nothing of slice k, and raises a
    ``LineageError`` naming both.
    """
    import numpy as np

    from vocabguard import build_vocabulary

    order = np.random.default_rng(seed).permutation(len(texts))
    versions = []
    parent = None
    for k in range(1, slices + 1):
        prefix = [texts[i] for i in order[: round(len(texts) * k / slices)]]
        source = (
            f"{description}: the first {len(prefix)} of {len(texts)} records in a seeded "
            f"permutation (seed {seed}), slice {k} of {slices}"
        )
        try:
            vocab = build_vocabulary(
                prefix, spec, parent=parent, progress=False, input_description=source
            )
            vocab = store.publish(vocab, name)
        except Exception as err:
            if not versions:
                raise  # nothing published: the error as it is
            raise _stopped(err, versions, name, k, slices) from err
        print(
            f"{vocab.ref}: {len(prefix)} documents, input_dim {vocab.input_dim}, "
            f"fingerprint {vocab.fingerprint[:12]}",
            flush=True,
        )
        versions.append(vocab)
        parent = vocab
    return versions


def _stopped(err: Exception, versions: Sequence[Any], name: str, k: int, slices: int):
    """The error of a lineage that stopped at slice ``k``, after ``versions`` were published."""
    from vocabguard.errors import LineageError, received

    refs = [v.ref for v in versions]
    detail = " ".join(str(err).split()) or type(err).__name__
    return LineageError(
        f"The lineage '{name}' stopped at slice {k} of {slices}: {detail} "
        f"{', '.join(refs)} stay published, each complete (the store publishes a version "
        f"whole); nothing of {name}@v{k} was written. The job never appends to a "
        "lineage it did not start: fix the cause and rerun with another --name. "
        + received(name=name, published=refs, failed_slice=k)
    )


def check_stable_ids(versions: Sequence[Any]) -> dict:
    """Every token of each version keeps its id in every later one; diff agrees."""
    from vocabguard.errors import LineageError, received
    from vocabguard.lineage import diff_vocabularies

    for i, earlier in enumerate(versions):
        for later in versions[i + 1 :]:
            moved = [
                token
                for id_, token in enumerate(
                    earlier.lookup_keys, start=earlier.layout.reserved_start
                )
                if later.token_to_id(token) != id_
            ]
            if moved:
                raise LineageError(
                    f"{len(moved)} tokens of {earlier.ref} have another id in {later.ref}; "
                    "a lineage must keep every id. " + received(moved=moved[:5])
                )
    steps = {}
    pairs = [*itertools.pairwise(versions), (versions[0], versions[-1])]
    for old, new in pairs:
        result = diff_vocabularies(old, new)
        if not result.id_compatible:
            raise LineageError(
                f"diff says {new.ref} is not id-compatible with {old.ref}: {result.summary()}. "
                + received(old=old.ref, new=new.ref)
            )
        steps[f"{old.ref} -> {new.ref}"] = result.summary()
        print(f"diff {old.ref} {new.ref}: {result.summary()}", flush=True)
    return steps


def run(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from vocabguard.cli import run_guarded

    return run_guarded(_run, args)


def _run(args: argparse.Namespace) -> int:
    from vocabguard import VocabStore
    from vocabguard.errors import ConfigError, OutputExistsError, received
    from vocabguard.training import TrainConfig, describe_train, load_splits

    if args.slices < 2:
        raise ConfigError(
            "A lineage needs at least 2 slices (v1 and one child). " + received(slices=args.slices)
        )
    output = os.path.abspath(args.output)
    if os.path.lexists(output):
        raise OutputExistsError(
            f"Output {args.output} already exists; the lineage job never overwrites outputs. "
            "Choose a new --output or remove the old one. " + received(output=args.output)
        )
    config = TrainConfig.from_yaml(args.config)
    spec = config.vocabulary.spec
    if spec is None:
        raise ConfigError(
            f"{args.config} has no `vocabulary.spec`; the lineage job builds every version "
            "from it. " + received(config=args.config)
        )
    store = VocabStore(args.store or config.vocabulary.store)
    if store.versions(args.name):
        raise ConfigError(
            f"Vocabulary '{args.name}' already exists in store {store.root}; the lineage job "
            "starts a new lineage. Pass another --name (or `vocabguard gc`/remove the old one). "
            + received(name=args.name)
        )
    train_split, test_split = load_splits(config.data)
    versions = build_lineage(
        train_split.texts,
        spec,
        store,
        args.name,
        args.slices,
        args.seed,
        description=describe_train(config.data),
    )
    steps = check_stable_ids(versions)

    first, last = versions[0], versions[-1]
    parent_dir, base = os.path.split(output)
    os.makedirs(parent_dir, exist_ok=True)
    staging = os.path.join(parent_dir, f".{base}.incomplete-{uuid.uuid4().hex[:8]}")
    os.makedirs(staging)
    try:
        summary = _train_and_migrate(args, config, store, first, last, test_split, staging)
        summary.update(
            {
                "versions": [
                    {"ref": v.ref, "input_dim": v.input_dim, "fingerprint": v.fingerprint}
                    for v in versions
                ],
                "diff": steps,
                "store": store.root,
            }
        )
        summary["training"]["output"] = os.path.join(output, "model_v1")
        summary["migration"]["model"] = os.path.join(output, "model_v1", "model.keras")
        summary["migration"]["output"] = os.path.join(output, f"model_v{last.version}.keras")
        with open(os.path.join(staging, "lineage.json"), "w", encoding="utf-8") as handle:
            json.dump(summary, handle, indent=2, sort_keys=True)
            handle.write("\n")
        os.rename(staging, output)  # fails on a non-empty directory made meanwhile
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    print(
        f"v1-only held-out texts: {summary['v1_only']['texts']}, max |output difference| "
        f"{summary['v1_only']['max_abs_difference']}; held-out accuracy {first.ref} "
        f"{summary['accuracy'][first.ref]:.4f}, migrated to {last.ref} "
        f"{summary['accuracy'][last.ref]:.4f}",
        flush=True,
    )
    return 0 if summary["v1_only"]["identical"] else 1


def _train_and_migrate(args, config, store, first, last, test_split, staging) -> dict:
    import dataclasses

    import numpy as np

    from vocabguard.keras import load_model
    from vocabguard.lineage import migrate_model
    from vocabguard.training import train

    training = config.training
    if args.epochs is not None:
        training = dataclasses.replace(training, epochs=args.epochs)
    v1_config = dataclasses.replace(
        config,
        vocabulary=dataclasses.replace(
            config.vocabulary, store=store.root, ref=first.ref, spec=None
        ),
        training=training,
        output=os.path.join(staging, "model_v1"),
    )
    metrics = train(v1_config)
    migrated_path = os.path.join(staging, f"model_v{last.version}.keras")
    migration = migrate_model(
        os.path.join(staging, "model_v1", "model.keras"), last, migrated_path, old_vocab=first
    )
    before = load_model(os.path.join(staging, "model_v1", "model.keras"), first)
    after = load_model(migrated_path, last)

    reduced = _v1_only(test_split.texts, first)
    out_before = before.predict(first.encode(reduced), verbose=0)
    out_after = after.predict(last.encode(reduced), verbose=0)
    difference = float(np.max(np.abs(out_before - out_after))) if reduced else 0.0

    labels = metrics["labels"]
    truth = np.array([labels.index(str(label)) for label in test_split.labels])
    accuracy = {}
    for vocab, model in ((first, before), (last, after)):
        predicted = model.predict(vocab.encode(test_split.texts), verbose=0).argmax(axis=1)
        accuracy[vocab.ref] = float(np.mean(predicted == truth))
    return {
        "training": {"accuracy": metrics["accuracy"], "vocabulary": first.ref},
        "migration": migration.to_dict(),
        "v1_only": {
            "texts": len(reduced),
            "max_abs_difference": difference,
            "identical": bool(reduced) and bool(np.array_equal(out_before, out_after)),
        },
        "accuracy": accuracy,
    }


if __name__ == "__main__":
    from vocabguard.cli import quiet_argv  # before TensorFlow is imported; -v shows its logs
    from vocabguard.cli.quiet import progress_lines  # the training's progress on stderr

    progress_lines()
    sys.exit(run(quiet_argv(sys.argv[1:])))
