"""``VocabSpec``: how text becomes tokens, and which tokens get ids.

A spec is frozen and validated on construction, so an invalid spec never
exists. It loads from YAML (``configs/*.yaml``), from a dict, or from CLI flags.

>>> spec = VocabSpec(tokenizer="whitespace", lowercase=True, max_tokens=1000)
>>> spec.num_oov_buckets, spec.id_dtype
(1, 'int32')
>>> VocabSpec(min_count=0)
Traceback (most recent call last):
...
vocabguard.errors.SpecError: `min_count` must be a number > 0 (an integer, or a fraction such as 0.5 for weighted counts): tokens seen fewer times are dropped. Received: min_count=0
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from typing import Any

from vocabguard._src.core.errors import ConfigError, SpecError, check_keys, received

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


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


DEFAULT_MAX_TOKEN_BYTES = 1024

# The largest input_dim each id dtype can address: int32 ids reach 2**31 - 1; int64
# ids could go further, but 2**53 (ids exact as float64, e.g. in JSON) is already
# far beyond any embedding table, and a bound keeps a typo from publishing 10**20.
MAX_INPUT_DIM = {"int32": 2**31 - 1, "int64": 2**53}
# Every OOV id is a row of the artifact (vocab.txt, tokens.parquet) and of the
# embedding, so each costs memory when the version is written and loaded.
MAX_NUM_OOV_BUCKETS = 2**22


@dataclasses.dataclass(frozen=True)
class VocabSpec:
    """What a vocabulary is built from and how text maps to ids.

    Attributes:
        tokenizer: ``whitespace`` (split on Unicode White_Space), ``unicode_script``
            (tensorflow-text's ICU script tokenizer), ``regex`` (split on matches of
            ``pattern``, RE2 syntax) or ``none`` (each value is one token; strings
            or integers, like Keras ``StringLookup`` / ``IntegerLookup``).
        pattern: the RE2 delimiter pattern; required with ``tokenizer: regex``.
        lowercase: lowercase with full Unicode case mapping (``str.lower``).
        normalization: Unicode normalization applied before lowercasing.
        min_count: learned tokens must occur at least this often (a token is kept
            when its count, or weighted count, is ``>= min_count``). An integer, or a
            number > 0 such as ``0.5`` for weighted counts (TFT's ``frequency_threshold``
            on weights); a whole float such as ``2.0`` is the integer ``2``.
        max_tokens: cap on learned tokens (reserved, pad and OOV ids not counted).
        num_oov_buckets: OOV ids ``1..k``; unknown tokens hash into them. At most
            ``MAX_NUM_OOV_BUCKETS`` (4,194,304).
        reserved_tokens: tokens placed right after the OOV ids, in this order.
        pad_token: the token at id 0 (default ``[PAD]``). Integer vocabularies have no
            pad value by default: id 0 is padding only and every integer, 0 included,
            is a category; an explicit integer ``pad_token`` found in the data is an
            error (it would be masked).
        oov_token: the label of the OOV ids (default ``[UNK]``, or ``-1``).
        capacity: fixed ``input_dim``, leaving room to grow; must fit the layout, and
            the id dtype (``MAX_INPUT_DIM``: 2**31 - 1 for int32, 2**53 for int64).
        max_token_bytes: tokens longer than this (UTF-8 bytes) are never learned (they
            map to the OOV ids, and the build's stats count them). Default 1024, so a
            runaway token cannot become a huge vocabulary entry; ``None`` (``none`` in
            YAML or on the command line) lifts the limit.
        sequence_length: pad (with id 0) or truncate encoded rows to this length.
        id_dtype: ``int32`` or ``int64`` ids; input_dim (capacity, rounded up by
            ``pad_to_multiple_of``) is at most 2**31 - 1 with int32, 2**53 with int64.
        missing: what a null, absent or empty value becomes: ``error`` (the
            default: a bad record), ``skip`` (dropped and counted; the pad id 0
            when a scalar must be encoded), ``oov`` (the OOV id 1) or ``token``
            (``missing_token``, a reserved token with a fixed id: the first
            reserved id, ``num_oov_buckets + 1``).
        missing_token: the token of ``missing: token`` (default ``[MISSING]``, or
            ``-2`` for integer values).
        pad_to_multiple_of: round ``input_dim`` up to a multiple of this (8, 128
            for accelerators); the extra rows are unused, like ``capacity``'s.
        value_shape: ``any`` (a record holds one value or a list of values),
            ``scalar`` (a list is a bad record) or ``list`` (a single value is a
            bad record). Each element of a list is one value (``tokenizer: none``)
            or one text.
        min_document_count: learned tokens must occur in at least this many
            documents (records); like scikit-learn's integer ``min_df``.
        max_document_fraction: learned tokens may occur in at most this share of
            the documents (a number in (0, 1]; e.g. 0.9 drops stopwords); a token
            is kept when ``documents <= floor(fraction * total_documents)``, the
            fraction read as the decimal it is written as. Setting either field
            records each token's document count in ``tokens.parquet``.
        ngrams: n-grams of the tokenizer's output become the tokens: ``2`` means
            widths 1..2 (Keras ``TextVectorization(ngrams=2)``), a list such as
            ``[1, 3]`` those widths. Each row's tokens are its 1-grams, then its
            2-grams, ... (``tf.strings.ngrams``' order); a row shorter than ``n``
            has no n-grams. Needs a splitting tokenizer.
        ngram_separator: joins the words of an n-gram (default one space, as Keras).
        vocab_size: with ``tokenizer: wordpiece`` (required): the target number of
            learned pieces (tensorflow-text's WordPiece learner; it keeps the whole
            alphabet, so the result may exceed it slightly).
        joiner: with ``tokenizer: wordpiece``: the prefix of pieces that continue a
            word (default ``##``).
        max_chars_per_word: with ``tokenizer: wordpiece``: longer words (in
            characters) are OOV and not learned from (default 100, as BERT).
        standardize: Keras ``TextVectorization``'s standardization, applied after
            ``normalization`` and ``lowercase`` and before splitting: ``lower``
            (ASCII lowercasing, as ``tf.strings.lower``), ``strip_punctuation``
            (removes Keras' punctuation class, ``STRIP_PUNCTUATION``) or
            ``lower_and_strip_punctuation`` (both: ``"Don't!"`` -> ``dont``). Default
            ``None``: none of it.
        split_cjk: with ``tokenizer: wordpiece``: every CJK ideograph is a word of
            its own (BERT's ``handle_chinese_chars``; its code point ranges).
        strip_accents: with ``tokenizer: wordpiece``: after lowercasing, decompose
            (NFD) and drop nonspacing marks (category Mn), as BERT's uncased models do.
        tie_break: the order of learned tokens with equal counts, and so which of them
            a ``max_tokens`` cut keeps: ``bytes_ascending`` (the default: UTF-8 bytes,
            integers by value, ascending) or ``bytes_descending`` (TFT's and Keras'
            order, e.g. ``compute_and_apply_vocabulary(top_k=...)`` and
            ``StringLookup(max_tokens=...)``).
    """

    tokenizer: str = "whitespace"
    pattern: str | None = None
    lowercase: bool = False
    normalization: str = "none"
    min_count: int | float = 1
    max_tokens: int | None = None
    num_oov_buckets: int = 1
    reserved_tokens: tuple = ()
    pad_token: str | int | None = None
    oov_token: str | int | None = None
    capacity: int | None = None
    max_token_bytes: int | None = DEFAULT_MAX_TOKEN_BYTES
    sequence_length: int | None = None
    id_dtype: str = "int32"
    missing: str = "error"
    missing_token: str | int | None = None
    pad_to_multiple_of: int | None = None
    value_shape: str = "any"
    min_document_count: int | None = None
    max_document_fraction: float | None = None
    ngrams: int | tuple | None = None
    ngram_separator: str = " "
    vocab_size: int | None = None
    joiner: str | None = None
    max_chars_per_word: int | None = None
    standardize: str | None = None
    split_cjk: bool = False
    strip_accents: bool = False
    tie_break: str = DEFAULT_TIE_BREAK

    def __post_init__(self) -> None:
        if isinstance(self.max_token_bytes, str) and self.max_token_bytes.lower() == "none":
            object.__setattr__(self, "max_token_bytes", None)  # lifts the limit
        _choice("tokenizer", self.tokenizer, TOKENIZERS)
        _choice("missing", self.missing, MISSING_POLICIES)
        _choice("value_shape", self.value_shape, VALUE_SHAPES)
        _choice("normalization", self.normalization, NORMALIZATIONS)
        _choice("id_dtype", self.id_dtype, ID_DTYPES)
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
            _check_re2(self.pattern)
        elif self.pattern is not None:
            raise SpecError(
                "`pattern` is only used with `tokenizer: regex`; remove it or set "
                "tokenizer to regex. " + received(tokenizer=self.tokenizer, pattern=self.pattern),
                key="pattern",
            )
        if (
            self.tokenizer == "none"
            and self.sequence_length is not None
            and self.value_shape != "list"
        ):
            raise SpecError(
                "`sequence_length` applies to tokenized text or lists; with `tokenizer: none` "
                "each value is one id. Remove sequence_length, or set value_shape: list for "
                "list-valued fields. " + received(sequence_length=self.sequence_length),
                key="sequence_length",
            )
        self._check_min_count()
        _choice("tie_break", self.tie_break, TIE_BREAKS)
        _positive_int(
            "num_oov_buckets",
            self.num_oov_buckets,
            "at least one OOV id is needed so unknown tokens never get -1",
        )
        for key in (
            "max_tokens",
            "capacity",
            "max_token_bytes",
            "sequence_length",
            "pad_to_multiple_of",
        ):
            if getattr(self, key) is not None:
                _positive_int(key, getattr(self, key), "or leave it unset")
        self._check_sizes()
        if self.min_document_count is not None:
            _positive_int(
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
            object.__setattr__(self, "max_document_fraction", float(fraction))
        self._check_ngrams()
        self._check_wordpiece()
        if self.standardize is not None:
            _choice("standardize", self.standardize, STANDARDIZE)
        for key in ("split_cjk", "strip_accents"):
            value = getattr(self, key)
            if not isinstance(value, bool):
                raise SpecError(
                    f"`{key}` must be true or false. " + received(**{key: value}), key=key
                )
            if value and self.tokenizer != "wordpiece":
                raise SpecError(
                    f"`{key}` is BERT's pre-tokenizer option and only used with `tokenizer: "
                    "wordpiece`; remove it or set tokenizer to wordpiece. "
                    + received(tokenizer=self.tokenizer, **{key: value}),
                    key=key,
                )
        reserved = self.reserved_tokens
        if isinstance(reserved, (str, bytes)) or not isinstance(reserved, (list, tuple)):
            raise SpecError(
                "`reserved_tokens` must be a list of tokens, e.g. ['[CLS]', '[SEP]']. "
                + received(reserved_tokens=reserved),
                key="reserved_tokens",
            )
        object.__setattr__(self, "reserved_tokens", tuple(reserved))
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
        for name in ("pad_token", "oov_token", "missing_token"):
            value = getattr(self, name)
            if value is not None and not (isinstance(value, str) or _is_int(value)):
                raise SpecError(
                    f"`{name}` must be a string (or an integer for integer values). "
                    + received(**{name: value}),
                    key=name,
                )
        self._check_special_tokens()

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
            if _is_int(value) and value > limit:
                raise SpecError(
                    f"`{key}` {value:,} is larger than the largest input_dim {self.id_dtype} "
                    f"ids can address ({limit:,}). {fix}. " + received(**{key: value}),
                    key=key,
                )
        multiple = self.pad_to_multiple_of
        if _is_int(multiple) and multiple > 1:
            # The smallest input_dim this spec can have, rounded up: past the limit, no
            # vocabulary built with it could be published.
            smallest = self.capacity if _is_int(self.capacity) else 1 + self.num_oov_buckets
            rounded = -(-smallest // multiple) * multiple
            if rounded > limit:
                raise SpecError(
                    f"`pad_to_multiple_of` {multiple:,} rounds input_dim up to {rounded:,}, "
                    f"larger than the largest input_dim {self.id_dtype} ids can address "
                    f"({limit:,}). {fix}. "
                    + received(pad_to_multiple_of=multiple, capacity=self.capacity),
                    key="pad_to_multiple_of",
                )

    def _check_special_tokens(self) -> None:
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
        for integer in (False, True):
            pad, oov = self.resolved_pad_token(integer), self.resolved_oov_token(integer)
            if pad == oov:
                raise SpecError(
                    "`pad_token` and `oov_token` must differ: padding is id 0, OOV is 1..k. "
                    + received(pad_token=pad, oov_token=oov),
                    key="oov_token",
                )
        if self.missing == "token":
            explicit = self.missing_token is not None
            for integer in (_is_int(self.missing_token),) if explicit else (False, True):
                token = self.resolved_missing_token(integer)
                for name, other in (
                    ("pad_token", self.resolved_pad_token(integer)),
                    ("oov_token", self.resolved_oov_token(integer)),
                ):
                    if token == other:
                        raise SpecError(
                            f"`missing_token` {token!r} equals the {name}; a missing value needs "
                            "its own id. Choose another missing_token. "
                            + received(missing_token=token, **{name: other}),
                            key="missing_token",
                        )
                if token in seen:
                    raise SpecError(
                        f"`reserved_tokens` contains the missing_token {token!r}, which already "
                        "has its own id (the first reserved id); remove it from reserved_tokens. "
                        + received(reserved_tokens=list(self.reserved_tokens), missing_token=token),
                        key="reserved_tokens",
                    )

    def _check_ngrams(self) -> None:
        ngrams = self.ngrams
        if ngrams is not None:
            widths = [ngrams] if _is_int(ngrams) else ngrams
            if (
                isinstance(widths, (str, bytes))
                or not isinstance(widths, (list, tuple))
                or not widths
                or not all(_is_int(n) and n >= 1 for n in widths)
                or len(set(widths)) != len(widths)
            ):
                raise SpecError(
                    "`ngrams` must be an integer n >= 1 (widths 1..n) or a list of distinct "
                    "widths >= 1, e.g. 2 or [1, 2]; or leave it unset. " + received(ngrams=ngrams),
                    key="ngrams",
                )
            resolved = tuple(range(1, ngrams + 1)) if _is_int(ngrams) else tuple(sorted(widths))
            object.__setattr__(self, "ngrams", resolved)
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

    def _check_wordpiece(self) -> None:
        fields = ("vocab_size", "joiner", "max_chars_per_word")
        if self.tokenizer != "wordpiece":
            for key in fields:
                if getattr(self, key) is not None:
                    raise SpecError(
                        f"`{key}` is only used with `tokenizer: wordpiece`; remove it or set "
                        "tokenizer to wordpiece. "
                        + received(tokenizer=self.tokenizer, **{key: getattr(self, key)}),
                        key=key,
                    )
            return
        if self.vocab_size is None:
            raise SpecError(
                "`tokenizer: wordpiece` needs `vocab_size`, the target number of learned "
                "pieces (e.g. 30000, as BERT). " + received(vocab_size=None),
                key="vocab_size",
            )
        _positive_int("vocab_size", self.vocab_size, "the target number of learned pieces")
        if self.max_chars_per_word is not None:
            _positive_int("max_chars_per_word", self.max_chars_per_word, "longer words are OOV")
        joiner = self.joiner
        if joiner is not None and (
            not isinstance(joiner, str) or not joiner or any(c.isspace() for c in joiner)
        ):
            raise SpecError(
                "`joiner` must be a non-empty string without whitespace (default '##'). "
                + received(joiner=joiner),
                key="joiner",
            )
        reserved = self.reserved_tokens if isinstance(self.reserved_tokens, (list, tuple)) else ()
        named = [("joiner", joiner), ("pad_token", self.pad_token), ("oov_token", self.oov_token)]
        for key, text in [*named, *(("reserved_tokens", t) for t in reserved)]:
            if isinstance(text, str) and ("\x00" in text or "\x11" in text):
                raise SpecError(
                    f"`{key}` holds {text!r}: with `tokenizer: wordpiece` no piece or token "
                    "may hold U+0000 or U+0011, which tensorflow-text's WordPiece tokenizer "
                    "(the tf.data path) cannot hold. Remove those characters. "
                    + received(**{key: text}),
                    key=key,
                )
        unsupported = {
            "max_tokens": self.max_tokens is not None,
            "ngrams": self.ngrams is not None,
            "num_oov_buckets": self.num_oov_buckets != 1,
            "missing": self.missing != "error",
            "value_shape": self.value_shape == "list",
            "min_document_count": self.min_document_count is not None,
            "max_document_fraction": self.max_document_fraction is not None,
            "standardize": self.standardize is not None,
            "tie_break": self.tie_break != DEFAULT_TIE_BREAK,
        }
        for key, bad in unsupported.items():
            if bad:
                raise SpecError(
                    f"`{key}` is not supported with `tokenizer: wordpiece` (one OOV id, as "
                    "BERT's [UNK]; the size is set by vocab_size; one text per value). Remove "
                    f"{key} or use another tokenizer. " + received(**{key: getattr(self, key)}),
                    key=key,
                )

    def _check_min_count(self) -> None:
        import math

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
            object.__setattr__(self, "min_count", int(value))

    def min_count_units(self, count_scale: int = 1) -> int:
        """The least count, in units of ``1 / count_scale``, a learned token needs.

        ``ceil(min_count * count_scale)``, with ``min_count`` read as the decimal it is
        written as (so 0.5 with weights in 1e-6 units is exactly 500000).

        >>> VocabSpec(min_count=3).min_count_units(), VocabSpec(min_count=0.5).min_count_units()
        (3, 1)
        >>> VocabSpec(min_count=0.51).min_count_units(1_000_000)
        510000
        """
        if isinstance(self.min_count, int):
            return self.min_count * count_scale
        import math
        from fractions import Fraction

        return math.ceil(Fraction(repr(self.min_count)) * count_scale)

    @property
    def counts_documents(self) -> bool:
        """Whether builds count, per token, the documents that hold it."""
        return self.min_document_count is not None or self.max_document_fraction is not None

    def max_documents(self, total_documents: int) -> int | None:
        """The most documents a learned token may occur in (``None``: no limit).

        >>> VocabSpec(max_document_fraction=0.29).max_documents(100)
        29
        """
        if self.max_document_fraction is None:
            return None
        from fractions import Fraction

        return int(Fraction(repr(self.max_document_fraction)) * total_documents)

    # -- special tokens, resolved for the kind of values a vocabulary holds --

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

    def resolved_missing_token(self, integer: bool) -> str | int | None:
        """The token of ``missing: token`` (``None`` under other policies)."""
        if self.missing != "token":
            return None
        if self.missing_token is not None:
            return self.missing_token
        return DEFAULT_INT_MISSING_TOKEN if integer else DEFAULT_MISSING_TOKEN

    def resolved_reserved_tokens(self, integer: bool) -> list:
        """The reserved tokens in id order: the missing token first (``missing: token``)."""
        missing = self.resolved_missing_token(integer)
        head = [missing] if missing is not None else []
        return head + list(self.reserved_tokens)

    # -- serialization --

    def to_dict(self) -> dict[str, Any]:
        """A JSON/YAML-ready dict; ``VocabSpec.from_dict(spec.to_dict()) == spec``."""
        out = dataclasses.asdict(self)
        out["reserved_tokens"] = list(self.reserved_tokens)
        # Absent by default, so specs written before these fields compare equal.
        if self.standardize is None:
            del out["standardize"]
        for key in ("split_cjk", "strip_accents"):
            if not out[key]:
                del out[key]
        if self.tie_break == DEFAULT_TIE_BREAK:
            del out["tie_break"]
        if self.ngrams is not None:
            out["ngrams"] = list(self.ngrams)
        return out

    def replace(self, **changes: Any) -> VocabSpec:
        """A copy with some fields changed (validated like any spec)."""
        return VocabSpec.from_dict({**self.to_dict(), **changes})

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, source: str | None = None) -> VocabSpec:
        """Build a spec from a mapping, rejecting unknown keys by name.

        Args:
            data: field names to values.
            source: where ``data`` came from (a file name), quoted in errors.
        """
        where = f" in {source}" if source else ""
        if not isinstance(data, Mapping):
            raise SpecError(
                f"A vocabulary spec{where} must be a mapping of field names to values. "
                + received(spec=data)
            )
        allowed = [f.name for f in dataclasses.fields(cls)]
        unknown = "Unknown vocabulary spec key '{key}'" + where.replace("{", "{{").replace(
            "}", "}}"
        )
        check_keys(data, allowed, unknown, SpecError)
        try:
            return cls(**dict(data))
        except SpecError as err:
            if source:
                err.message = err.message.replace(". Received:", f" (in {source}). Received:", 1)
                err.args = (err.message,)
            raise

    @classmethod
    def from_yaml(cls, path: str | os.PathLike, *, key: str | None = None) -> VocabSpec:
        """Load a spec from a YAML file, optionally from a nested mapping ``key``."""
        data = load_yaml(path)
        if key is not None:
            if not isinstance(data, Mapping) or key not in data:
                raise ConfigError(
                    f"{path} has no '{key}' section; add one holding the vocabulary spec. "
                    + received(path=str(path), key=key)
                )
            data = data[key]
        return cls.from_dict(data or {}, source=str(path))


# Config files are small; these bounds keep a hostile one from taking the host's
# memory. Aliases (``*name``) count at each use, so a 400-byte "billion laughs"
# (nine aliases of nine aliases ...) is refused before it is expanded.
MAX_CONFIG_BYTES = 64 << 20
MAX_CONFIG_VALUES = 1_000_000


def load_yaml(path: str | os.PathLike) -> Any:
    """Read a YAML config file: the one YAML loader of vocabguard.

    Missing files, syntax errors, files over ``MAX_CONFIG_BYTES`` and documents
    whose aliases expand to more than ``MAX_CONFIG_VALUES`` values are one-line
    ``ConfigError``s; nothing is expanded before the count is known.

    >>> import pathlib, tempfile
    >>> bomb = pathlib.Path(tempfile.mkdtemp()) / "bomb.yaml"
    >>> lines = ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    >>> lines += [f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 10)}]"
    ...           for i in range(8)]
    >>> _ = bomb.write_text("\\n".join(lines))
    >>> load_yaml(bomb)
    Traceback (most recent call last):
    ...
    vocabguard.errors.ConfigError: Config file ... expands to more than 1,000,000 values...
    """
    import stat

    import yaml

    where = f"Config file {path}"
    try:
        # Checked before opening: opening a FIFO would wait for a writer.
        if not stat.S_ISREG(os.stat(path).st_mode):
            raise ConfigError(
                f"{where} is not a regular file; pass a YAML file. " + received(path=str(path))
            )
        with open(path, "rb") as handle:
            data = handle.read(MAX_CONFIG_BYTES + 1)
    except FileNotFoundError:
        raise ConfigError(
            f"{where} does not exist; check the path. " + received(path=str(path))
        ) from None
    if len(data) > MAX_CONFIG_BYTES:
        raise ConfigError(
            f"{where} is larger than {MAX_CONFIG_BYTES >> 20} MiB, the most a config may "
            "hold; a vocabulary config is a few kilobytes (long token lists belong in the "
            "data). " + received(path=str(path))
        )
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)(data)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        values = _expanded_values(node, where)
        if values > MAX_CONFIG_VALUES:
            raise ConfigError(
                f"{where} expands to more than {MAX_CONFIG_VALUES:,} values: its aliases "
                "(*name) repeat anchored values, each use counted (a YAML alias bomb). Write "
                "the values out without aliases, or shorten the file. " + received(path=str(path))
            )
        return loader.construct_document(node)
    except yaml.YAMLError as err:
        detail = " ".join(str(err).split())
        if len(detail) > 300:
            detail = detail[:300] + "..."
        raise ConfigError(
            f"{where} is not valid YAML: {detail}. Fix the YAML syntax there. "
            + received(path=str(path))
        ) from None
    except RecursionError:
        raise ConfigError(
            f"{where} nests its values too deeply to read; a config is a few levels deep. "
            "Fix the file. " + received(path=str(path))
        ) from None
    finally:
        loader.dispose()


def _expanded_values(root: Any, where: str) -> int:
    """How many values the YAML node graph ``root`` holds once every alias is
    expanded (each use counted), without expanding it: a sum over the graph's nodes,
    each visited once. Counting stops just past ``MAX_CONFIG_VALUES``; an alias
    that holds itself is a ``ConfigError``."""
    import yaml

    def children(node: Any) -> list:
        if isinstance(node, yaml.SequenceNode):
            return node.value
        if isinstance(node, yaml.MappingNode):
            return [part for pair in node.value for part in pair]
        return []

    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()  # the ancestors of the node being visited
    stack: list[tuple[Any, bool]] = [(root, False)]
    while stack:
        node, finished = stack.pop()
        key = id(node)
        if finished:
            open_nodes.discard(key)
            sizes[key] = min(
                1 + sum(sizes[id(child)] for child in children(node)), MAX_CONFIG_VALUES + 1
            )
            continue
        if key in sizes:
            continue
        if key in open_nodes:
            raise ConfigError(
                f"{where}: a YAML alias refers to a value that holds it (a value that "
                "contains itself). Write the values out without the alias. "
                + received(line=node.start_mark.line + 1)
            )
        open_nodes.add(key)
        stack.append((node, True))
        stack.extend((child, False) for child in children(node) if id(child) not in sizes)
    return sizes[id(root)]


def _choice(key: str, value: Any, allowed: tuple) -> None:
    if value not in allowed:
        raise SpecError(
            f"`{key}` must be one of {', '.join(map(str, allowed))}. " + received(**{key: value}),
            key=key,
        )


def _positive_int(key: str, value: Any, why: str) -> None:
    if not _is_int(value) or value < 1:
        raise SpecError(
            f"`{key}` must be an integer >= 1: {why}. " + received(**{key: value}), key=key
        )


def _check_re2(pattern: str) -> None:
    # The pattern runs in RE2 on every path (pyarrow and tensorflow-text), so
    # validate it with RE2 through pyarrow rather than Python's `re`.
    import re

    import pyarrow as pa
    import pyarrow.compute as pc

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
