"""The groups of a ``VocabSpec``: small frozen dataclasses, each validating itself.

``VocabSpec`` keeps its flat fields (YAML keys, CLI flags, ``VocabSpec(...)``
keywords); on construction it hands them to these groups, which check and
normalize their own fields, and then checks the rules that span groups:

- ``TokenizerSpec``: how text becomes tokens (tokenizer, pattern, case,
  normalization, Keras standardization, n-grams);
- ``SelectionSpec``: which tokens are learned (counts, documents, caps, ties);
- ``LayoutSpec``: the ids (OOV buckets, special and reserved tokens, capacity,
  alignment, id dtype, sequence length);
- ``MissingSpec``: what a null, absent or empty value becomes, and value shapes;
- ``WordPieceSpec``: the WordPiece learner's options (``vocab_size`` is its target
  number of pieces, not the vocabulary's ``input_dim``).

>>> SelectionSpec(min_count=2.0).min_count, LayoutSpec(reserved_tokens=["a"]).reserved_tokens
(2, ('a',))
>>> TokenizerSpec(ngrams=2).ngrams
(1, 2)
"""

from __future__ import annotations

import dataclasses
import math
import re
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from vocabguard._src.core.errors import SpecError, received

TOKENIZERS = ("whitespace", "unicode_script", "regex", "none", "wordpiece")
NORMALIZATIONS = ("none", "NFC", "NFKC")
ID_DTYPES = ("int32", "int64")
MISSING_POLICIES = ("error", "skip", "oov", "token")
VALUE_SHAPES = ("any", "scalar", "list")
# Keras TextVectorization's `standardize` modes (its callable form is not a spec).
STANDARDIZE = ("lower", "strip_punctuation", "lower_and_strip_punctuation")
# How learned tokens with equal counts are ordered: by UTF-8 bytes (integers: value)
# ascending (the default; torchtext, Hugging Face) or descending (TFT and Keras).
TIE_BREAKS = ("bytes_ascending", "bytes_descending")
DEFAULT_TIE_BREAK = "bytes_ascending"

DEFAULT_PAD_TOKEN = "[PAD]"
DEFAULT_OOV_TOKEN = "[UNK]"
# Integer vocabularies follow Keras IntegerLookup's conventions, except the pad: by
# default it is an id (0), not a value, so the value 0 is an ordinary category.
# (Versions published before record the value 0 as their pad and keep it.)
DEFAULT_INT_PAD_TOKEN = None
DEFAULT_INT_OOV_TOKEN = -1
DEFAULT_MISSING_TOKEN = "[MISSING]"
DEFAULT_INT_MISSING_TOKEN = -2

DEFAULT_MAX_TOKEN_BYTES = 1024

# The largest input_dim each id dtype can address: int32 ids reach 2**31 - 1; int64
# ids could go further, but 2**53 (ids exact as float64, e.g. in JSON) is already
# far beyond any embedding table, and a bound keeps a typo from publishing 10**20.
MAX_INPUT_DIM = {"int32": 2**31 - 1, "int64": 2**53}
# Every OOV id is a row of the artifact (vocab.txt, tokens.parquet) and of the
# embedding, so each costs memory when the version is written and loaded.
MAX_NUM_OOV_BUCKETS = 2**22


def is_int(value: Any) -> bool:
    """An integer that is not a bool."""
    return isinstance(value, int) and not isinstance(value, bool)


def _set(group: Any, key: str, value: Any) -> None:
    """Normalize a field of a frozen group (``2.0`` -> ``2``, a list -> a tuple...)."""
    object.__setattr__(group, key, value)


@dataclasses.dataclass(frozen=True)
class TokenizerSpec:
    """How text becomes tokens: see ``VocabSpec`` for each field."""

    tokenizer: str = "whitespace"
    pattern: str | None = None
    lowercase: bool = False
    normalization: str = "none"
    standardize: str | None = None
    ngrams: int | tuple | None = None
    ngram_separator: str = " "

    def __post_init__(self) -> None:
        choice("tokenizer", self.tokenizer, TOKENIZERS)
        choice("normalization", self.normalization, NORMALIZATIONS)
        if not isinstance(self.lowercase, bool):
            raise SpecError(
                "`lowercase` must be true or false. " + received(lowercase=self.lowercase),
                key="lowercase",
            )
        if self.tokenizer == "regex":
            if not isinstance(self.pattern, str) or not self.pattern:
                raise SpecError(
                    "`tokenizer: regex` needs `pattern`, an RE2 delimiter pattern such as "
                    "'[\\s,;]+'. " + received(pattern=self.pattern),
                    key="pattern",
                )
            check_re2(self.pattern)
        elif self.pattern is not None:
            raise SpecError(
                "`pattern` is only used with `tokenizer: regex`; remove it or set "
                "tokenizer to regex. " + received(tokenizer=self.tokenizer, pattern=self.pattern),
                key="pattern",
            )
        self._check_ngrams()
        if self.standardize is not None:
            choice("standardize", self.standardize, STANDARDIZE)

    def _check_ngrams(self) -> None:
        ngrams = self.ngrams
        if ngrams is not None:
            widths = [ngrams] if is_int(ngrams) else ngrams
            if (
                isinstance(widths, (str, bytes))
                or not isinstance(widths, (list, tuple))
                or not widths
                or not all(is_int(n) and n >= 1 for n in widths)
                or len(set(widths)) != len(widths)
            ):
                raise SpecError(
                    "`ngrams` must be an integer n >= 1 (widths 1..n) or a list of distinct "
                    "widths >= 1, e.g. 2 or [1, 2]; or leave it unset. " + received(ngrams=ngrams),
                    key="ngrams",
                )
            resolved = tuple(range(1, ngrams + 1)) if is_int(ngrams) else tuple(sorted(widths))
            _set(self, "ngrams", resolved)
            if self.tokenizer == "none":
                raise SpecError(
                    "`ngrams` needs a tokenizer that splits text into words (whitespace, "
                    "regex, unicode_script); with `tokenizer: none` each value is one token. "
                    + received(tokenizer=self.tokenizer, ngrams=list(resolved)),
                    key="ngrams",
                )
        if not isinstance(self.ngram_separator, str) or not self.ngram_separator:
            raise SpecError(
                "`ngram_separator` must be a non-empty string (default ' ', as Keras). "
                + received(ngram_separator=self.ngram_separator),
                key="ngram_separator",
            )


@dataclasses.dataclass(frozen=True)
class SelectionSpec:
    """Which counted tokens are learned, and in which order: see ``VocabSpec``."""

    min_count: int | float = 1
    max_tokens: int | None = None
    max_token_bytes: int | None = DEFAULT_MAX_TOKEN_BYTES
    min_document_count: int | None = None
    max_document_fraction: float | None = None
    tie_break: str = DEFAULT_TIE_BREAK

    def __post_init__(self) -> None:
        if isinstance(self.max_token_bytes, str) and self.max_token_bytes.lower() == "none":
            _set(self, "max_token_bytes", None)  # lifts the limit
        self._check_min_count()
        choice("tie_break", self.tie_break, TIE_BREAKS)
        for key in ("max_tokens", "max_token_bytes"):
            if getattr(self, key) is not None:
                positive_int(key, getattr(self, key), "or leave it unset")
        if self.min_document_count is not None:
            positive_int(
                "min_document_count",
                self.min_document_count,
                "tokens in fewer documents are dropped; or leave it unset",
            )
        fraction = self.max_document_fraction
        if fraction is not None:
            if (
                isinstance(fraction, bool)
                or not isinstance(fraction, (int, float))
                or not 0 < fraction <= 1
            ):
                raise SpecError(
                    "`max_document_fraction` must be a number in (0, 1]: tokens in a larger "
                    "share of the documents are dropped (e.g. 0.9 for stopwords); or leave it "
                    "unset. " + received(max_document_fraction=fraction),
                    key="max_document_fraction",
                )
            _set(self, "max_document_fraction", float(fraction))

    def _check_min_count(self) -> None:
        value = self.min_count
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or not math.isfinite(value)
            or value <= 0
        ):
            raise SpecError(
                "`min_count` must be a number > 0 (an integer, or a fraction such as 0.5 for "
                "weighted counts): tokens seen fewer times are dropped. "
                + received(min_count=value),
                key="min_count",
            )
        if isinstance(value, float) and value.is_integer():
            # 2.0 is 2: the same spec dict and fingerprint as the integer.
            _set(self, "min_count", int(value))


@dataclasses.dataclass(frozen=True)
class LayoutSpec:
    """The ids: 0 pad, ``1..k`` OOV, reserved tokens, then learned ones; ``input_dim``'s
    bounds and the encoded rows' length. See ``VocabSpec`` for each field."""

    num_oov_buckets: int = 1
    reserved_tokens: tuple = ()
    pad_token: str | int | None = None
    oov_token: str | int | None = None
    capacity: int | None = None
    pad_to_multiple_of: int | None = None
    id_dtype: str = "int32"
    sequence_length: int | None = None

    def __post_init__(self) -> None:
        choice("id_dtype", self.id_dtype, ID_DTYPES)
        positive_int(
            "num_oov_buckets",
            self.num_oov_buckets,
            "at least one OOV id is needed so unknown tokens never get -1",
        )
        for key in ("capacity", "sequence_length", "pad_to_multiple_of"):
            if getattr(self, key) is not None:
                positive_int(key, getattr(self, key), "or leave it unset")
        self._check_sizes()
        reserved = self.reserved_tokens
        if isinstance(reserved, (str, bytes)) or not isinstance(reserved, (list, tuple)):
            raise SpecError(
                "`reserved_tokens` must be a list of tokens, e.g. ['[CLS]', '[SEP]']. "
                + received(reserved_tokens=reserved),
                key="reserved_tokens",
            )
        _set(self, "reserved_tokens", tuple(reserved))
        for name in ("pad_token", "oov_token"):
            check_token_type(name, getattr(self, name))
        self._check_reserved_tokens()
        for integer in (False, True):
            pad, oov = self.resolved_pad_token(integer), self.resolved_oov_token(integer)
            if pad == oov:
                raise SpecError(
                    "`pad_token` and `oov_token` must differ: padding is id 0, OOV is 1..k. "
                    + received(pad_token=pad, oov_token=oov),
                    key="oov_token",
                )

    def _check_sizes(self) -> None:
        """Refuse sizes no artifact can hold, before anything is allocated."""
        if self.num_oov_buckets > MAX_NUM_OOV_BUCKETS:
            raise SpecError(
                f"`num_oov_buckets` may be at most {MAX_NUM_OOV_BUCKETS:,}: each OOV id is a "
                "row of the artifact and of the embedding. Use fewer buckets (hash "
                "high-cardinality values into a separate keras.layers.Hashing input). "
                + received(num_oov_buckets=self.num_oov_buckets),
                key="num_oov_buckets",
            )
        limit = MAX_INPUT_DIM.get(self.id_dtype, MAX_INPUT_DIM["int32"])
        if self.id_dtype == "int32":
            fix = "Lower it, or set id_dtype: int64 (input_dim up to 2**53)"
        else:
            fix = "Lower it"
        for key in ("capacity", "pad_to_multiple_of"):
            value = getattr(self, key)
            if is_int(value) and value > limit:
                raise SpecError(
                    f"`{key}` {value:,} is larger than the largest input_dim {self.id_dtype} "
                    f"ids can address ({limit:,}). {fix}. " + received(**{key: value}),
                    key=key,
                )
        multiple = self.pad_to_multiple_of
        if is_int(multiple) and multiple > 1:
            # The smallest input_dim this spec can have, rounded up: past the limit, no
            # vocabulary built with it could be published.
            smallest = self.capacity if is_int(self.capacity) else 1 + self.num_oov_buckets
            rounded = -(-smallest // multiple) * multiple
            if rounded > limit:
                raise SpecError(
                    f"`pad_to_multiple_of` {multiple:,} rounds input_dim up to {rounded:,}, "
                    f"larger than the largest input_dim {self.id_dtype} ids can address "
                    f"({limit:,}). {fix}. "
                    + received(pad_to_multiple_of=multiple, capacity=self.capacity),
                    key="pad_to_multiple_of",
                )

    def _check_reserved_tokens(self) -> None:
        """All of one kind, none empty, none twice, and neither the pad nor the OOV label."""
        kinds = {type(t) for t in self.reserved_tokens}
        if not kinds <= {str} and not kinds <= {int}:
            raise SpecError(
                "`reserved_tokens` must be all strings or all integers. "
                + received(reserved_tokens=list(self.reserved_tokens)),
                key="reserved_tokens",
            )
        if any(t == "" for t in self.reserved_tokens):
            raise SpecError(
                "`reserved_tokens` may not contain the empty string: no tokenizer emits it. "
                + received(reserved_tokens=list(self.reserved_tokens)),
                key="reserved_tokens",
            )
        seen: dict = {}
        for position, token in enumerate(self.reserved_tokens):
            if token in seen:
                raise SpecError(
                    f"`reserved_tokens` lists {token!r} twice (positions {seen[token]} and "
                    f"{position}); each token can have only one id. Remove the duplicate. "
                    + received(reserved_tokens=list(self.reserved_tokens)),
                    key="reserved_tokens",
                )
            seen[token] = position
        # Compare the resolved special tokens (defaults included: '[PAD]'/'[UNK]' for
        # string tokens, 0/-1 for integers), so the pad token always maps to 0 and
        # the OOV label always stays OOV.
        integer = bool(self.reserved_tokens) and kinds <= {int}
        for name in ("pad_token", "oov_token"):
            value = getattr(self, f"resolved_{name}")(integer)
            if self.reserved_tokens and value in seen:
                default = "" if getattr(self, name) is not None else " (the default)"
                raise SpecError(
                    f"`reserved_tokens` contains the {name} {value!r}{default}, which already "
                    "has its own id; remove it from reserved_tokens. "
                    + received(reserved_tokens=list(self.reserved_tokens), **{name: value}),
                    key="reserved_tokens",
                )

    def resolved_pad_token(self, integer: bool) -> str | int | None:
        """The pad token for string (``integer=False``) or integer vocabularies
        (``None``: integers by default, where the pad is the id 0 and no value)."""
        if self.pad_token is not None:
            return self.pad_token
        return DEFAULT_INT_PAD_TOKEN if integer else DEFAULT_PAD_TOKEN

    def resolved_oov_token(self, integer: bool) -> str | int:
        """The OOV label for string (``integer=False``) or integer vocabularies."""
        if self.oov_token is not None:
            return self.oov_token
        return DEFAULT_INT_OOV_TOKEN if integer else DEFAULT_OOV_TOKEN


@dataclasses.dataclass(frozen=True)
class MissingSpec:
    """What a null, absent or empty value becomes, and the shape values may have."""

    missing: str = "error"
    missing_token: str | int | None = None
    value_shape: str = "any"

    def __post_init__(self) -> None:
        choice("missing", self.missing, MISSING_POLICIES)
        choice("value_shape", self.value_shape, VALUE_SHAPES)
        if self.missing_token is not None and self.missing != "token":
            raise SpecError(
                "`missing_token` is only used with `missing: token`; set missing: token or "
                "remove missing_token. "
                + received(missing=self.missing, missing_token=self.missing_token),
                key="missing_token",
            )
        if self.missing_token == "":
            raise SpecError(
                "`missing_token` may not be the empty string (an empty value is itself "
                "missing); use a token such as '[MISSING]'. " + received(missing_token=""),
                key="missing_token",
            )
        check_token_type("missing_token", self.missing_token)

    def resolved_missing_token(self, integer: bool) -> str | int | None:
        """The token of ``missing: token`` (``None`` under other policies)."""
        if self.missing != "token":
            return None
        if self.missing_token is not None:
            return self.missing_token
        return DEFAULT_INT_MISSING_TOKEN if integer else DEFAULT_MISSING_TOKEN


@dataclasses.dataclass(frozen=True)
class WordPieceSpec:
    """The WordPiece learner's and pre-tokenizer's options; each is refused unless
    ``tokenizer`` (given to the constructor, not kept) is ``wordpiece``."""

    vocab_size: int | None = None
    joiner: str | None = None
    max_chars_per_word: int | None = None
    split_cjk: bool = False
    strip_accents: bool = False
    clean_text: bool = False
    never_split: tuple = ()
    tokenizer: dataclasses.InitVar[str] = "wordpiece"

    def __post_init__(self, tokenizer: str) -> None:
        if tokenizer == "wordpiece":
            self._check_options()
        else:
            for key in ("vocab_size", "joiner", "max_chars_per_word"):
                if getattr(self, key) is not None:
                    raise SpecError(
                        f"`{key}` is only used with `tokenizer: wordpiece`; remove it or set "
                        "tokenizer to wordpiece. "
                        + received(tokenizer=tokenizer, **{key: getattr(self, key)}),
                        key=key,
                    )
        for key in ("split_cjk", "strip_accents", "clean_text"):
            value = getattr(self, key)
            if not isinstance(value, bool):
                raise SpecError(
                    f"`{key}` must be true or false. " + received(**{key: value}), key=key
                )
            if value and tokenizer != "wordpiece":
                raise SpecError(
                    f"`{key}` is BERT's pre-tokenizer option and only used with `tokenizer: "
                    "wordpiece`; remove it or set tokenizer to wordpiece. "
                    + received(tokenizer=tokenizer, **{key: value}),
                    key=key,
                )

        if self.never_split != ():
            self._check_never_split(tokenizer)

    def _check_never_split(self, tokenizer: str) -> None:
        """A list of non-empty tokens without whitespace (that each is one of the spec's
        special tokens is a rule between groups: ``VocabSpec``)."""
        tokens = self.never_split
        if isinstance(tokens, (str, bytes)) or not isinstance(tokens, (list, tuple)):
            raise SpecError(
                "`never_split` must be a list of special tokens, e.g. ['[CLS]', '[SEP]']. "
                + received(never_split=tokens),
                key="never_split",
            )
        object.__setattr__(self, "never_split", tuple(tokens))
        if tokenizer != "wordpiece":
            raise SpecError(
                "`never_split` is BERT's pre-tokenizer option and only used with `tokenizer: "
                "wordpiece`; remove it or set tokenizer to wordpiece. "
                + received(tokenizer=tokenizer, never_split=list(tokens)),
                key="never_split",
            )
        for token in tokens:
            if not isinstance(token, str) or token == "" or any(c.isspace() for c in token):
                raise SpecError(
                    "`never_split` holds only non-empty strings without whitespace (each "
                    "is kept as one word). " + received(never_split=list(tokens)),
                    key="never_split",
                )

    def _check_options(self) -> None:
        if self.vocab_size is None:
            raise SpecError(
                "`tokenizer: wordpiece` needs `vocab_size`, the target number of learned "
                "pieces (e.g. 30000, as BERT). " + received(vocab_size=None),
                key="vocab_size",
            )
        positive_int("vocab_size", self.vocab_size, "the target number of learned pieces")
        if self.max_chars_per_word is not None:
            positive_int("max_chars_per_word", self.max_chars_per_word, "longer words are OOV")
        joiner = self.joiner
        if joiner is not None and (
            not isinstance(joiner, str) or not joiner or any(c.isspace() for c in joiner)
        ):
            raise SpecError(
                "`joiner` must be a non-empty string without whitespace (default '##'). "
                + received(joiner=joiner),
                key="joiner",
            )


GROUPS = (TokenizerSpec, SelectionSpec, LayoutSpec, MissingSpec, WordPieceSpec)


def choice(key: str, value: Any, allowed: tuple) -> None:
    """Refuse a ``value`` of ``key`` that is not one of ``allowed``."""
    if value not in allowed:
        raise SpecError(
            f"`{key}` must be one of {', '.join(map(str, allowed))}. " + received(**{key: value}),
            key=key,
        )


def positive_int(key: str, value: Any, why: str) -> None:
    """Refuse a ``value`` of ``key`` that is not an integer >= 1 (``why`` says what for)."""
    if not is_int(value) or value < 1:
        raise SpecError(
            f"`{key}` must be an integer >= 1: {why}. " + received(**{key: value}), key=key
        )


def check_token_type(name: str, value: Any) -> None:
    """A special token (pad, OOV, missing) is a string or an integer, or unset."""
    if value is not None and not (isinstance(value, str) or is_int(value)):
        raise SpecError(
            f"`{name}` must be a string (or an integer for integer values). "
            + received(**{name: value}),
            key=name,
        )


def check_re2(pattern: str) -> None:
    """Refuse a pattern RE2 cannot compile, or one that can match the empty string."""
    # The pattern runs in RE2 on every path (pyarrow and tensorflow-text), so
    # validate it with RE2 through pyarrow rather than Python's `re`.

    try:
        matches_empty = pc.count_substring_regex(pa.array([""]), pattern)[0].as_py() > 0
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as err:
        raise SpecError(
            f"`pattern` is not a valid RE2 regular expression ({err}). "
            + received(pattern=pattern),
            key="pattern",
        ) from None
    # A delimiter that can match the empty string splits between every
    # character (and hangs Arrow's splitter). RE2 cannot be asked "can this
    # match empty anywhere?", so probe with Python's `re` where the syntax is
    # shared, and with RE2 itself for every pattern (RE2-only syntax such as
    # \pL?\b): wrap each match in markers; an empty match leaves them adjacent.
    probes = ("a b", "ab, c;d", "x1 2y", "\n\t", "é 日本 ", ".-_")
    if not matches_empty:
        try:
            compiled = re.compile(pattern)
        except re.error:
            compiled = None
        if compiled is not None:
            matches_empty = any(
                m.start() == m.end() for probe in probes for m in compiled.finditer(probe)
            )
    if not matches_empty:
        marked = pc.replace_substring_regex(pa.array(probes), pattern, "\x01\\0\x02")
        matches_empty = any("\x01\x02" in text for text in marked.to_pylist())
    if matches_empty:
        raise SpecError(
            "`pattern` can match the empty string, so it would split between every "
            "character; use a pattern that always consumes text, e.g. '[\\s,]+' rather "
            "than '[\\s,]*'. " + received(pattern=pattern),
            key="pattern",
        )
