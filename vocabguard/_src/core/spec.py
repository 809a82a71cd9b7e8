"""``VocabSpec``: how text becomes tokens, and which tokens get ids.

A spec is frozen and validated on construction, so an invalid spec never
exists. It loads from YAML (``configs/*.yaml``), from a dict, or from CLI flags,
all with the same flat keys. Its fields fall into groups, each a small frozen
dataclass that checks itself (``spec_groups``): ``spec.tokenization``,
``spec.selection``, ``spec.id_layout``, ``spec.missing_values`` and
``spec.wordpiece``; the spec checks the rules between them.

>>> spec = VocabSpec(tokenizer="whitespace", lowercase=True, max_tokens=1000)
>>> spec.num_oov_buckets, spec.id_dtype, spec.selection.max_tokens
(1, 'int32', 1000)
>>> VocabSpec(min_count=0)
Traceback (most recent call last):
...
vocabguard.errors.SpecError: `min_count` must be a number > 0 (an integer, or a fraction such as 0.5 for weighted counts): tokens seen fewer times are dropped. Received: min_count=0
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Mapping
from fractions import Fraction
from typing import Any

from vocabguard._src.core.config_yaml import MAX_CONFIG_BYTES, MAX_CONFIG_VALUES, load_yaml
from vocabguard._src.core.errors import ConfigError, SpecError, check_keys, received
from vocabguard._src.core.spec_groups import (
    DEFAULT_MAX_TOKEN_BYTES,
    DEFAULT_TIE_BREAK,
    ID_DTYPES,
    MAX_INPUT_DIM,
    MAX_NUM_OOV_BUCKETS,
    NORMALIZATIONS,
    STANDARDIZE,
    TOKENIZERS,
    LayoutSpec,
    MissingSpec,
    SelectionSpec,
    TokenizerSpec,
    WordPieceSpec,
    is_int,
)

# The groups and their constants live in spec_groups; these names are imported from here.
__all__ = [
    "DEFAULT_MAX_TOKEN_BYTES",
    "ID_DTYPES",
    "MAX_CONFIG_BYTES",
    "MAX_CONFIG_VALUES",
    "MAX_INPUT_DIM",
    "MAX_NUM_OOV_BUCKETS",
    "NORMALIZATIONS",
    "STANDARDIZE",
    "TOKENIZERS",
    "VocabSpec",
    "load_yaml",
]


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
        clean_text: with ``tokenizer: wordpiece``: first drop control (Cc, except tab,
            newline and carriage return), format (Cf) and private-use (Co) characters
            and U+FFFD, as BERT's normalizer does (``wordpiece.CLEAN_RANGES``).
        never_split: with ``tokenizer: wordpiece``: special tokens kept whole where they
            occur in text (BERT's ``[CLS]``, ``[SEP]``, ``[MASK]``, ...): matched before any
            normalization (leftmost, longest first), each one the id of that token. Each
            must be the spec's pad, OOV or a reserved token, without whitespace.
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
    clean_text: bool = False
    never_split: tuple = ()
    tie_break: str = DEFAULT_TIE_BREAK

    def __post_init__(self) -> None:
        # Each group checks and normalizes its own fields; the rules between groups follow.
        tokenization = self._group(TokenizerSpec)
        missing_values = self._group(MissingSpec)
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
        selection = self._group(SelectionSpec)
        id_layout = self._group(LayoutSpec)
        wordpiece = self._group(WordPieceSpec, tokenizer=self.tokenizer)
        groups = (tokenization, selection, id_layout, missing_values, wordpiece)
        object.__setattr__(self, "_groups", groups)
        if self.tokenizer == "wordpiece":
            self._check_wordpiece()
        self._check_missing_token()
        if self.never_split != ():
            self._check_never_split()

    def _check_never_split(self) -> None:
        """Each ``never_split`` token is one of the spec's special tokens (its group checked
        the list itself), so it has an id of its own."""
        tokens = self.never_split
        specials = {self.resolved_pad_token(False), self.resolved_oov_token(False)}
        specials.update(self.reserved_tokens)
        for token in tokens:
            if token not in specials:
                raise SpecError(
                    f"`never_split` lists {token!r}, which is not the spec's pad_token, "
                    "oov_token or one of its reserved_tokens: a token kept whole must have "
                    "its own id. Add it to reserved_tokens, or remove it. "
                    + received(never_split=list(tokens)),
                    key="never_split",
                )

    def _group(self, group: type, **context: Any) -> Any:
        """``group`` built from this spec's fields (so checked), its normalized values
        (``2.0`` -> ``2``, lists -> tuples...) written back to them."""
        names = [f.name for f in dataclasses.fields(group)]
        built = group(**{name: getattr(self, name) for name in names}, **context)
        for name in names:
            object.__setattr__(self, name, getattr(built, name))
        return built

    @property
    def tokenization(self) -> TokenizerSpec:
        """How text becomes tokens: tokenizer, pattern, case, normalization, n-grams."""
        return self._groups[0]

    @property
    def selection(self) -> SelectionSpec:
        """Which counted tokens are learned: counts, documents, caps, ties."""
        return self._groups[1]

    @property
    def id_layout(self) -> LayoutSpec:
        """The ids: OOV buckets, special and reserved tokens, capacity, dtype, length."""
        return self._groups[2]

    @property
    def missing_values(self) -> MissingSpec:
        """What a null, absent or empty value becomes, and the shape values may have."""
        return self._groups[3]

    @property
    def wordpiece(self) -> WordPieceSpec:
        """The WordPiece learner's options (unset unless ``tokenizer: wordpiece``)."""
        return self._groups[4]

    def _check_wordpiece(self) -> None:
        """What ``tokenizer: wordpiece`` cannot hold, or does not support, elsewhere."""
        named = [("joiner", self.joiner), ("pad_token", self.pad_token)]
        named += [("oov_token", self.oov_token)]
        for key, text in [*named, *(("reserved_tokens", t) for t in self.reserved_tokens)]:
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

    def _check_missing_token(self) -> None:
        """The token of ``missing: token`` has an id of its own: it is neither the pad,
        the OOV label, nor a reserved token."""
        if self.missing != "token":
            return
        explicit = self.missing_token is not None
        for integer in (is_int(self.missing_token),) if explicit else (False, True):
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
            if token in self.reserved_tokens:
                raise SpecError(
                    f"`reserved_tokens` contains the missing_token {token!r}, which already "
                    "has its own id (the first reserved id); remove it from reserved_tokens. "
                    + received(reserved_tokens=list(self.reserved_tokens), missing_token=token),
                    key="reserved_tokens",
                )

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

        return int(Fraction(repr(self.max_document_fraction)) * total_documents)

    # -- special tokens, resolved for the kind of values a vocabulary holds --

    def resolved_pad_token(self, integer: bool) -> str | int | None:
        """The pad token for string (``integer=False``) or integer vocabularies
        (``None``: integers by default, where the pad is the id 0 and no value)."""
        return self.id_layout.resolved_pad_token(integer)

    def resolved_oov_token(self, integer: bool) -> str | int:
        """The OOV label for string (``integer=False``) or integer vocabularies."""
        return self.id_layout.resolved_oov_token(integer)

    def resolved_missing_token(self, integer: bool) -> str | int | None:
        """The token of ``missing: token`` (``None`` under other policies)."""
        return self.missing_values.resolved_missing_token(integer)

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
        for key in ("split_cjk", "strip_accents", "clean_text", "never_split"):
            if not out[key]:
                del out[key]
        if self.never_split:
            out["never_split"] = list(self.never_split)
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
