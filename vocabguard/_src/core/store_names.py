"""Names in a store: vocabulary names, references, and the fixed names on disk.

Layout of one vocabulary under the store's root::

    <name>/v<N>/{manifest.json, tokens.parquet, vocab.txt}   a version (immutable)
    <name>/v<N>/deleted.json                                  all gc leaves of a version
    <name>/.pins/v<N>.json                                    a pin (gc keeps v<N>)
    <name>/.gc/v<N>-<uuid>                                    a gc deleting v<N>
    <name>/.staging-<uuid>/                                   a publish being written

References: ``name`` or ``name@latest`` (newest), ``name@v3``, ``name@<8+ hex>``
(a fingerprint prefix).

>>> Ref.parse("news@v3").version, validate_name("news")
(3, 'news')
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from vocabguard._src.core.errors import InvalidNameError, received

# \Z, not $: `$` also matches before a trailing newline, so "name\n" would pass.
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}\Z")
# At most 18 digits: every number fits an int64 and a directory name.
VERSION_RE = re.compile(r"^v([1-9][0-9]{0,17})\Z")
FINGERPRINT_RE = re.compile(r"^[0-9a-f]{8,64}\Z")
DEFAULT_STORE = "./vocab_store"
STAGING_PREFIX = ".staging-"
MAX_PUBLISH_ATTEMPTS = 1000
# Housekeeping under <root>/<name>/, beside the immutable version directories:
PINS_DIR = ".pins"  # v<N>.json: a pinned version (gc keeps it)
TOMBSTONE = "deleted.json"  # v<N>/deleted.json: all that gc leaves of a version
GC_DIR = ".gc"  # v<N>-<uuid>: a gc announcing it is deleting v<N> (see pin())
CLAIM_PREFIX = ".claim-"  # object stores: a publisher claiming v<N> (see _publish_in_place)
CLOCK_PREFIX = ".clock-"  # a probe written to read the store's clock (see _server_now)
RECORD_RE = re.compile(r"^v([1-9][0-9]{0,17})\.json\Z")
STALE_SECONDS = 3600  # staging dirs and gc intents untouched this long are leftovers
MAX_READ_ATTEMPTS = 20
TWIN_WAIT_SECONDS = 60.0
# Pin records and tombstones are a few hundred bytes; one larger is not vocabguard's.
MAX_RECORD_BYTES = 1 << 20
TEMP_INFIX = ".tmp-"  # <file>.tmp-<uuid>: a small record being written (see _write_atomic)


def validate_name(name: str) -> str:
    """Check a vocabulary name: letters, digits, ``_ . -``; no path separators, no ``..``."""
    if not isinstance(name, str) or not NAME_RE.match(name) or ".." in name:
        raise InvalidNameError(
            "A vocabulary name must start with a letter or digit and hold only letters, digits, "
            "'_', '.' and '-' (at most 128 characters, no '..'), so it cannot leave the store's "
            "root. " + received(name=name),
            cases=[name],
        )
    return name


@dataclass(frozen=True)
class Ref:
    """A parsed reference: ``name`` plus one of latest / a version / a fingerprint prefix."""

    name: str
    version: int | None = None
    fingerprint_prefix: str | None = None

    @classmethod
    def parse(cls, ref: str) -> Ref:
        """Parse ``name``, ``name@latest``, ``name@v3`` or ``name@<hex prefix>``.

        >>> Ref.parse("news@v3"), Ref.parse("news").version
        (Ref(name='news', version=3, fingerprint_prefix=None), None)
        """
        name, _, selector = str(ref).partition("@")
        validate_name(name)
        if selector in ("", "latest"):
            return cls(name)
        if match := VERSION_RE.match(selector):
            return cls(name, version=int(match.group(1)))
        if FINGERPRINT_RE.match(selector):
            return cls(name, fingerprint_prefix=selector)
        if re.match(r"^v[1-9][0-9]{18,}\Z", selector):
            raise InvalidNameError(
                f"Version numbers have at most 18 digits, so reference "
                f"{ref[:60]!r}{'...' if len(ref) > 60 else ''} names no version. Use "
                f"'{name}@v3' or '{name}@latest'. " + received(version_digits=len(selector) - 1),
                cases=[ref],
            )
        raise InvalidNameError(
            f"Cannot read the version part of reference {ref!r}: expected '{name}@latest', "
            f"'{name}@v3' or '{name}@' followed by 8 or more hex digits of a fingerprint. "
            + received(ref=ref),
            cases=[ref],
        )
