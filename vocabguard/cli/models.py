"""Commands over models: train, check-model, migrate-model, repair-model."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    pass

from vocabguard._src.core.outputs import refuse_existing
from vocabguard.cli._common import (
    PROG,
    note,
    run_guarded,
    store_from_args,
)
from vocabguard.cli.quiet import progress_lines


def register(command: Callable[..., argparse.ArgumentParser]) -> None:
    """Add this group's subcommands through the root parser's ``command`` factory."""
    _add_train(command)
    _add_check_model(command)
    _add_migrate(command)
    _add_repair(command)


def _add_train(command: Callable[..., argparse.ArgumentParser]) -> None:
    train = command(
        "train",
        _cmd_train,
        "train a text classifier from a YAML config (vocabulary resolved or built, tf.data "
        "encoding, Keras model, held-out evaluation, serving export)",
        "vocabguard train --config configs/bbc_news.yaml",
    )
    train.add_argument(
        "--config",
        required=True,
        metavar="FILE",
        help="training config (see docs/guides/training.md)",
    )
    train.add_argument(
        "--output", metavar="DIR", help="output directory (overrides the config's output)"
    )


def _add_check_model(command: Callable[..., argparse.ArgumentParser]) -> None:
    check_model = command(
        "check-model",
        _cmd_check_model,
        "check that a saved Keras model's Embedding layers fit a vocabulary version",
        "vocabguard check-model model.keras --vocab sotu@v1 --json",
    )
    check_model.add_argument("model", metavar="MODEL", help="saved Keras model file (.keras)")
    check_model.add_argument("--vocab", required=True, metavar="REF", help="the vocabulary")
    check_model.add_argument(
        "--layer",
        action="append",
        metavar="NAME",
        help="check only this layer (name or path; may be repeated), for models with several "
        "vocabularies",
    )
    check_model.add_argument("--json", action="store_true", help="print the result as JSON")


def _add_migrate(command: Callable[..., argparse.ArgumentParser]) -> None:
    migrate = command(
        "migrate-model",
        _cmd_migrate_model,
        "warm-start a saved Keras model on a newer vocabulary (or move a model built on Keras' "
        "own lookup layers onto vocabguard's): every token keeps its trained row",
        "vocabguard migrate-model model.keras --to news@v3 --output model_v3.keras",
    )
    migrate.add_argument("model", metavar="MODEL", help="saved Keras model file (.keras)")
    migrate.add_argument("--to", required=True, metavar="REF", help="the new vocabulary")
    migrate.add_argument(
        "--from",
        dest="from_ref",
        metavar="REF",
        help="the vocabulary the model was trained with (default: the one its layers record)",
    )
    migrate.add_argument(
        "--output", required=True, metavar="OUT", help=".keras file to create (never replaced)"
    )
    migrate.add_argument(
        "--init",
        choices=("mean", "zeros", "normal"),
        default="mean",
        help="rows of new tokens: mean of the trained rows, zeros, or normal(mean, std) "
        "(default: mean)",
    )
    migrate.add_argument("--seed", type=int, default=0, help="seed for --init normal")
    migrate.add_argument("--json", action="store_true", help="print the result as JSON")


def _add_repair(command: Callable[..., argparse.ArgumentParser]) -> None:
    repair = command(
        "repair-model",
        _cmd_repair_model,
        "resize a saved model's undersized Embedding layers to a vocabulary's input_dim",
        "vocabguard repair-model model.keras --vocab news@v1 --data ids.parquet "
        "--output fixed.keras",
    )
    repair.add_argument("model", metavar="MODEL", help="saved Keras model file (.keras)")
    repair.add_argument("--vocab", required=True, metavar="REF", help="the vocabulary")
    repair.add_argument(
        "--data",
        nargs="+",
        metavar="ENCODED_DATA",
        help="encoded training data (Parquet or TFRecord): report which ids were out of range "
        "and how many examples they affected",
    )
    repair.add_argument("--column", metavar="NAME", help="id column / int64 feature of --data")
    repair.add_argument(
        "--output", required=True, metavar="OUT", help=".keras file to create (never replaced)"
    )
    repair.add_argument(
        "--init",
        choices=("mean", "zeros", "normal"),
        default="mean",
        help="rows added by the resize (default: mean of the trained rows)",
    )
    repair.add_argument("--seed", type=int, default=0, help="seed for --init normal")
    repair.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="progress bar on stderr while scanning --data (default: on a terminal only)",
    )
    repair.add_argument("--json", action="store_true", help="print the result as JSON")


def _cmd_train(args: argparse.Namespace) -> int:
    from vocabguard._src.core.spec import load_yaml
    from vocabguard._src.engines import tabular, training

    progress_lines()
    if tabular.is_table_config(load_yaml(args.config)):  # categorical features of a table
        table = tabular.TableConfig.from_yaml(args.config, store=getattr(args, "store", None))
        return _report_table(table, tabular.train(table))
    config = training.TrainConfig.from_yaml(args.config)
    # An explicit --store beats the config's store; --output the config's output.
    config = training.with_overrides(config, output=args.output, store=getattr(args, "store", None))
    return _report_training(config, training.train(config))


def _report_training(config, metrics: dict) -> int:
    """The one-line summary of a training run, with the held-out accuracy."""
    print(
        f"held-out accuracy {metrics['accuracy']:.3f} on {metrics['n_test']} documents "
        f"(loss {metrics['loss']:.3f}); vocabulary {metrics['vocabulary']['ref']} "
        f"(input_dim {metrics['vocabulary']['input_dim']}); wrote {config.output} in "
        f"{metrics['wall_seconds']:.0f} s",
        flush=True,
    )
    return 0


def _report_table(config, metrics: dict) -> int:
    """The one-line summary of a table's training run."""
    dims = ", ".join(f"{k} {v['input_dim']}" for k, v in metrics["vocabularies"].items())
    auc = (
        f"; AUC {metrics['auc']:.3f} for {metrics['auc_positive_label']!r}"
        if metrics["auc"] is not None
        else ""
    )
    print(
        f"held-out accuracy {metrics['accuracy']:.3f} on {metrics['n_test']} records "
        f"(majority baseline {metrics['majority_baseline']:.3f}{auc}); input_dim {dims}; "
        f"{metrics['numpy_tf_identical_ids']} ids identical in numpy and tf.data; wrote "
        f"{config.output} in {metrics['wall_seconds']:.0f} s",
        flush=True,
    )
    return 0


def _cmd_check_model(args: argparse.Namespace) -> int:
    import json

    from vocabguard._src.tools.model_check import check_model, format_report

    vocab = store_from_args(args).load(args.vocab)
    result = check_model(args.model, vocab, layers=args.layer)
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
    else:
        print(format_report(result))
    if not result.ok:
        errors = len(result.errors)
        note(
            f"{PROG}: error: {args.model} does not fit {vocab.ref}: {errors} layer"
            f"{' has' if errors == 1 else 's have'} errors (see above)."
        )
        return 1
    return 0


def _cmd_migrate_model(args: argparse.Namespace) -> int:
    import json

    from vocabguard._src.tools.migration import format_migration, migrate_model

    if os.path.lexists(args.output):
        refuse_existing(args.output, "Output model")
    store = store_from_args(args)
    result = migrate_model(
        args.model,
        store.load(args.to),
        args.output,
        old_vocab=store.load(args.from_ref) if args.from_ref else None,
        store=store,
        init=args.init,
        seed=args.seed,
    )
    print(json.dumps(result.to_dict(), indent=2) if args.json else format_migration(result))
    return 0


def _cmd_repair_model(args: argparse.Namespace) -> int:
    import json

    from vocabguard._src.tools.repair import format_repair, repair_model

    if os.path.lexists(args.output):
        refuse_existing(args.output, "Output model")
    result = repair_model(
        args.model,
        store_from_args(args).load(args.vocab),
        args.output,
        data=args.data,
        column=args.column,
        init=args.init,
        seed=args.seed,
        progress=args.progress,
    )
    print(json.dumps(result.to_dict(), indent=2) if args.json else format_repair(result))
    return 0


def _train_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vocabguard train",
        description="Train a text classifier from a YAML config: vocabulary from the store "
        "(built from the train split if missing), tf.data encoding, Keras model, held-out "
        "evaluation; writes metrics.json, model.keras and a serving/ SavedModel.",
    )
    parser.add_argument("--config", required=True, help="the training config YAML")
    parser.add_argument("--output", help="output directory (overrides the config's output)")
    parser.add_argument("--store", help="store root (overrides the config's vocabulary.store)")
    return parser


def _train(argv: Sequence[str] | None) -> int:
    from vocabguard._src.engines import training

    args = _train_parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    config = training.TrainConfig.from_yaml(args.config)
    config = training.with_overrides(config, output=args.output, store=args.store)
    progress_lines()
    return _report_training(config, training.train(config))


def train_main(argv: Sequence[str] | None = None) -> int:
    """``python pipelines/train.py``: the training job behind the CLI's one error path.

    Returns the exit status; user errors print one ``vocabguard: error:`` line.
    """
    return run_guarded(_train, argv)
