"""Embedding warm start: move trained rows to a new vocabulary's ids, by token (numpy only).

``remap_embedding(weights, old_vocab, new_vocab)`` returns the matrix for
``new_vocab`` in which every row is found by its token, never by its index:

- id 0 (pad) takes the old pad row;
- OOV rows carry over when both vocabularies have the same number of OOV
  buckets (an unknown token then hashes to the same bucket). With a different
  number, a token's bucket changes, so no old bucket stands for a new one:
  every new OOV row is the mean of the old OOV rows (with one old bucket, that
  is the old OOV row itself);
- every reserved or learned token present in both keeps its trained row.
  Retired rows count as tokens too: in a lineage the retired token keeps its
  id (reserved, no text reaches it) and its row is copied like any other, so
  migrating along a lineage copies every parent row unchanged;
- rows of tokens only in the new vocabulary, and its unused capacity rows,
  come from ``init``: ``"mean"`` (the mean of the old rows of live learned
  tokens), ``"zeros"``, or ``"normal"`` (per column, normal with the mean and
  standard deviation of those rows; ``seed`` makes it reproducible). When the
  old vocabulary learned no token, the old OOV rows stand in for them.

A Dense layer over the vocabulary (a language-model head: kernel
``(d, input_dim)``, bias ``(input_dim,)``) is remapped by ``remap_dense``:
its columns move like embedding rows, and each bias entry travels with its
column (the bias is treated as one more feature of that column, so
``"mean"`` gives a new token the mean bias of the learned tokens).

>>> import numpy as np
>>> from vocabguard import VocabSpec, build_vocabulary
>>> old = build_vocabulary(["a b b"], VocabSpec(), progress=False)
>>> new = build_vocabulary(["c a a a"], VocabSpec(), progress=False)
>>> old.tokens, new.tokens
(['[PAD]', '[UNK]', 'b', 'a'], ['[PAD]', '[UNK]', 'a', 'c'])
>>> weights = np.array([[0.0], [1.0], [2.0], [3.0]], dtype="float32")
>>> remap_embedding(weights, old, new).ravel().tolist()  # 'a' keeps 3.0; 'c' gets the mean
[0.0, 1.0, 3.0, 2.5]
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from vocabguard._src.core.errors import ConfigError, VocabularyMismatchError, received

INITS = ("mean", "zeros", "normal")
INIT = -1  # a ``RowMap.source`` entry: the row comes from the initializer
OOV_MEAN = -2  # a ``RowMap.source`` entry: the mean of the old OOV rows


def check_init(init: str) -> str:
    """``init`` if it is one of ``INITS``; else a ``ConfigError`` that lists them."""
    if init not in INITS:
        raise ConfigError(
            f"init must be one of {', '.join(repr(i) for i in INITS)}: 'mean' gives new rows the "
            "mean of the trained rows, 'zeros' zero rows, 'normal' draws them from a normal "
            "distribution with the trained rows' mean and standard deviation (seeded). "
            + received(init=init)
        )
    return init


@dataclasses.dataclass(frozen=True)
class RowMap:
    """Where each row of the new matrix comes from.

    ``source[i]`` is the old row that new row ``i`` takes, or ``INIT`` (the
    initializer) or ``OOV_MEAN`` (the mean of the old rows ``old_oov``).
    ``reference``: the old rows whose mean and standard deviation ``init``
    uses (the live learned rows).
    """

    old_input_dim: int
    source: np.ndarray
    reference: np.ndarray
    old_oov: np.ndarray

    @property
    def new_input_dim(self) -> int:
        return len(self.source)

    @property
    def kept(self) -> int:
        """New rows that take an old row unchanged (pad, OOV, shared tokens)."""
        return int((self.source >= 0).sum())

    @property
    def initialized(self) -> int:
        """New rows that come from the initializer (new tokens, unused capacity)."""
        return int((self.source == INIT).sum())

    @property
    def averaged(self) -> int:
        """New OOV rows set to the mean of the old OOV rows (the bucket count changed)."""
        return int((self.source == OOV_MEAN).sum())

    @property
    def dropped(self) -> int:
        """Old rows no new row takes (tokens gone from the new vocabulary, spare rows)."""
        used = np.zeros(self.old_input_dim, dtype=bool)
        used[self.source[self.source >= 0]] = True
        return int((~used).sum())

    def to_dict(self) -> dict:
        return {
            "old_input_dim": self.old_input_dim,
            "new_input_dim": self.new_input_dim,
            "kept": self.kept,
            "initialized": self.initialized,
            "oov_averaged": self.averaged,
            "dropped": self.dropped,
        }

    @classmethod
    def resize(cls, old_input_dim: int, vocab: Any) -> RowMap:
        """Grow an undersized matrix to ``vocab.input_dim``: rows below ``old_input_dim`` stay.

        The ids are ``vocab``'s own; only the rows from ``old_input_dim`` on were
        missing. ``reference``: the live learned rows below ``old_input_dim``.

        >>> from vocabguard import VocabSpec, build_vocabulary
        >>> vocab = build_vocabulary(["a b c d"], VocabSpec(), progress=False)
        >>> rows = RowMap.resize(4, vocab)
        >>> rows.source.tolist(), rows.reference.tolist()
        ([0, 1, 2, 3, -1, -1], [2, 3])
        """
        source = np.arange(vocab.input_dim, dtype=np.int64)
        source[old_input_dim:] = INIT
        reference = _live_learned(vocab, stop=old_input_dim)
        return cls(old_input_dim, source, reference, np.asarray(vocab.oov_ids, dtype=np.int64))


def _live_learned(vocab: Any, stop: int | None = None) -> np.ndarray:
    layout = vocab.layout
    end = layout.used_ids if stop is None else min(stop, layout.used_ids)
    ids = np.arange(layout.learned_start, end, dtype=np.int64)
    if vocab.retired:
        ids = ids[~np.isin(ids, sorted(vocab.retired))]
    return ids


def _row_ids(vocab: Any) -> dict:
    """``{token: id}`` of every reserved and learned row, retired rows included."""
    start = vocab.layout.reserved_start
    return {token: id_ for id_, token in enumerate(vocab.token_bytes, start=start)}


def row_map(old_vocab: Any, new_vocab: Any) -> RowMap:
    """The ``RowMap`` from ``old_vocab``'s ids to ``new_vocab``'s, by token.

    >>> from vocabguard import VocabSpec, build_vocabulary
    >>> old = build_vocabulary(["a b b"], VocabSpec(), progress=False)
    >>> new = build_vocabulary(["a b b c"], VocabSpec(capacity=6), progress=False, parent=old)
    >>> rows = row_map(old, new)
    >>> rows.source.tolist(), (rows.kept, rows.initialized)
    ([0, 1, 2, 3, -1, -1], (4, 2))
    """
    if old_vocab.token_type != new_vocab.token_type:
        raise ConfigError(
            f"The old vocabulary holds {old_vocab.token_type} tokens and the new one "
            f"{new_vocab.token_type} tokens, so no token is in both and no row can be kept. "
            "Expected two vocabularies of the same kind. Check that the right vocabularies "
            "were passed. "
            + received(old_token_type=old_vocab.token_type, new_token_type=new_vocab.token_type)
        )
    source = np.full(new_vocab.input_dim, INIT, dtype=np.int64)
    source[new_vocab.pad_id] = old_vocab.pad_id
    new_oov = np.asarray(new_vocab.oov_ids, dtype=np.int64)
    old_oov = np.asarray(old_vocab.oov_ids, dtype=np.int64)
    # Same bucket count: an unknown token hashes to the same bucket in both.
    source[new_oov] = old_oov if len(old_oov) == len(new_oov) else OOV_MEAN
    old_ids = _row_ids(old_vocab)
    for token, new_id in _row_ids(new_vocab).items():
        old_id = old_ids.get(token)
        if old_id is not None:
            source[new_id] = old_id
    reference = _live_learned(old_vocab)
    return RowMap(old_vocab.input_dim, source, reference, old_oov)


def _generator(seed: int | np.random.Generator | None) -> np.random.Generator:
    return seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)


def remap_rows(
    matrix: Any,
    rows: RowMap,
    init: str = "mean",
    seed: int | np.random.Generator | None = None,
) -> np.ndarray:
    """Apply ``rows`` to a 2-D ``matrix`` with one row per old id; same dtype.

    ``seed``: for ``init="normal"``; an int, ``None`` (fresh entropy) or a
    ``numpy.random.Generator`` used as is.
    """
    check_init(init)
    matrix = np.asarray(matrix)
    if matrix.ndim != 2 or matrix.shape[0] != rows.old_input_dim:
        raise ValueError(
            f"Expected a 2-D matrix with {rows.old_input_dim} rows. " + received(shape=matrix.shape)
        )
    values = matrix.astype(np.float64)
    reference = values[rows.reference if len(rows.reference) else rows.old_oov]
    out = np.empty((rows.new_input_dim, matrix.shape[1]), dtype=np.float64)
    keep = rows.source >= 0
    out[keep] = values[rows.source[keep]]
    out[rows.source == OOV_MEAN] = values[rows.old_oov].mean(axis=0)
    fill = rows.source == INIT
    if init == "zeros":
        out[fill] = 0.0
    elif init == "mean":
        out[fill] = reference.mean(axis=0)
    else:
        out[fill] = _generator(seed).normal(
            reference.mean(axis=0), reference.std(axis=0), size=(int(fill.sum()), out.shape[1])
        )
    return out.astype(matrix.dtype)


def _describe(vocab: Any) -> str:
    return vocab.ref or f"the old vocabulary (fingerprint {vocab.fingerprint[:12]})"


def _check_rows(count: int, old_vocab: Any, what: str, shape: tuple) -> None:
    if count != old_vocab.input_dim:
        raise VocabularyMismatchError(
            f"The {what} has {count} rows for ids, but {_describe(old_vocab)} has input_dim "
            f"{old_vocab.input_dim}: rows and ids would not line up. Expected the weights of a "
            f"layer built from the old vocabulary ({old_vocab.input_dim} rows). Pass the "
            "vocabulary the model was trained with as the old one (vocabguard check-model "
            "MODEL --vocab REF tells which fits); an undersized layer needs vocabguard "
            "repair-model first. "
            + received(rows=count, old_input_dim=old_vocab.input_dim, shape=shape),
            rows=count,
            old_input_dim=old_vocab.input_dim,
        )


def remap_embedding(
    weights: Any,
    old_vocab: Any,
    new_vocab: Any,
    init: str = "mean",
    seed: int | np.random.Generator | None = None,
) -> np.ndarray:
    """The embedding matrix for ``new_vocab``, each token keeping its row from ``old_vocab``.

    Args:
        weights: ``(old_vocab.input_dim, output_dim)``, the trained embedding matrix.
        old_vocab: the vocabulary the weights were trained with.
        new_vocab: the vocabulary to move to (a child in its lineage, or any rebuild).
        init: rows of new tokens: ``"mean"``, ``"zeros"`` or ``"normal"`` (module docstring).
        seed: for ``"normal"``: an int (reproducible) or a ``numpy.random.Generator``.

    Returns:
        ``(new_vocab.input_dim, output_dim)``, in the dtype of ``weights``.
        ``row_map(old_vocab, new_vocab)`` tells which rows were kept.

    Raises:
        VocabularyMismatchError: ``weights`` does not have ``old_vocab.input_dim`` rows.
        ConfigError: ``init`` is unknown, or the vocabularies hold different token types.
    """
    check_init(init)
    matrix = np.asarray(weights)
    if matrix.ndim != 2:
        raise ValueError(
            "Expected a 2-D embedding matrix (input_dim, output_dim). "
            + received(shape=matrix.shape)
        )
    _check_rows(matrix.shape[0], old_vocab, "embedding matrix", matrix.shape)
    return remap_rows(matrix, row_map(old_vocab, new_vocab), init, seed)


def remap_dense(
    kernel: Any,
    bias: Any | None,
    old_vocab: Any,
    new_vocab: Any,
    init: str = "mean",
    seed: int | np.random.Generator | None = None,
    *,
    rows: RowMap | None = None,
) -> tuple[np.ndarray, np.ndarray | None]:
    """``(kernel, bias)`` of a Dense layer over the vocabulary, remapped by token.

    ``kernel``: ``(d, old_vocab.input_dim)``, one column per id; ``bias``:
    ``(old_vocab.input_dim,)`` or ``None``. Each column (with its bias entry)
    moves like an embedding row; new columns come from ``init`` applied to
    the live learned columns. ``rows`` overrides the by-token map (repair uses
    ``RowMap.resize``).

    >>> from vocabguard import VocabSpec, build_vocabulary
    >>> old = build_vocabulary(["a b b"], VocabSpec(), progress=False)
    >>> new = build_vocabulary(["c a a a"], VocabSpec(), progress=False)
    >>> kernel, bias = remap_dense(np.eye(2, 4), np.arange(4.0), old, new)
    >>> bias.tolist()  # 'a' keeps 3.0, 'c' gets the mean of 'b' and 'a'
    [0.0, 1.0, 3.0, 2.5]
    """
    check_init(init)
    kernel = np.asarray(kernel)
    if kernel.ndim != 2:
        raise ValueError(
            "Expected a 2-D Dense kernel (units_in, input_dim). " + received(shape=kernel.shape)
        )
    if rows is None:
        _check_rows(kernel.shape[1], old_vocab, "Dense kernel", kernel.shape)
        rows = row_map(old_vocab, new_vocab)
    columns = kernel.T
    if bias is not None:
        bias = np.asarray(bias)
        if bias.shape != (kernel.shape[1],):
            raise ValueError(
                f"Expected a bias of shape ({kernel.shape[1]},), one entry per kernel column. "
                + received(bias_shape=bias.shape, kernel_shape=kernel.shape)
            )
        columns = np.concatenate([columns, bias.astype(kernel.dtype)[:, None]], axis=1)
    moved = remap_rows(columns, rows, init, seed)
    if bias is None:
        return np.ascontiguousarray(moved.T), None
    return (
        np.ascontiguousarray(moved[:, :-1].T),
        np.ascontiguousarray(moved[:, -1]).astype(bias.dtype),
    )


__all__ = [
    "INITS",
    "RowMap",
    "check_init",
    "remap_dense",
    "remap_embedding",
    "remap_rows",
    "row_map",
]
