"""YAML helpers shared by the dataset loader and the suite loader: safe composition with line marks.

PyYAML's composed node tree keeps the position of every key and value; we keep it next to the
constructed Python data so that any error found later (by a validator, a factory, pydantic) can be
reported at the line of the YAML node it concerns.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import yaml

#: the libyaml-backed safe loader when available (same safety, much faster), else the pure-Python one
Loader: type[Any] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class YAMLProblem(Exception):
    """Invalid YAML, or a structural problem PyYAML lets through (duplicate keys)."""

    def __init__(self, message: str, line: int | None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line


def decode_utf8(raw: bytes) -> str:
    """Decode UTF-8 (a leading BOM is dropped) or raise ``YAMLProblem`` naming the line and byte offset."""
    skip = 3 if raw.startswith(b"\xef\xbb\xbf") else 0
    try:
        return raw[skip:].decode("utf-8")
    except UnicodeDecodeError as exc:
        pos = exc.start + skip
        line = raw.count(b"\n", 0, pos) + 1
        line_start = raw.rfind(b"\n", 0, pos) + 1
        raise YAMLProblem(
            f"not valid UTF-8: byte 0x{raw[pos]:02x} at byte offset {pos} "
            f"(byte {pos - line_start + 1} of the line); save the file as UTF-8",
            line,
        ) from None


def compose(text: str, *, loader: type[Any] = Loader) -> yaml.Node | None:
    """Compose a single YAML document into a node tree (None for an empty document).

    Raises ``YAMLProblem`` for syntax errors (with the line of the problem) and for duplicate keys in any
    mapping, which PyYAML would otherwise resolve silently by keeping the last one.
    """
    ld = loader(text)
    try:
        node: yaml.Node | None = ld.get_single_node()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        what = exc.problem or str(exc)
        if exc.context:
            what = f"{what} ({exc.context})"
        raise YAMLProblem(f"invalid YAML: {what}", mark.line + 1 if mark else None) from None
    except yaml.YAMLError as exc:
        raise YAMLProblem(f"invalid YAML: {exc}", None) from None
    finally:
        ld.dispose()
    if node is not None:
        check_duplicate_keys(node)
    return node


def construct(node: yaml.Node, *, loader: type[Any] = Loader) -> Any:
    """Build the Python value of a node with the safe constructor (no arbitrary objects)."""
    ld = loader("")
    try:
        return ld.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        raise YAMLProblem(
            f"invalid YAML value: {exc.problem or exc}", mark.line + 1 if mark else None
        ) from None
    finally:
        ld.dispose()


def check_duplicate_keys(root: yaml.Node) -> None:
    """Raise ``YAMLProblem`` at the second occurrence of a repeated scalar key in any mapping."""
    stack = [root]
    seen_nodes: set[int] = set()
    while stack:
        node = stack.pop()
        if id(node) in seen_nodes:  # aliases share nodes
            continue
        seen_nodes.add(id(node))
        if isinstance(node, yaml.MappingNode):
            keys: dict[str, int] = {}
            for k, v in node.value:
                if isinstance(k, yaml.ScalarNode) and k.tag != "tag:yaml.org,2002:merge":
                    line = k.start_mark.line + 1
                    if k.value in keys:
                        raise YAMLProblem(
                            f"duplicate key '{k.value}' (first on line {keys[k.value]}); YAML would silently "
                            "keep only the last one",
                            line,
                        )
                    keys[k.value] = line
                stack.append(v)
        elif isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)


def node_line(node: yaml.Node, path: Sequence[str | int]) -> int:
    """The 1-based line of the deepest node reachable along ``path`` (keys of mappings, indexes of lists).

    A mapping entry is located at its key. Path elements that do not match (for example pydantic's union
    tags) are skipped, so the answer is always the closest enclosing node.
    """
    line: int = node.start_mark.line + 1
    for el in path:
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                if isinstance(k, yaml.ScalarNode) and k.value == str(el):
                    line, node = k.start_mark.line + 1, v
                    break
        elif isinstance(node, yaml.SequenceNode) and isinstance(el, int) and 0 <= el < len(node.value):
            node = node.value[el]
            line = node.start_mark.line + 1
    return line
