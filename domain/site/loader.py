"""Parse a site file from YAML text, reporting problems with their line numbers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml
from pydantic import ValidationError

from domain.site.config import SiteConfig

__all__ = ["SiteProblem", "SiteConfigError", "parse_site_yaml"]


@dataclass(frozen=True)
class SiteProblem:
    """One problem in a site file.

    Attributes:
        line: 1-based line number in the file (`None` if unknown).
        path: dotted field path, e.g. `cameras.cam1.rules.loiter.dwell_s` (empty for the root).
        message: what is wrong.
    """

    line: int | None
    path: str
    message: str


class SiteConfigError(ValueError):
    """A site file that cannot be used; `str()` lists one `source:line: path: message` per problem.

    Attributes:
        source: name of the file (for messages).
        problems: each problem found.
    """

    def __init__(self, source: str, problems: list[SiteProblem]) -> None:
        self.source = source
        self.problems = problems
        super().__init__("\n".join(self._format(p) for p in problems))

    def _format(self, problem: SiteProblem) -> str:
        where = f"{self.source}:{problem.line}" if problem.line is not None else self.source
        return f"{where}: {problem.path}: {problem.message}" if problem.path else f"{where}: {problem.message}"


def _is_union_tag(node: yaml.Node | None, item: Any) -> bool:
    """Whether `item` is the discriminator value (`type:`) of the mapping `node`."""
    if not isinstance(node, yaml.MappingNode):
        return False
    return any(k.value == "type" and getattr(v, "value", None) == item for k, v in node.value)


def _locate(root: yaml.Node | None, loc: tuple[Any, ...]) -> tuple[int | None, str]:
    """Walk a pydantic error `loc` through the YAML node tree.

    Returns the 1-based line of the deepest node reached (the key's line for mapping entries)
    and the dotted path. Loc elements that match no node but are followed by ones that do
    (pydantic's union tags) are dropped from the path; trailing unmatched ones (a missing
    field) are kept.
    """
    node, line = root, (root.start_mark.line + 1 if root is not None else None)
    parts: list[str] = []
    pending: list[str] = []
    for item in loc:
        child, child_line = None, None
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                if isinstance(key_node, yaml.ScalarNode) and key_node.value == str(item):
                    child, child_line = value_node, key_node.start_mark.line + 1
        elif isinstance(node, yaml.SequenceNode) and isinstance(item, int) and 0 <= item < len(node.value):
            child = node.value[item]
            child_line = child.start_mark.line + 1
        if child is None:
            if not _is_union_tag(node, item):
                pending.append(str(item))
            continue
        pending.clear()  # unmatched items before a match were union tags
        parts.append(str(item))
        node, line = child, child_line
    return line, ".".join(parts + pending)


def _duplicate_keys(node: yaml.Node | None, path: tuple[str, ...] = ()) -> list[SiteProblem]:
    problems: list[SiteProblem] = []
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = str(key_node.value)
            if key in seen:
                problems.append(SiteProblem(key_node.start_mark.line + 1, ".".join((*path, key)), "duplicate key"))
            seen.add(key)
            problems += _duplicate_keys(value_node, (*path, key))
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            problems += _duplicate_keys(item, (*path, str(i)))
    return problems


MAX_NODES = 50_000  # a large store's file has a few thousand; a bigger one is refused before it is built
MAX_CHARS = 4 * 2**20


class _SiteLoader(yaml.SafeLoader):
    """PyYAML's safe loader that refuses aliases (`*name`, `<<: *name`) and documents over `MAX_NODES` nodes.

    Aliases are how a few hundred bytes of YAML expand into billions of nodes ("billion laughs");
    a site file has no use for them.
    """

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._nodes = 0

    def compose_node(self, parent: yaml.Node | None, index: object) -> yaml.Node | None:  # type: ignore[override]
        if self.check_event(yaml.AliasEvent):
            mark = self.peek_event().start_mark
            raise yaml.composer.ComposerError(None, None, "aliases (*name) are not allowed in a site file", mark)
        self._nodes += 1
        if self._nodes > MAX_NODES:
            mark = self.peek_event().start_mark
            raise yaml.composer.ComposerError(None, None, f"more than {MAX_NODES} YAML nodes", mark)
        return super().compose_node(parent, index)


def parse_site_yaml(text: str, source: str = "<site>") -> SiteConfig:
    """Parse and validate a site file.

    Args:
        text: the YAML document.
        source: name used in error messages, e.g. `site.yaml`.

    Returns:
        The validated `SiteConfig`.

    Raises:
        SiteConfigError: (a `ValueError`) on YAML syntax errors, aliases, more than `MAX_NODES`
            nodes or `MAX_CHARS` characters, an empty or non-mapping document, duplicate keys, or
            any validation problem; the message names the
            source, line and field path of each, e.g.
            `site.yaml:14: cameras.cam1.rules.loiter.dwell_s: Input should be greater than 0`.

    Example:
        >>> parse_site_yaml("site: {name: demo}").site.name
        'demo'
    """
    if len(text) > MAX_CHARS:
        raise SiteConfigError(source, [SiteProblem(None, "", f"the site file has more than {MAX_CHARS} characters")])
    try:
        root = yaml.compose(text, Loader=_SiteLoader)
        data = yaml.load(text, Loader=_SiteLoader)  # noqa: S506  (a SafeLoader without aliases)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        line = mark.line + 1 if mark is not None else None
        detail = getattr(exc, "problem", None) or str(exc)
        raise SiteConfigError(source, [SiteProblem(line, "", f"invalid YAML: {detail}")]) from None
    if data is None:
        raise SiteConfigError(source, [SiteProblem(1, "", "the site file is empty")])
    if not isinstance(data, dict):
        kind = type(data).__name__
        raise SiteConfigError(
            source, [SiteProblem(root.start_mark.line + 1, "", f"the site file must be a mapping, but got a {kind}")]
        )
    problems = _duplicate_keys(root)
    if problems:
        raise SiteConfigError(source, problems)
    try:
        return SiteConfig.model_validate(data)
    except ValidationError as exc:
        for err in exc.errors():
            loc = tuple(err["loc"]) + tuple((err.get("ctx") or {}).get("path", ()))
            line, path = _locate(root, loc)
            problems.append(SiteProblem(line, path, err["msg"].removeprefix("Value error, ")))
        raise SiteConfigError(source, problems) from None
