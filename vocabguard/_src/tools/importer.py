"""Import a vocabulary another tool made (``vocabguard import``), keeping its token order.

Sources (``FORMATS``):

- ``tft``: a TensorFlow Transform vocabulary file, one token per line (line ``i``
  is TFT id ``i - 1``; OOV is ``default_value``, -1, or a hash bucket after the last id);
- ``tft-frequency``: TFT's ``store_frequency=True`` file, ``<count> <token>`` per line
  (split at the first space, so a token may hold spaces);
- ``text``: one token per line, or ``token<TAB>count`` on every line;
- ``keras``: a Keras ``get_vocabulary()`` list, as JSON or one token per line, with
  the layer's mask and OOV tokens first when it has them;
- ``keras-model``: the ``StringLookup`` / ``IntegerLookup`` / ``TextVectorization``
  layer of a saved ``.keras`` model (``layer=`` picks one of several);
- ``bert``: a BERT ``vocab.txt`` (line ``i`` is BERT id ``i - 1``); ``[PAD]`` and
  ``[UNK]`` are the pad and OOV tokens, the other bracketed tokens (``[CLS]``,
  ``[unused0]``, ...) become reserved tokens;
- ``tokenizer-json``: a Hugging Face ``tokenizer.json`` whose model is ``WordPiece`` or
  ``WordLevel``; its special added tokens become reserved tokens.

vocabguard's layout is pad 0, OOV ``1..k``, reserved tokens, learned tokens. The
source's tokens keep their order (never re-sorted by count); ``IdMap`` says where each
source id lands, identical where the source's layout is vocabguard's (a Keras layer with
a mask token, e.g. ``TextVectorization``), else shifted or moved. The published
manifest records the source in ``build["import"]`` (format, file, sha256, id map); a
vocabulary built by vocabguard has no such key, so nothing changes for it.

Every refusal is one line naming the file and the first offending line or key: a file
that is not what its format says, an empty line, a duplicate token, a token the spec's
tokenizer could never produce (it would never be matched), a model without a lookup
layer, a ``tokenizer.json`` of another model type.

>>> import tempfile, os
>>> path = os.path.join(tempfile.mkdtemp(), "vocab.txt")
>>> _ = open(path, "w").write("the\\ncat\\nsat\\n")
>>> result = import_vocabulary(path, "tft")
>>> result.vocab.tokens, result.id_map.describe()[0]
(['[PAD]', '[UNK]', 'the', 'cat', 'sat'], 'source ids 0..2 -> vocabguard ids 2..4 (offset +2)')
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from vocabguard._src.core.errors import ConfigError, InputDataError, received
from vocabguard._src.core.spec import STANDARDIZE, VocabSpec
from vocabguard._src.core.tokenizer import tokenize_batch
from vocabguard._src.core.vocabulary import INT64, STRING, Vocabulary, printable_token
from vocabguard._src.tools.model_check import _keras, iter_layers, load_model

FORMATS = ("tft", "tft-frequency", "text", "keras", "keras-model", "bert", "tokenizer-json")
LOOKUP_LAYERS = ("StringLookup", "IntegerLookup", "TextVectorization")
# tf.strings.split's separators (TextVectorization's split="whitespace"): ASCII only.
ASCII_WHITESPACE = "[\t\n\x0b\x0c\r ]+"

# Characters some reader of a token-per-line file splits lines on (Python's
# str.splitlines, which Keras uses): a token holding one cannot round-trip.
_LINE_BREAKS = frozenset("\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029")
# BERT's special tokens: [PAD], [UNK], [CLS], [unused12], <S>, ...
_SPECIAL = re.compile(r"^(\[[^\[\]\s]+\]|<[^<>\s]+>)$")
PAD, OOV, RESERVED, LEARNED = "pad", "oov", "reserved", "learned"


@dataclasses.dataclass
class Source:
    """What a parser read: entries ``(source_id, token, kind)`` in source id order.

    ``kind`` is ``pad``, ``oov``, ``reserved`` or ``learned``; ``counts`` are the
    learned tokens' counts (``None`` when the source has none); ``spec`` holds the spec
    fields the source implies (the caller's options override them); ``oov_rule`` says
    how the source maps unknown tokens when it has no OOV entry of its own.
    """

    entries: list[tuple[int, Any, str]]
    token_type: str = STRING
    counts: list[int] | None = None
    spec: dict = dataclasses.field(default_factory=dict)
    oov_rule: str | None = None
    where: dict = dataclasses.field(default_factory=dict)  # token -> "line 3" / "key 'x'"
    details: dict = dataclasses.field(default_factory=dict)
    notes: list[str] = dataclasses.field(default_factory=list)


@dataclasses.dataclass(frozen=True)
class IdMap:
    """Where each source id lands: ``runs`` of ``(source_start, vocabguard_start, length)``.

    ``oov_rule``: the source's OOV rule when it has no OOV id of its own (it maps to
    vocabguard's OOV ids); ``added``: vocabguard ids with no source id (a pad the
    source lacks, OOV buckets it lacks).
    """

    runs: tuple[tuple[int, int, int], ...]
    oov_rule: str | None = None
    added: tuple[tuple[int, str], ...] = ()

    @classmethod
    def from_pairs(cls, pairs: Sequence[tuple[int, int]], **kwargs: Any) -> IdMap:
        runs: list[list[int]] = []
        for source, target in sorted(pairs):
            last = runs[-1] if runs else None
            if last and source == last[0] + last[2] and target == last[1] + last[2]:
                last[2] += 1
            else:
                runs.append([source, target, 1])
        return cls(tuple(tuple(r) for r in runs), **kwargs)

    @property
    def identical(self) -> bool:
        """Every source id is the vocabguard id of the same token, and nothing was added."""
        return not self.added and all(s == t for s, t, _ in self.runs)

    def array(self) -> np.ndarray:
        """``array[source_id]`` = vocabguard id (``-1`` where the source has no such id)."""
        size = max((s + n for s, _, n in self.runs), default=0)
        out = np.full(size, -1, dtype=np.int64)
        for source, target, length in self.runs:
            out[source : source + length] = np.arange(target, target + length)
        return out

    def describe(self) -> list[str]:
        """One line per run: ``source ids 0..9 -> vocabguard ids 2..11 (offset +2)``."""
        lines = []
        if self.identical:
            last = max((s + n - 1 for s, _, n in self.runs), default=-1)
            lines.append(f"identical: source id i is vocabguard id i for i in 0..{last}")
        else:
            for source, target, length in self.runs:
                offset = target - source
                how = "same ids" if offset == 0 else f"offset {offset:+d}"
                noun = "id" if length == 1 else "ids"
                lines.append(
                    f"source {noun} {_run(source, length)} -> vocabguard {noun} "
                    f"{_run(target, length)} ({how})"
                )
        if self.oov_rule:
            lines.append(f"source OOV ({self.oov_rule}) -> vocabguard OOV")
        lines.extend(f"vocabguard id {id_}: {what} (not in the source)" for id_, what in self.added)
        return lines

    def to_dict(self) -> dict:
        return {
            "identical": self.identical,
            "runs": [list(run) for run in self.runs],
            "oov_rule": self.oov_rule,
            "added": [list(a) for a in self.added],
        }


def _run(start: int, length: int) -> str:
    return f"{start}" if length == 1 else f"{start}..{start + length - 1}"


@dataclasses.dataclass
class ImportResult:
    """An imported vocabulary (published when a store and name were given) and its id map."""

    vocab: Vocabulary
    id_map: IdMap
    source: dict  # {"format", "file", "sha256", "bytes", ...}
    notes: list[str]

    def to_dict(self) -> dict:
        return {
            "ref": self.vocab.ref,
            "fingerprint": self.vocab.fingerprint,
            "input_dim": self.vocab.input_dim,
            "source": dict(self.source),
            "id_map": self.id_map.to_dict(),
            "notes": list(self.notes),
        }


# -- reading --


def _bad(path: str, where: str, what: str, fix: str, **facts: Any) -> InputDataError:
    """The one-line refusal: ``FILE, WHERE: WHAT. FIX. Received: ...``."""
    return InputDataError(
        f"{path}, {where}: {what}. {fix} " + received(file=path, **facts), cases=[where]
    )


def _lines(path: str, data: bytes, fmt: str, allow_empty_first: bool = False) -> list[str]:
    """The lines of a token-per-line file (``\\n``-separated; a final newline ends the last
    line; a ``\\r`` before ``\\n`` is dropped). Refuses invalid UTF-8 and empty lines."""
    if not data:
        raise _bad(path, "line 1", "the file is empty", "Pass a non-empty vocabulary file.")
    _refuse_json(path, data, fmt)
    raw = data.split(b"\n")
    if raw[-1] == b"":
        raw.pop()
    lines = []
    for number, line in enumerate(raw, start=1):
        if line.endswith(b"\r"):
            line = line[:-1]
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError as err:
            raise _bad(
                path,
                f"line {number}",
                f"not valid UTF-8 ({err.reason} at byte {err.start}), so this is not a "
                f"{fmt} vocabulary file",
                "Check --format, or re-encode the file as UTF-8.",
                line=line[:40],
            ) from None
        if text == "" and not (allow_empty_first and number == 1):
            raise _bad(
                path,
                f"line {number}",
                "empty line: no tokenizer produces an empty token, and TF's "
                "TextFileInitializer rejects it",
                "Remove the line (or the blank lines at the end of the file).",
                line=number,
            )
        breaks = sorted({c for c in text if c in _LINE_BREAKS})
        if breaks:
            raise _bad(
                path,
                f"line {number}",
                f"token {text!r} holds line break {breaks[0]!r}, which Keras' and TF's "
                "readers split on, so it cannot round-trip through a vocabulary file",
                "Remove or replace the character.",
                line=number,
            )
        lines.append(text)
    return lines


def _refuse_json(path: str, data: bytes, fmt: str) -> None:
    """A JSON object, or a JSON list of strings, is not a token-per-line file (a
    tokenizer.json or a Keras get_vocabulary() list given the wrong --format)."""
    if data.lstrip()[:1] not in (b"{", b"["):
        return
    try:
        value = json.loads(data)
    except ValueError:
        return
    if isinstance(value, dict):
        what, fix = "a JSON object", "a Hugging Face tokenizer.json is --format tokenizer-json"
    elif isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        what, fix = "a JSON list", "a Keras get_vocabulary() list is --format keras"
    else:
        return
    raise _bad(
        path,
        "line 1",
        f"the file is {what}, not a {fmt} vocabulary file (one token per line)",
        f"Check --format: {fix}.",
        format=fmt,
    )


def _check_unique(path: str, tokens: Sequence[Any], where: Sequence[str]) -> None:
    seen: dict = {}
    for token, place in zip(tokens, where):
        if token in seen:
            raise _bad(
                path,
                place,
                f"duplicate token {printable_token(token) if isinstance(token, str) else token!r}"
                f" (first at {seen[token]}); each token can have only one id",
                "Remove the duplicate.",
                token=token,
            )
        seen[token] = place


def _plain(path: str, tokens: list, counts: list[int] | None, fmt: str) -> Source:
    """A file whose line ``i`` is source id ``i - 1`` and every token is learned."""
    where = [f"line {i}" for i in range(1, len(tokens) + 1)]
    _check_unique(path, tokens, where)
    return Source(
        entries=[(i, t, LEARNED) for i, t in enumerate(tokens)],
        counts=counts,
        where=dict(zip(tokens, where)),
        oov_rule=(
            f"TFT's default_value -1, or hash buckets from id {len(tokens)}"
            if fmt.startswith("tft")
            else f"no OOV id; ids stop at {len(tokens) - 1}"
        ),
    )


def _read_tft(path: str, data: bytes, options: Mapping) -> Source:
    return _plain(path, _lines(path, data, "tft"), None, "tft")


_COUNT = re.compile(r"^-?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?$")


def _token_counts(
    path: str,
    lines: list[str],
    parse: Callable[[str], tuple[str, Any] | None],
    expected: str,
    fix: str,
) -> tuple[list[str], list]:
    """``(tokens, counts)`` of ``lines`` that each hold a token and its count.

    ``parse(line)`` gives ``(token, count)``, or ``None`` for a malformed line, which is
    an error naming the line: ``expected`` (what the line should be) and ``fix``.
    """
    tokens, counts = [], []
    for number, line in enumerate(lines, start=1):
        pair = parse(line)
        if pair is None:
            raise _bad(path, f"line {number}", f"{expected}, got {line[:60]!r}", fix, line=number)
        tokens.append(pair[0])
        counts.append(pair[1])
    return tokens, counts


def _count_space_token(line: str) -> tuple[str, float] | None:
    count, space, token = line.partition(" ")
    if not space or not _COUNT.match(count) or token == "":
        return None
    return token, float(count)


def _token_tab_count(line: str) -> tuple[str, int] | None:
    token, tab, count = line.rpartition("\t")
    if not tab or token == "" or not count.isdigit():
        return None
    return token, int(count)


def _read_tft_frequency(path: str, data: bytes, options: Mapping) -> Source:
    tokens, counts = _token_counts(
        path,
        _lines(path, data, "tft-frequency"),
        _count_space_token,
        "expected '<count> <token>' (TFT's store_frequency form)",
        "Check --format: a plain TFT vocabulary file is --format tft.",
    )
    source = _plain(path, tokens, None, "tft")
    if all(c.is_integer() and c >= 0 for c in counts):
        source.counts = [int(c) for c in counts]
    else:  # weighted counts or mutual information: not counts vocabguard can keep
        source.notes.append(
            "the frequencies are not whole numbers (weighted or mutual information), so "
            "counts are recorded as 0; the order is kept"
        )
    return source


def _read_text(path: str, data: bytes, options: Mapping) -> Source:
    lines = _lines(path, data, "text")
    if "\t" not in lines[0]:
        for number, line in enumerate(lines, start=1):
            if "\t" in line:
                raise _bad(
                    path,
                    f"line {number}",
                    "a tab in a file whose first line has none: either every line is "
                    "'token<TAB>count' or none is",
                    "Make the lines consistent.",
                    line=number,
                )
        return _plain(path, lines, None, "text")
    tokens, counts = _token_counts(
        path,
        lines,
        _token_tab_count,
        "expected 'token<TAB>count' (a whole number), like line 1",
        "Make every line 'token<TAB>count', or none.",
    )
    return _plain(path, tokens, counts, "text")


def _keras_layout(
    path: str, values: list, mask_token: Any, oov_token: Any, num_oov: int, integer: bool
) -> Source:
    """Entries of a Keras lookup layer's ``get_vocabulary()``: [mask], OOV x k, tokens."""
    entries, position = [], 0
    if mask_token is not None:
        if not values or values[0] != mask_token:
            raise _bad(
                path,
                "entry 0",
                f"expected the mask token {mask_token!r} first (get_vocabulary() lists it at "
                f"index 0), got {values[0] if values else None!r}",
                "Pass the list get_vocabulary() returned, or the layer's mask token.",
            )
        entries.append((0, mask_token, PAD))
        position = 1
    for _ in range(num_oov):
        if position >= len(values) or values[position] != oov_token:
            raise _bad(
                path,
                f"entry {position}",
                f"expected OOV token {oov_token!r} (one per OOV index after the mask), got "
                f"{values[position] if position < len(values) else None!r}",
                "Pass the list get_vocabulary() returned, or the layer's oov token.",
            )
        entries.append((position, oov_token, OOV))
        position += 1
    tokens = values[position:]
    where = [f"entry {i}" for i in range(position, len(values))]
    for token, place in zip(tokens, where):
        bad = (
            (not isinstance(token, int) or isinstance(token, bool))
            if integer
            else (not isinstance(token, str))
        )
        if bad or token == mask_token or token == oov_token:
            raise _bad(
                path,
                place,
                f"{token!r} is not a {'integer' if integer else 'string'} token of this layer"
                + (" (it is the mask or OOV token)" if not bad else ""),
                "Pass one Keras vocabulary list.",
            )
    _check_unique(path, tokens, where)
    entries.extend((i, t, LEARNED) for i, t in enumerate(tokens, start=position))
    source = Source(entries=entries, token_type=INT64 if integer else STRING)
    source.where = dict(zip(tokens, where))
    source.spec["oov_token"] = oov_token
    source.spec["num_oov_buckets"] = max(1, num_oov)
    if num_oov == 0:
        source.oov_rule = "num_oov_indices=0: Keras raises on an unknown token"
    if mask_token is not None:
        source.spec["pad_token"] = mask_token
    # An integer layer without a mask: vocabguard's default integer pad is the id 0 and no
    # value, so every value (0 too) is a token or OOV, as in the layer.
    return source


def _read_keras(path: str, data: bytes, options: Mapping) -> Source:
    try:  # get_vocabulary() as JSON, else one token per line ('[UNK]' is not JSON)
        values = json.loads(data)
    except ValueError:
        values = _lines(path, data, "keras", allow_empty_first=True)
    if not isinstance(values, list):
        raise _bad(path, "JSON", "not a JSON list", "Pass get_vocabulary() as a list.")
    integer = bool(values) and all(isinstance(v, int) and not isinstance(v, bool) for v in values)
    default_oov = -1 if integer else "[UNK]"
    oov = options.get("oov_token", default_oov)
    mask = options.get("mask_token", "__detect__")
    if mask == "__detect__":  # [mask, oov, ...] or [oov, ...] or tokens only
        mask = values[0] if len(values) > 1 and values[0] != oov and values[1] == oov else None
    start = 0 if mask is None else 1
    num_oov = options.get("num_oov_indices")
    if num_oov is None:
        num_oov = 0
        while start + num_oov < len(values) and values[start + num_oov] == oov:
            num_oov += 1
        if num_oov == 0:
            raise _bad(
                path,
                f"entry {start}",
                f"no OOV token {oov!r} where Keras' get_vocabulary() lists it (after the mask "
                "token, if any); a list without special tokens does not say the layer's layout",
                "Pass get_vocabulary() with its special tokens, or --num-oov-indices and "
                "--mask-token.",
                first=values[start] if start < len(values) else None,
            )
    return _keras_layout(path, values, mask, oov, num_oov, integer)


def _read_bert(path: str, data: bytes, options: Mapping) -> Source:
    tokens = _lines(path, data, "bert")
    where = [f"line {i}" for i in range(1, len(tokens) + 1)]
    _check_unique(path, tokens, where)
    pad = options.get("pad_token", "[PAD]")
    oov = options.get("oov_token", "[UNK]")
    if oov not in tokens:
        raise _bad(
            path,
            "line 1",
            f"no OOV token {oov!r} in the file, so this is not a BERT vocab.txt (BERT maps "
            "unknown words to [UNK])",
            "Check --format, or name the OOV token with --oov-token.",
        )
    entries = []
    for i, token in enumerate(tokens):
        kind = PAD if token == pad else OOV if token == oov else LEARNED
        if kind == LEARNED and _SPECIAL.match(token):
            kind = RESERVED
        entries.append((i, token, kind))
    learned = [t for _, t, k in entries if k == LEARNED]
    source = Source(entries=entries, where=dict(zip(tokens, where)))
    lowercase = options.get("lowercase", not any(t != t.lower() for t in learned))
    # BERT's basic tokenizer (Hugging Face's BertTokenizerFast from this file): control
    # and format characters dropped, CJK ideographs one by one, uncased models strip
    # accents, and its special tokens kept whole where they occur in text.
    source.spec.update(
        tokenizer="wordpiece",
        pad_token=pad,
        oov_token=oov,
        joiner="##",
        lowercase=lowercase,
        split_cjk=True,
        strip_accents=lowercase,
        clean_text=True,
        never_split=[t for t in (oov, "[SEP]", pad, "[CLS]", "[MASK]") if t in tokens],
    )
    if pad not in tokens:
        source.notes.append(f"the file has no pad token {pad!r}; vocabguard adds it at id 0")
    return source


def _pairs_hook(path: str):
    def hook(pairs: list[tuple[str, Any]]) -> dict:
        out: dict = {}
        for key, value in pairs:
            if key in out:
                raise _bad(
                    path,
                    f"key {key!r}",
                    f"duplicate key {key!r} in a JSON object (a duplicate token, if in the "
                    "vocabulary)",
                    "Remove the duplicate.",
                    key=key,
                )
            out[key] = value
        return out

    return hook


def _read_tokenizer_json(path: str, data: bytes, options: Mapping) -> Source:
    """A Hugging Face ``tokenizer.json`` (WordPiece or WordLevel model) as a source."""
    try:
        config = json.loads(data, object_pairs_hook=_pairs_hook(path))
    except InputDataError:
        raise
    except ValueError as err:
        raise _bad(path, "JSON", f"not JSON ({err})", "Check --format and the file.") from None
    model = _tokenizer_model(path, config)
    model_type = model["type"]
    vocab = model["vocab"]
    by_id = _tokens_by_id(path, vocab)
    unk = options.get("oov_token", model.get("unk_token"))
    if unk not in vocab:
        raise _bad(
            path,
            "key 'model.unk_token'",
            f"unk_token {unk!r} is not in the vocabulary, so unknown tokens have no id "
            "(Hugging Face raises 'Missing [UNK] token')",
            "Add it to the vocabulary, or name the OOV token with --oov-token.",
            unk_token=unk,
        )
    added = [t for t in config.get("added_tokens") or [] if isinstance(t, dict)]
    specials = {t["content"] for t in added if t.get("special")}
    padding = config.get("padding") or {}
    pad = options.get("pad_token", padding.get("pad_token"))
    if pad is None:
        pad = next((p for p in ("[PAD]", "<pad>") if p in vocab), "[PAD]")
    entries = []
    for id_ in sorted(by_id):
        token = by_id[id_]
        kind = PAD if token == pad else OOV if token == unk else LEARNED
        # Special added tokens, and in WordPiece BERT's bracketed ones ([unused0]),
        # which its pre-tokenizer splits: reserved, never produced by text.
        if kind == LEARNED and (
            token in specials or (model_type == "WordPiece" and _SPECIAL.match(token))
        ):
            kind = RESERVED
        entries.append((id_, token, kind))
    source = Source(entries=entries, where={t: f"key {t!r}" for t in vocab})
    _tokenizer_spec(source, config, model, added, pad=pad, unk=unk)
    source.details["model_type"] = model_type
    if pad not in vocab:
        source.notes.append(f"the tokenizer has no pad token {pad!r}; vocabguard adds it at id 0")
    return source


def _tokenizer_model(path: str, config: Any) -> dict:
    """The ``model`` of a tokenizer.json, refused unless a WordPiece or WordLevel one
    with a non-empty ``vocab`` mapping."""
    model = config.get("model") if isinstance(config, dict) else None
    if not isinstance(model, dict) or "type" not in model:
        raise _bad(
            path,
            "key 'model'",
            "no 'model' with a 'type', so this is not a Hugging Face tokenizer.json",
            "Check --format.",
        )
    model_type = model["type"]
    if model_type not in ("WordPiece", "WordLevel"):
        raise _bad(
            path,
            "key 'model.type'",
            f"model type {model_type!r} is not supported (WordPiece and WordLevel are: both map "
            "whole tokens to ids)",
            "Import a WordPiece or WordLevel tokenizer.",
            model_type=model_type,
        )
    vocab = model.get("vocab")
    if not isinstance(vocab, dict) or not vocab:
        raise _bad(path, "key 'model.vocab'", "no vocabulary mapping", "Check the file.")
    return model


def _tokens_by_id(path: str, vocab: Mapping) -> dict[int, str]:
    """``{id: token}`` of a tokenizer.json vocabulary: ids non-negative integers, one
    token each, no empty token."""
    by_id: dict[int, str] = {}
    for token, id_ in vocab.items():
        if not isinstance(id_, int) or isinstance(id_, bool) or id_ < 0:
            raise _bad(path, f"key {token!r}", f"id {id_!r} is not an id", "Check the file.")
        if id_ in by_id:
            raise _bad(
                path,
                f"key {token!r}",
                f"id {id_} is also the id of {by_id[id_]!r}; each id holds one token",
                "Remove the duplicate.",
                id=id_,
            )
        if token == "":
            raise _bad(path, "key ''", "empty token", "Remove it.")
        by_id[id_] = token
    return by_id


def _tokenizer_spec(
    source: Source, config: Mapping, model: Mapping, added: list, *, pad: str, unk: str
) -> None:
    """The spec a tokenizer.json implies (tokenizer, joiner, BERT normalizer options,
    never-split special tokens), written into ``source.spec``."""
    normalizer = config.get("normalizer")
    lowercase = _lowercases(normalizer)
    source.spec.update(pad_token=pad, oov_token=unk, lowercase=lowercase)
    if model["type"] != "WordPiece":
        source.spec["tokenizer"] = "whitespace"
        return
    source.spec.update(
        tokenizer="wordpiece",
        joiner=model.get("continuing_subword_prefix", "##"),
        max_chars_per_word=model.get("max_input_chars_per_word", 100),
    )
    if isinstance(normalizer, dict) and normalizer.get("type") == "BertNormalizer":
        strip = normalizer.get("strip_accents")
        source.spec.update(
            split_cjk=bool(normalizer.get("handle_chinese_chars", True)),
            strip_accents=lowercase if strip is None else bool(strip),
            clean_text=bool(normalizer.get("clean_text", True)),
        )
    # Special added tokens matched in the raw text: kept whole, as Hugging Face does.
    whole = [
        t["content"]
        for t in added
        if t.get("special") and not t.get("normalized") and t["content"] in model["vocab"]
    ]
    whole = [t for t in whole if not any(c.isspace() for c in t)]
    if whole:
        source.spec["never_split"] = whole


def _lowercases(normalizer: Any) -> bool:
    """Whether a tokenizer.json normalizer lowercases (BertNormalizer, Lowercase, Sequence)."""
    if not isinstance(normalizer, dict):
        return False
    kind = normalizer.get("type")
    if kind == "BertNormalizer":
        return bool(normalizer.get("lowercase", True))
    if kind == "Lowercase":
        return True
    if kind == "Sequence":
        return any(_lowercases(n) for n in normalizer.get("normalizers") or [])
    return False


# -- Keras models --


def lookup_layers(model: Any) -> list[tuple[str, Any]]:
    """Every Keras ``StringLookup`` / ``IntegerLookup`` / ``TextVectorization`` of ``model``
    (nested models too), by path."""
    keras = _keras()
    kinds = tuple(getattr(keras.layers, name) for name in LOOKUP_LAYERS)
    # Not entered: a TextVectorization holds a StringLookup of its own.
    leaf = lambda layer: isinstance(layer, kinds)  # noqa: E731
    return [(path, layer) for path, layer in iter_layers(model, leaf=leaf) if leaf(layer)]


def layer_source(path: str, name: str, layer: Any) -> Source:
    """The vocabulary of one Keras lookup layer, with the spec its settings imply."""
    keras_name = type(layer).__name__
    values = [v.item() if hasattr(v, "item") else v for v in layer.get_vocabulary()]
    values = [v.decode("utf-8") if isinstance(v, bytes) else v for v in values]
    config = layer.get_config()
    if keras_name == "TextVectorization":
        if config.get("output_mode") != "int":
            raise _bad(
                path,
                f"layer {name!r}",
                f"TextVectorization with output_mode {config.get('output_mode')!r}: only "
                "output_mode 'int' layers feed an Embedding",
                "Pick another layer with --layer.",
            )
        source = _keras_layout(path, values, "", "[UNK]", 1, False)
        standardize = config.get("standardize")
        split = config.get("split")
        # Keras' own steps: its standardization, and tf.strings.split's ASCII whitespace.
        source.spec.update(tokenizer="regex", pattern=ASCII_WHITESPACE)
        if standardize in STANDARDIZE:
            source.spec["standardize"] = standardize
        if config.get("ngrams"):
            source.spec["ngrams"] = config["ngrams"]
        if config.get("output_sequence_length"):
            source.spec["sequence_length"] = config["output_sequence_length"]
        if (standardize is not None and standardize not in STANDARDIZE) or split != "whitespace":
            source.notes.append(
                f"{name}: standardize={standardize!r}, split={split!r} cannot be expressed "
                "as a spec; vocabguard splits on ASCII whitespace (the migrated model keeps "
                "the layer's own text handling)"
            )
    else:
        integer = keras_name == "IntegerLookup"
        if config.get("output_mode", "int") != "int":
            raise _bad(
                path,
                f"layer {name!r}",
                f"{keras_name} with output_mode {config.get('output_mode')!r}: only output_mode "
                "'int' layers feed an Embedding",
                "Pick another layer with --layer.",
            )
        if config.get("invert"):
            raise _bad(
                path,
                f"layer {name!r}",
                f"{keras_name} with invert=True maps ids to tokens",
                "Pick another layer with --layer.",
            )
        source = _keras_layout(
            path,
            values,
            layer.mask_token,
            layer.oov_token,
            layer.num_oov_indices,
            integer,
        )
        source.spec["tokenizer"] = "none"
    source.details.update(layer=name, layer_class=keras_name)
    return source


def _read_keras_model(path: str, data: bytes, options: Mapping) -> Source:
    model = load_model(path)
    found = lookup_layers(model)
    wanted = options.get("layer")
    if wanted is not None:
        found = [(p, layer) for p, layer in found if wanted in (p, layer.name)]
    if not found:
        what = f"no lookup layer named {wanted!r}" if wanted else "no lookup layer"
        raise _bad(
            path,
            "model",
            f"{what} ({', '.join(LOOKUP_LAYERS)}) in the model",
            "Import the vocabulary list instead (--format keras), or check --layer.",
        )
    if len(found) > 1:
        names = ", ".join(p for p, _ in found)
        raise _bad(
            path,
            f"layer {found[1][0]!r}",
            f"{len(found)} lookup layers ({names}); which one to import is ambiguous",
            "Pick one with --layer NAME.",
        )
    return layer_source(path, found[0][0], found[0][1])


_READERS = {
    "tft": _read_tft,
    "tft-frequency": _read_tft_frequency,
    "text": _read_text,
    "keras": _read_keras,
    "keras-model": _read_keras_model,
    "bert": _read_bert,
    "tokenizer-json": _read_tokenizer_json,
}


# -- building --


def vocabulary_from_source(
    source: Source, path: str, options: Mapping[str, Any] | None = None
) -> tuple[Vocabulary, IdMap]:
    """The ``Vocabulary`` holding ``source``'s tokens in order, and where each id lands.

    ``options``: spec fields that override what the source implies (``tokenizer``,
    ``lowercase``, ...).
    """
    options = dict(options or {})
    fields = {**source.spec, **{k: v for k, v in options.items() if k in _SPEC_FIELDS}}
    reserved = [t for _, t, k in source.entries if k == RESERVED]
    learned = [t for _, t, k in source.entries if k == LEARNED]
    if reserved:
        fields["reserved_tokens"] = tuple(reserved)
    if fields.get("tokenizer") == "wordpiece":
        fields["vocab_size"] = max(1, len(learned))
    try:
        spec = VocabSpec.from_dict(fields, source=path)
    except ConfigError as err:
        raise ConfigError(
            f"{path}: the imported vocabulary's spec is invalid: {err}",
            key=getattr(err, "key", None),
        ) from None
    _check_round_trip(path, spec, learned, source)
    counts = [0] * len(reserved) + (
        list(source.counts) if source.counts is not None else [0] * len(learned)
    )
    vocab = Vocabulary(spec, source.token_type, [*reserved, *learned], counts)
    pairs = []
    oov_sources = [s for s, _, k in source.entries if k == OOV]
    for s, token, kind in source.entries:
        if kind == PAD:
            pairs.append((s, vocab.pad_id))
        elif kind == OOV:
            pairs.append((s, vocab.oov_ids[oov_sources.index(s)]))
        else:
            pairs.append((s, vocab.token_to_id(token)))
    added = []
    if not any(k == PAD for _, _, k in source.entries):
        added.append((vocab.pad_id, f"pad {vocab.pad_token!r}"))
    for extra in list(vocab.oov_ids)[len(oov_sources) :]:
        added.append((extra, f"OOV {vocab.oov_token!r}"))
    return vocab, IdMap.from_pairs(pairs, oov_rule=source.oov_rule, added=tuple(added))


_SPEC_FIELDS = {f.name for f in dataclasses.fields(VocabSpec)}


def _check_round_trip(path: str, spec: VocabSpec, learned: list, source: Source) -> None:
    """Every learned token must be one the spec's tokenizer can produce, else it is never
    matched; a wordpiece continuation is checked without its joiner."""
    if source.token_type == INT64 or not learned:
        return
    texts = learned
    if spec.tokenizer == "wordpiece":
        joiner = spec.joiner or "##"
        texts = [t[len(joiner) :] if t.startswith(joiner) and t != joiner else t for t in texts]
    produced = tokenize_batch(spec, texts)
    for token, text, out in zip(learned, texts, produced):
        if out != [text.encode("utf-8")]:
            got = [o.decode("utf-8", "replace") for o in out]
            raise _bad(
                path,
                source.where.get(token, repr(token)),
                f"token {token!r} cannot round-trip: the spec's tokenizer "
                f"({spec.tokenizer}, lowercase={spec.lowercase}) turns it into {got}, so no "
                "text would ever reach its id",
                "Pick the tokenizer the vocabulary was made with (--tokenizer, "
                "--lowercase/--no-lowercase), or remove the token.",
                token=token,
            )


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def import_vocabulary(
    path: str | os.PathLike,
    format: str,
    *,
    name: str | None = None,
    store: Any | None = None,
    layer: str | None = None,
    mask_token: Any = "__detect__",
    num_oov_indices: int | None = None,
    **spec_options: Any,
) -> ImportResult:
    """Import the vocabulary in ``path`` (of ``format``, one of ``FORMATS``).

    Args:
        path: the file (a ``.keras`` model for ``keras-model``).
        format: what the file is; it is checked, never guessed.
        name, store: publish the result as the next version of ``name`` in ``store``
            (both or neither); an unchanged re-import returns the existing version.
        layer: ``keras-model``: the lookup layer's name or path.
        mask_token, num_oov_indices: ``keras``: the layer's layout when the list holds no
            special tokens (default: detected from the list).
        **spec_options: spec fields overriding what the source implies (``tokenizer``,
            ``lowercase``, ``normalization``, ``pad_token``, ``oov_token``, ...).

    Returns:
        ``ImportResult``: the vocabulary, the ``IdMap`` from source ids, the source record.

    Raises:
        ConfigError: an unknown format or option.
        InputDataError: the file is not what ``format`` says, or holds an empty line, a
            duplicate token, or a token the tokenizer cannot produce (one line naming the
            file and the first offending line or key).
    """
    path = os.fspath(path)
    if format not in FORMATS:
        raise ConfigError(
            f"Unknown import format {format!r}; expected one of {', '.join(FORMATS)}. "
            + received(format=format)
        )
    if (name is None) != (store is None):
        raise ConfigError(
            "Pass both name and store to publish the import, or neither. "
            + received(name=name, store=store)
        )
    unknown = sorted(set(spec_options) - _SPEC_FIELDS)
    if unknown:
        raise ConfigError(
            f"Unknown import option {unknown[0]!r}; spec fields are accepted. "
            + received(**{unknown[0]: spec_options[unknown[0]]})
        )
    with open(path, "rb") as stream:
        data = stream.read()
    options: dict[str, Any] = dict(spec_options)
    if layer is not None:
        options["layer"] = layer
    if mask_token != "__detect__":
        options["mask_token"] = mask_token
    if num_oov_indices is not None:
        options["num_oov_indices"] = num_oov_indices
    source = _READERS[format](path, data, options)
    vocab, id_map = vocabulary_from_source(source, path, spec_options)
    record = {
        "format": format,
        "file": os.path.abspath(path),
        "sha256": _sha256(data),
        "bytes": len(data),
        **source.details,
        "id_map": id_map.to_dict(),
    }
    vocab.build = {"input": os.path.abspath(path), "import": record}
    if store is not None:
        vocab = store.publish(vocab, name)
    return ImportResult(vocab, id_map, record, list(source.notes))


def _span(ids: range) -> str:
    return f"{ids.start}" if len(ids) == 1 else f"{ids.start}..{ids.stop - 1}"


def format_import(result: ImportResult) -> str:
    """The human-readable ``vocabguard import`` report: what was read, and the id map."""
    vocab, source = result.vocab, result.source
    layer = f" layer {source['layer']!r} ({source['layer_class']})" if "layer" in source else ""
    lines = [
        f"imported  {source['file']}{layer} ({source['format']}, sha256 {source['sha256'][:16]})",
        f"as        {vocab.ref or 'unpublished'}  input_dim {vocab.input_dim}  "
        f"fingerprint {vocab.fingerprint[:12]}",
        f"layout    pad 0 {vocab.pad_token!r}, OOV {_span(vocab.oov_ids)} {vocab.oov_token!r}, "
        f"{vocab.layout.num_reserved} reserved, "
        f"{vocab.layout.num_learned} learned (source order kept)",
        "",
        "ids (source -> vocabguard):",
        *(f"  {line}" for line in result.id_map.describe()),
    ]
    lines.extend(f"note: {note}" for note in result.notes)
    return "\n".join(lines)


__all__ = [
    "FORMATS",
    "IdMap",
    "ImportResult",
    "Source",
    "format_import",
    "import_vocabulary",
    "layer_source",
    "lookup_layers",
    "vocabulary_from_source",
]
