"""YAML for files from anyone: `yaml.SafeLoader` with limits on nesting depth and alias expansion.

`safe_load` alone takes no arbitrary objects, but a few hundred bytes can still nest deeper than the
interpreter's recursion limit, point an anchor at itself, or expand aliases to billions of values
(the "billion laughs"). Everything here is decided while the node graph is composed, before a single
value is constructed, so a hostile file costs time and memory in proportion to its size.
"""

from __future__ import annotations

from typing import Any

import yaml
from yaml.composer import ComposerError
from yaml.constructor import ConstructorError
from yaml.events import AliasEvent, CollectionStartEvent

MAX_DEPTH = 64  # collections inside collections, aliases expanded; scenarios use fewer than 10
MAX_VALUES = 100_000  # values of the document once every alias is expanded; the library's largest has ~200


class LimitExceeded(ComposerError):
    """Well-formed YAML that goes past a limit; `problem` says which, `problem_mark` where."""


class LimitedLoader(yaml.SafeLoader):
    """A SafeLoader that refuses, with the line, what is nested too deeply, an alias to a collection
    that contains it, and aliases that expand past `max_values`."""

    def __init__(self, stream: str, max_depth: int = MAX_DEPTH, max_values: int = MAX_VALUES) -> None:
        super().__init__(stream)
        self.max_depth = max_depth
        self.max_values = max_values
        self._depth = 0
        self._open: set[str] = set()  # anchors of collections still being composed
        # Per composed node (by id; nodes live as long as the loader): values it expands to, and its height.
        self._size: dict[int, tuple[int, int]] = {}

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node:
        event = self.peek_event()
        if isinstance(event, AliasEvent):
            anchor = event.anchor or ""
            if anchor in self._open:
                raise LimitExceeded(None, None, f"the alias *{anchor} refers to a collection that contains it "
                                    "(recursive aliases are not allowed)", event.start_mark)
            node = super().compose_node(parent, index)  # the anchored node, complete
            _, height = self._size.get(id(node), (1, 1))
            if self._depth + height > self.max_depth:
                raise LimitExceeded(None, None, f"the alias *{anchor} nests values more than {self.max_depth} "
                                    "levels deep", event.start_mark)
            return node
        if self._depth >= self.max_depth:
            raise LimitExceeded(None, None, f"values are nested more than {self.max_depth} levels deep",
                                event.start_mark)
        anchor = event.anchor if isinstance(event, CollectionStartEvent) else None
        if anchor:
            self._open.add(anchor)
        self._depth += 1
        try:
            node = super().compose_node(parent, index)
        finally:
            self._depth -= 1
            if anchor:
                self._open.discard(anchor)
        self._measure(node)
        return node

    def _measure(self, node: yaml.Node) -> None:
        """Record what `node` expands to; its children are measured already (aliases included)."""
        if isinstance(node, yaml.MappingNode):
            children = [n for pair in node.value for n in pair]
        elif isinstance(node, yaml.SequenceNode):
            children = list(node.value)
        else:
            self._size[id(node)] = (1, 1)
            return
        sizes = [self._size.get(id(child), (1, 1)) for child in children]
        total = 1 + sum(size for size, _ in sizes)
        if total > self.max_values:
            raise LimitExceeded(None, None, f"the document expands to more than {self.max_values:,} values "
                                "(aliases repeat what they refer to)", node.start_mark)
        self._size[id(node)] = (total, 1 + max((height for _, height in sizes), default=0))

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        # A value YAML's own types cannot hold (a 5,000-digit integer, the 30th of February) is an
        # error at its line, not a bare ValueError.
        try:
            return super().construct_object(node, deep)
        except (ValueError, OverflowError) as exc:
            raise ConstructorError(None, None, f"cannot read this value: {str(exc).split(';')[0]}",
                                   node.start_mark) from None


def load(text: str, *, max_depth: int = MAX_DEPTH, max_values: int = MAX_VALUES) -> tuple[yaml.Node | None, Any]:
    """The composed node tree (for line numbers) and the value of a single-document YAML text.
    Raises `yaml.YAMLError` (a `MarkedYAMLError` with the line when it has one)."""
    loader = LimitedLoader(text, max_depth=max_depth, max_values=max_values)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    finally:
        loader.dispose()
    return node, data
