"""``vocabguard import``: publish a vocabulary another tool made, keeping its token order."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from vocabguard.cli._common import store_from_args

FORMATS = ("tft", "tft-frequency", "text", "keras", "keras-model", "bert", "tokenizer-json")


def register(command: Callable[..., argparse.ArgumentParser]) -> None:
    """Add this group's subcommands through the root parser's ``command`` factory."""
    imp = command(
        "import",
        _cmd_import,
        "publish a TFT, Keras, BERT or Hugging Face vocabulary as a vocabguard version, "
        "keeping its token order, and print how its ids map to vocabguard's",
        "vocabguard import bert/vocab.txt --format bert --name bert_base",
    )
    imp.add_argument("file", metavar="FILE", help="the vocabulary file, or a .keras model")
    imp.add_argument(
        "--format",
        required=True,
        choices=FORMATS,
        help="tft (one token per line), tft-frequency ('count token'), text (token or "
        "token<TAB>count per line), keras (get_vocabulary() as JSON or lines), keras-model "
        "(a lookup layer of a .keras model), bert (vocab.txt), tokenizer-json (Hugging Face "
        "WordPiece/WordLevel)",
    )
    imp.add_argument("--name", required=True, help="vocabulary name to publish under")
    imp.add_argument("--layer", metavar="NAME", help="keras-model: the lookup layer to import")
    imp.add_argument(
        "--tokenizer",
        choices=("whitespace", "unicode_script", "none", "wordpiece"),
        help="how text becomes tokens (default: what the source implies; whitespace for tft/text)",
    )
    imp.add_argument(
        "--lowercase",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="lowercase text before lookup (default: what the source implies)",
    )
    imp.add_argument("--normalization", choices=("none", "NFC", "NFKC"))
    imp.add_argument("--pad-token", metavar="TOKEN", help="the token at id 0")
    imp.add_argument("--oov-token", metavar="TOKEN", help="the source's OOV token")
    imp.add_argument(
        "--mask-token",
        metavar="TOKEN",
        help="keras: the layer's mask token, when the list holds no special tokens",
    )
    imp.add_argument(
        "--num-oov-indices",
        type=int,
        metavar="K",
        help="keras: the layer's num_oov_indices, when the list holds no special tokens",
    )
    imp.add_argument("--json", action="store_true", help="print the result as JSON")


def _cmd_import(args: argparse.Namespace) -> int:
    import json

    from vocabguard._src.tools.importer import format_import, import_vocabulary

    options = {
        key: value
        for key, value in (
            ("tokenizer", args.tokenizer),
            ("lowercase", args.lowercase),
            ("normalization", args.normalization),
            ("pad_token", args.pad_token),
            ("oov_token", args.oov_token),
        )
        if value is not None
    }
    extra = {}
    if args.mask_token is not None:
        extra["mask_token"] = args.mask_token
    result = import_vocabulary(
        args.file,
        args.format,
        name=args.name,
        store=store_from_args(args),
        layer=args.layer,
        num_oov_indices=args.num_oov_indices,
        **extra,
        **options,
    )
    print(json.dumps(result.to_dict(), indent=2) if args.json else format_import(result))
    return 0
