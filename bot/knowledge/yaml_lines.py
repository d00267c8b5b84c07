"""YAML loading that remembers line numbers, so problems can point at `file:line`."""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

import yaml

try:  # the C loader is several times faster when PyYAML was built with libyaml
    _Base: type = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - depends on the PyYAML build
    _Base = yaml.SafeLoader


class LineDict(dict):
    """A mapping with the 1-based line of itself and of each key."""

    line: int = 0
    key_lines: dict[Hashable, int]  # keys are any plain YAML value (str, int, date...)
    duplicate_keys: list[tuple[str, int]]


class LineList(list):
    """A sequence with the 1-based line of itself and of each item."""

    line: int = 0
    item_lines: list[int]


class _LineLoader(_Base):
    pass


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> LineDict:
    merge_tag = "tag:yaml.org,2002:merge"
    own_count = sum(1 for key_node, _ in node.value if key_node.tag != merge_tag)
    loader.flatten_mapping(node)  # YAML merge keys (`<<: *defaults`) are valid YAML
    inherited = len(node.value) - own_count  # merged pairs come first; own keys override them
    result = LineDict()
    result.line = node.start_mark.line + 1
    result.key_lines = {}
    result.duplicate_keys = []
    own_keys: set[Any] = set()
    for position, (key_node, value_node) in enumerate(node.value):
        key = loader.construct_object(key_node, deep=True)
        key_line = key_node.start_mark.line + 1
        if not isinstance(key, Hashable):
            raise yaml.constructor.ConstructorError(
                None,
                None,
                "a key must be a plain value, not a list or mapping",
                key_node.start_mark,
            )
        if position >= inherited:
            if key in own_keys:
                # PyYAML would silently keep the last value; a knowledge editor wants to know.
                result.duplicate_keys.append((str(key), key_line))
            own_keys.add(key)
        result[key] = loader.construct_object(value_node, deep=True)
        result.key_lines[key] = key_line
    return result


def _construct_sequence(loader: _LineLoader, node: yaml.SequenceNode) -> LineList:
    result = LineList(loader.construct_object(child, deep=True) for child in node.value)
    result.line = node.start_mark.line + 1
    result.item_lines = [child.start_mark.line + 1 for child in node.value]
    return result


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence)
# Dates stay text: the loader validates them itself, so "2026-13-01" is a problem line, not a
# crash inside PyYAML's timestamp constructor.
_LineLoader.add_constructor("tag:yaml.org,2002:timestamp", _LineLoader.construct_scalar)


def load_with_lines(text: str) -> Any:
    """Parse YAML text; mappings become `LineDict`, sequences `LineList`."""
    return yaml.load(text, Loader=_LineLoader)


_CONTAINER = object()


def line_of(container: Any, key: Any = _CONTAINER, default: int = 1) -> int:
    """Line of `container[key]`, or of the container itself when no key is given."""
    if key is _CONTAINER:
        return getattr(container, "line", default)
    if isinstance(container, LineDict):
        return container.key_lines.get(key, container.line)
    if isinstance(container, LineList) and isinstance(key, int) and key < len(container.item_lines):
        return container.item_lines[key]
    return getattr(container, "line", default)
