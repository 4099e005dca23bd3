"""Read a spec file and turn every problem into one :class:`~hpo.errors.SpecError` that names the
file, the field, the rule and the fix."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from hpo.errors import HpoError, SpecError
from hpo.search_spaces.schema import SearchSpaceSpec

_SCHEMA_HINT = "see search_spaces/README.md for the fields a spec takes"
MAX_SPEC_BYTES = 1_000_000  # a spec is a page of YAML; anything near this is a mistake


class _SpecLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` without anchors and aliases: a spec has no use for them, and nested
    aliases expand exponentially (a few lines that take minutes and gigabytes to load)."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()  # type: ignore[no-untyped-call]
            raise yaml.MarkedYAMLError(
                problem="YAML aliases (*name) are not allowed in a spec",
                problem_mark=event.start_mark,
            )
        return super().compose_node(parent, index)


def bundled_specs() -> dict[str, Path]:
    """The specs shipped with the package, by file stem."""
    root = resources.files("hpo.search_spaces") / "specs"
    return {Path(str(p)).stem: Path(str(p)) for p in root.iterdir() if str(p).endswith(".yaml")}


def resolve_spec_path(name_or_path: str | Path) -> Path:
    """A path as given, or the name of a bundled spec (``xgboost_breast_cancer``)."""
    path = Path(name_or_path)
    if path.exists():
        return path
    specs = bundled_specs()
    if str(name_or_path) in specs:
        return specs[str(name_or_path)]
    raise SpecError(
        "spec file not found",
        where=str(name_or_path),
        fix=f"give a path to a YAML spec, or a bundled spec name: {', '.join(sorted(specs))}",
    )


def load_spec(name_or_path: str | Path) -> SearchSpaceSpec:
    """Parse and validate a spec file (schema only; names are checked by
    :func:`hpo.search_spaces.checks.check_spec`)."""
    path = resolve_spec_path(name_or_path)
    try:
        data = path.read_bytes()
        if len(data) > MAX_SPEC_BYTES:
            raise SpecError(
                f"the file has {len(data):,} bytes, over the {MAX_SPEC_BYTES:,} a spec may have",
                where=str(path),
                fix="a spec is a short YAML file; check that this is the right file",
            )
        text = data.decode("utf-8")
        raw = yaml.load(text, Loader=_SpecLoader)  # noqa: S506 - a SafeLoader subclass
    except UnicodeDecodeError as exc:
        raise SpecError(
            f"not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start})",
            where=str(path),
            fix="save the spec as UTF-8",
        ) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        raise SpecError(
            f"not valid YAML ({getattr(exc, 'problem', exc)})",
            where=where,
            fix="fix the YAML at that line (write values out instead of using anchors/aliases)",
        ) from None
    except RecursionError:
        raise SpecError(
            "the YAML is nested too deeply", where=str(path), fix="flatten the spec"
        ) from None
    except OSError as exc:
        raise SpecError(f"cannot read the file ({exc.strerror})", where=str(path)) from None
    return parse_spec(raw, source=str(path))


def parse_spec(raw: Any, *, source: str = "<spec>") -> SearchSpaceSpec:
    """Validate already-parsed YAML."""
    if not isinstance(raw, dict):
        raise SpecError(
            f"a spec must be a mapping of fields, but got {type(raw).__name__}",
            where=source,
            fix=_SCHEMA_HINT,
        )
    try:
        return SearchSpaceSpec.model_validate(raw)
    except ValidationError as exc:
        raise _to_spec_error(exc, raw, source) from None


def _to_spec_error(exc: ValidationError, raw: dict[str, Any], source: str) -> HpoError:
    lines = []
    for err in exc.errors(include_url=False):
        loc = _field_path(err["loc"], raw)
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "union_tag_invalid":
            given = err.get("ctx", {}).get("tag", err.get("input"))
            msg = f"unknown param type {given!r}; use one of: int, float, categorical"
        elif err["type"] == "extra_forbidden":
            msg = "unknown field; remove it or check its spelling"
        elif err["type"] == "missing":
            msg = "this field is required"
        lines.append(f"{loc}: {msg}" if loc else msg)
    first, *rest = lines
    more = "".join(f"\n  {line}" for line in rest)
    return SpecError(first + more, where=source, fix=_SCHEMA_HINT)


def _field_path(loc: tuple[int | str, ...], raw: dict[str, Any]) -> str:
    # Drop pydantic's union-member segments (e.g. 'int', 'float') that follow a param name.
    parts: list[str] = []
    node: Any = raw
    for part in loc:
        if isinstance(node, dict) and part in node:
            node = node[part]
            parts.append(str(part))
        elif isinstance(node, list | tuple) and isinstance(part, int) and part < len(node):
            node = node[part]
            parts.append(f"[{part}]")
        elif part in ("int", "float", "categorical"):
            continue
        else:
            parts.append(str(part))
            node = None
    return ".".join(parts).replace(".[", "[")
