"""``load_yaml``: the one YAML loader of vocabguard, bounded against hostile files.

>>> import pathlib, tempfile
>>> path = pathlib.Path(tempfile.mkdtemp()) / "spec.yaml"
>>> _ = path.write_text("tokenizer: whitespace\\nmin_count: 2\\n")
>>> load_yaml(path)
{'tokenizer': 'whitespace', 'min_count': 2}
"""

from __future__ import annotations

import os
import stat
from typing import Any

import yaml

from vocabguard._src.core.errors import ConfigError, received

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
