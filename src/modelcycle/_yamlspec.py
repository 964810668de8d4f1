"""YAML into pydantic models, with errors that name the file, the line and the key.

PyYAML's composed node tree keeps each node's position; when pydantic rejects a value, the
error's location (``data.schema.columns.age.kind``) is walked down that tree to the line the
user has to fix::

    pipeline.yaml:12: data.schema.age.kind: input should be 'numeric', 'integer', ...

Every spec file (the pipeline spec, a cleaning-steps file ...) is read through here, so they
all report problems the same way. ``explain`` lets a caller word an error better than
pydantic does (e.g. list the step types of a discriminated union).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from modelcycle.errors import SpecError

__all__ = ["load_model", "read_yaml", "validate_section"]

M = TypeVar("M", bound=BaseModel)
#: ``explain(error, parent_value) -> message or None`` rewords one pydantic error.
Explain = Callable[[dict[str, Any], Any], "str | None"]


def read_yaml(path: str | Path) -> tuple[Any, yaml.Node | None]:
    """The data in ``path`` and its node tree (for line numbers)."""
    source = Path(path)
    try:
        text = source.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise SpecError(f"{source}: not UTF-8 text (byte {exc.start + 1})") from None
    except OSError as exc:
        raise SpecError(f"{source}: cannot read the spec: {exc.strerror}") from None
    loader = yaml.SafeLoader(text)
    try:
        root = loader.get_single_node()
        data = loader.construct_document(root) if root is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f":{mark.line + 1}" if mark is not None else ""
        raise SpecError(f"{source}{where}: not valid YAML: {exc.problem or exc.context}") from None
    except yaml.YAMLError as exc:
        raise SpecError(f"{source}: not valid YAML: {exc}") from None
    finally:
        loader.dispose()
    return data, root


def _key_path(data: Any, loc: Sequence[Any]) -> tuple[list[str | int], Any]:
    """The key path of ``loc`` in ``data`` (without pydantic's union tags) and its parent."""
    parts: list[str | int] = []
    current, parent = data, None
    for item in loc:
        if isinstance(current, dict) and item not in current and current.get("type") == item:
            continue  # pydantic names the union member here; it is not a key of the data
        parent = current
        if isinstance(current, list) and isinstance(item, int) and item < len(current):
            current = current[item]
        else:
            current = current.get(item) if isinstance(current, dict) else None
        parts.append(item)
    return parts, parent


def _dotted(parts: Sequence[str | int]) -> str:
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(top level)"


def _line_of(root: yaml.Node | None, parts: Sequence[str | int]) -> int | None:
    """The 1-based line of the deepest YAML node along ``parts``."""
    node, line = root, (None if root is None else root.start_mark.line + 1)
    for part in parts:
        if isinstance(node, yaml.MappingNode):
            match = next(((k, v) for k, v in node.value if k.value == str(part)), None)
            if match is None:
                break
            line, node = match[0].start_mark.line + 1, match[1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            if part >= len(node.value):
                break
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            break
    return line


def _message(error: dict[str, Any], parent: Any, explain: Explain | None) -> str:
    custom = explain(error, parent) if explain is not None else None
    if custom is not None:
        return custom
    if error["type"] == "missing":
        return "missing required key"
    if error["type"] == "extra_forbidden":
        return "unknown key"
    message = str(error["msg"]).removeprefix("Value error, ")
    return message[:1].lower() + message[1:]


def validate_section(
    model: type[M],
    data: Any,
    *,
    source: str,
    root: yaml.Node | None = None,
    prefix: Sequence[str] = (),
    explain: Explain | None = None,
) -> M:
    """Validate ``data[prefix...]`` as ``model``; the first error becomes one SpecError line."""
    section = data
    for key in prefix:
        section = section[key]
    try:
        return model.model_validate(section)
    except ValidationError as exc:
        errors = exc.errors()
        error: dict[str, Any] = dict(errors[0])
        loc: tuple[Any, ...] = errors[0]["loc"]
        parts, parent = _key_path(data, [*prefix, *loc])
        if error["type"] == "union_tag_invalid":
            parts.append("type")
        line = _line_of(root, parts)
        where = f"{source}:{line}" if line else source
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        text = _message(error, parent, explain)
        raise SpecError(f"{where}: {_dotted(parts)}: {text}{more}") from None


def load_model(model: type[M], path: str | Path) -> M:
    """Read the YAML file at ``path`` and validate all of it as ``model``."""
    data, root = read_yaml(path)
    if not isinstance(data, dict):
        raise SpecError(f"{path}: expected a mapping of keys at the top level")
    return validate_section(model, data, source=str(path), root=root)
