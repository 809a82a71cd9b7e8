"""A feature of a job: which field(s), how they are tokenized, and the vocabulary name.

Shared by the Beam build and the in-process job runner (no Beam import here).
"""

from __future__ import annotations

import dataclasses

from vocabguard._src.core.errors import ConfigError, received
from vocabguard._src.core.spec import VocabSpec


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
