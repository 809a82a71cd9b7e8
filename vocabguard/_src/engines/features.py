"""A feature of a job: which field(s), how they are tokenized, and the vocabulary name.

Shared by the Beam build and the in-process job runner (no Beam import here).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from vocabguard._src.core.errors import ConfigError, InputDataError, received
from vocabguard._src.core.spec import VocabSpec
from vocabguard._src.core.values import WEIGHT_SCALE, check_total_weight
from vocabguard._src.core.version import __version__


@dataclasses.dataclass(frozen=True)
class Feature:
    """One feature of a job: which field, how it is tokenized, and its vocabulary name."""

    field: str
    name: str
    spec: VocabSpec = dataclasses.field(default_factory=VocabSpec)
    # Stable ids: grow this published version (every parent token keeps its id).
    parent: str | None = None
    # With ``parent``: parent tokens now below min_count map to OOV (rows kept).
    retire: bool = False
    # Publish an empty vocabulary when the inputs hold no records (else an error).
    allow_empty: bool = False
    # Fail, publishing nothing, when more than this share of records is skipped.
    max_bad_fraction: float = 0.1
    # Several fields sharing this vocabulary (one id space); default: (field,).
    fields: tuple[str, ...] = ()
    # Count each record's tokens by this field's weight (exact fixed-point sums).
    weight_field: str | None = None

    @property
    def all_fields(self) -> tuple[str, ...]:
        return tuple(self.fields) or (self.field,)

    def __post_init__(self):
        fraction = self.max_bad_fraction
        if (
            isinstance(fraction, bool)
            or not isinstance(fraction, (int, float))
            or not (0 <= fraction <= 1)
        ):
            raise ConfigError(
                "`max_bad_fraction` must be a number in [0, 1]: the largest share of records "
                "a build may skip before it fails. " + received(max_bad_fraction=fraction)
            )
        if not isinstance(self.allow_empty, bool):
            raise ConfigError(
                "`allow_empty` must be true or false. " + received(allow_empty=self.allow_empty)
            )


def manifest_stats(feature: Feature, stats: dict[str, Any], distinct: int) -> dict[str, Any]:
    """The manifest's ``stats`` of a job feature, from its counting step's ``stats``: the
    same on Beam and in process, so both publish the same manifest.

    >>> manifest_stats(Feature("topic", "news_topic"), {"documents": 2, "total_tokens": 3}, 2)
    {'documents': 2, 'total_tokens': 3, 'distinct_tokens': 2}
    """
    record: dict[str, Any] = {
        "documents": stats.get("documents", 0),
        "total_tokens": stats.get("total_tokens", 0),
        "distinct_tokens": distinct,
    }
    list_fields = sorted(f for f in feature.all_fields if stats.get(f"lists.{f}"))
    if list_fields:
        record["list_fields"] = list_fields
    missing = {f: stats.get(f"missing.{f}", 0) for f in feature.all_fields}
    if feature.spec.missing != "error" or any(missing.values()):
        record["missing"] = missing
    if feature.weight_field:
        units = stats.get("total_weight_units", 0)
        check_total_weight(units)
        record.update(
            weighted=True,
            weight_unit=1 / WEIGHT_SCALE,
            total_weight=units / WEIGHT_SCALE,
            total_weight_units=units,
        )
    skipped = {k.split(".", 1)[1]: v for k, v in sorted(stats.items()) if k.startswith("bad_")}
    if skipped:
        record["bad_records_skipped"] = skipped
    return record


def build_record(feature: Feature, description: str, builder: str) -> dict[str, Any]:
    """The manifest's ``build`` of a job feature (``builder``: ``beam`` or ``inprocess``).

    >>> build_record(Feature("topic", "news_topic"), "news.jsonl", "beam")["input"]
    'news.jsonl'
    """
    record: dict[str, Any] = {
        "vocabguard_version": __version__,
        "input": description,
        "builder": builder,
    }
    if feature.fields:
        record["fields"] = list(feature.all_fields)
    if feature.weight_field:
        record["weight_field"] = feature.weight_field
    return record


def check_skipped(
    where: str | None,
    skipped: Mapping[str, int],
    records_read: int,
    max_bad_fraction: float,
    runner: str | None,
    *,
    description: str | None = None,
) -> str:
    """Raise if more than ``max_bad_fraction`` of the records were skipped (nothing is
    published); returns the skip reasons, most frequent first, as text.

    The one check of every build. A job names ``where`` (runner and feature) and the
    ``max_bad_fraction`` key; a single-vocabulary build (``where`` None) names its
    inputs (``description``) and the ``--max-bad-fraction`` flag.

    >>> check_skipped("On DirectRunner", {"missing_field": 50, "bad_json": 2}, 1000, 0.1, "d")
    'missing_field 50, bad_json 2'
    >>> check_skipped(None, {"bad_json": 2}, 3, 0.5, None, description="a.jsonl")
    Traceback (most recent call last):
    ...
    vocabguard.errors.InputDataError: 2 of 3 records were skipped (66.7%), more than \
--max-bad-fraction 0.5; top reasons: bad_json 2. Nothing was published. Fix the input or the \
--field names (a.jsonl), or raise --max-bad-fraction if this is expected. Received: \
skipped=2, records=3
    """
    total = sum(skipped.values())
    ordered = sorted(skipped.items(), key=lambda kv: -kv[1])
    if where is None:
        if not total or total <= max_bad_fraction * records_read:
            return ", ".join(f"{r} {n}" for r, n in ordered)
        reasons = ", ".join(f"{r} {n}" for r, n in ordered[:3])
        raise InputDataError(
            f"{total} of {records_read} records were skipped "
            f"({100 * total / records_read:.1f}%), more than --max-bad-fraction "
            f"{max_bad_fraction}; top reasons: {reasons}. Nothing was published. Fix the input "
            f"or the --field names ({description}), or raise --max-bad-fraction if this is "
            "expected. " + received(skipped=total, records=records_read),
            cases=[description],
        )
    reasons = ", ".join(f"{r} {n}" for r, n in ordered)
    if records_read and total / records_read > max_bad_fraction:
        raise InputDataError(
            f"{where}: {total} of {records_read} records were skipped "
            f"({total / records_read:.1%}), more than max_bad_fraction "
            f"{max_bad_fraction:g}; top reasons: {reasons}. Nothing was published. "
            "Fix the input (or the field name), or raise max_bad_fraction if this is expected. "
            + received(runner=runner, skipped=total, records_read=records_read)
        )
    return reasons


def check_not_empty(
    where: str | None,
    records: int,
    tokens: int,
    allow_empty: bool,
    runner: str | None,
    *,
    reasons: str = "",
    documents: int | None = None,
    description: str | None = None,
    what: str = "build",
) -> None:
    """No silent empty results: inputs without records (or without a single token)
    are an error unless ``allow_empty``.

    The one empty-input check of every build, shaped as ``check_skipped``. A job names
    ``where`` (runner and feature), the records it read, the tokens it learned, the skip
    ``reasons`` and the ``allow_empty`` key (and ``documents`` where its runner counts
    them); a single-vocabulary build (``where`` None) counts documents as ``records``,
    names its inputs (``description``) and the ``--allow-empty`` flag.

    >>> check_not_empty(None, 2, 5, False, None, description="a.txt")
    >>> check_not_empty("On DirectRunner, feature 'f'", 30, 0, False, "DirectRunner")
    Traceback (most recent call last):
    ...
    vocabguard.errors.InputDataError: On DirectRunner, feature 'f': 30 records were read but \
no token was learned; nothing was published. Check the field name and the spec (min_count, \
tokenizer), or set allow_empty: true for this feature. Received: runner='DirectRunner', \
records_read=30
    """
    if allow_empty or (records and tokens):
        return
    if where is None:
        found = "no documents" if not records else f"{records} documents but not one token"
        raise InputDataError(
            f"The inputs hold {found}: {description}. An empty {what} is almost always a wrong "
            "path, glob, --format or --field. Check the inputs, or pass --allow-empty if an "
            "empty result is intended. "
            + received(input=description, documents=records, tokens=tokens),
            cases=[description],
        )
    if not records:
        raise InputDataError(
            f"{where}: the inputs held no records, so the vocabulary would be empty; "
            "nothing was published. Check the input paths, or set allow_empty: true for "
            "this feature. " + received(runner=runner, records_read=0)
        )
    hint = f" (skipped: {reasons})" if reasons else ""
    counted = {} if documents is None else {"documents": documents}
    raise InputDataError(
        f"{where}: {records} records were read but no token was learned"
        f"{hint}; nothing was published. Check the field name and the spec "
        "(min_count, tokenizer), or set allow_empty: true for this feature. "
        + received(runner=runner, records_read=records, **counted)
    )


def published_results(keys: Sequence[str], features: Sequence[Feature], published) -> list[dict]:
    """A job's result: one dict per feature, from ``publish_together``'s published versions."""
    return [
        {
            "feature": key,
            "name": feature.name,
            "ref": version.ref,
            "fingerprint": version.fingerprint,
            "input_dim": version.input_dim,
            "newly_published": bool(version.newly_published),
        }
        for key, feature, version in zip(keys, features, published)
    ]
