"""First-seen state that survives between runs: ``ses-sigma scan --state FILE``.

An incident responder scanning a short export needs the history of earlier runs to say "new":
the baseline holds, per first-seen rule, when its learning period started and the value tuples
seen within the last ``forget_after`` with their last sighting. ``Engine.run(records,
baseline=...)`` starts each first-seen rule from it and updates it in place; ``save`` writes
it back.

File format (JSON, versioned; times are CloudTrail ISO 8601 strings)::

    {"format": "ses-sigma-baseline", "version": 1,
     "rules": {"<rule name>": {
         "spec": {"fields": [...], "derived": {...}, "forget_after": <seconds>},
         "learning_start": "2026-11-01T00:00:00Z" | null,
         "seen": [{"values": ["arn:..."], "last_seen": "2026-11-20T10:00:00Z"}, ...]}}}

Loading validates everything: a file that is not such a document (bad JSON, unknown format or
version, a wrong type anywhere, a bad time, a values list of the wrong length) is a
``BaselineError`` naming the file and the place; nothing is guessed. A rule whose ``spec``
differs from the rule's current ``first_seen`` (other fields, other forget_after) cannot use
its saved values: its state is dropped with a warning (``Baseline.warnings``) and it learns
again. Rules of the file that the pack does not have are kept as they are.
"""

from __future__ import annotations

import os
import tempfile
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from ses_sigma.match.correlation_plan import group_key
from ses_sigma.match.first_seen import FirstSeenSpec, FirstSeenState
from ses_sigma.records import RecordError, format_time, parse_event_time

__all__ = ["FORMAT", "VERSION", "Baseline", "BaselineError"]

FORMAT = "ses-sigma-baseline"
VERSION = 1

_SCALARS = (str, int, float, bool)


class BaselineError(Exception):
    """A baseline file that cannot be used; the message names the file and the place."""


@dataclass
class Baseline:
    """Saved first-seen state of every first-seen rule, by rule name."""

    states: dict[str, FirstSeenState] = field(default_factory=dict)
    specs: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: Kept as loaded: rules of the file that this run's pack does not have.
    foreign: dict[str, Any] = field(default_factory=dict)
    #: Rules whose saved state was dropped, and why.
    warnings: list[str] = field(default_factory=list)

    def state_for(self, name: str, spec: FirstSeenSpec) -> FirstSeenState:
        """The saved state of rule ``name`` (created empty, or emptied if the spec changed)."""
        fingerprint = spec.fingerprint()
        saved = self.foreign.pop(name, None)
        if saved is not None:
            if saved["spec"] != fingerprint:
                self.warnings.append(
                    f"{name}: the baseline was made with another first_seen spec "
                    f"({saved['spec']}); its state is dropped and the rule learns again"
                )
            else:
                self.states[name] = _state_from(saved, len(spec.fields))
        self.specs[name] = fingerprint
        return self.states.setdefault(name, FirstSeenState())

    @classmethod
    def load(cls, path: str | Path) -> Baseline:
        """Read and validate a baseline file (BaselineError on any defect)."""
        path = Path(path)
        try:
            data = orjson.loads(path.read_bytes())
        except OSError as exc:
            raise BaselineError(f"{path}: cannot read: {exc}") from None
        except orjson.JSONDecodeError as exc:
            raise BaselineError(f"{path}: not JSON: {exc}") from None
        try:
            rules = _validate(data)
        except ValueError as exc:
            raise BaselineError(f"{path}: not a ses-sigma baseline: {exc}") from None
        return cls(foreign=rules)

    @classmethod
    def load_or_new(cls, path: str | Path) -> Baseline:
        """``load`` when the file exists, else an empty baseline (the first run)."""
        return cls.load(path) if Path(path).exists() else cls()

    def to_json(self) -> bytes:
        """The file content (deterministic: rules and values sorted)."""
        rules: dict[str, Any] = dict(self.foreign)
        for name, state in self.states.items():
            seen = [
                {"values": [v for _, v in key], "last_seen": format_time(last)}
                for key, last in sorted(state.seen.items(), key=lambda kv: (kv[1], repr(kv[0])))
            ]
            start = state.learning_start
            rules[name] = {
                "spec": self.specs[name],
                "learning_start": None if start is None else format_time(start),
                "seen": seen,
            }
        doc = {"format": FORMAT, "version": VERSION, "rules": dict(sorted(rules.items()))}
        return orjson.dumps(doc, option=orjson.OPT_INDENT_2) + b"\n"

    def save(self, path: str | Path) -> None:
        """Write the file atomically (a temporary file renamed over it)."""
        path = Path(path)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent or ".")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(self.to_json())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


def _time(value: Any, where: str) -> float:
    try:
        return parse_event_time(value)
    except RecordError as exc:
        raise ValueError(f"{where}: {exc}") from None


def _validate(data: Any) -> dict[str, Any]:
    if not isinstance(data, dict) or set(data) != {"format", "version", "rules"}:
        raise ValueError("must be an object with the keys format, version and rules")
    if data["format"] != FORMAT:
        raise ValueError(f"format is {data['format']!r}, not {FORMAT!r}")
    if data["version"] != VERSION:
        raise ValueError(f"version {data['version']!r} is not supported (only {VERSION})")
    rules = data["rules"]
    if not isinstance(rules, dict):
        raise ValueError("rules must be an object of rule names")
    for name, entry in rules.items():
        where = f"rules.{name}"
        if not isinstance(entry, dict) or set(entry) != {"spec", "learning_start", "seen"}:
            raise ValueError(f"{where}: must be an object with spec, learning_start and seen")
        spec = entry["spec"]
        if (
            not isinstance(spec, dict)
            or set(spec) != {"fields", "derived", "forget_after"}
            or not isinstance(spec["fields"], list)
            or not spec["fields"]
            or not all(isinstance(f, str) for f in spec["fields"])
            or not isinstance(spec["derived"], dict)
            or not isinstance(spec["forget_after"], int | float)
            or isinstance(spec["forget_after"], bool)
        ):
            raise ValueError(f"{where}.spec: must hold fields, derived and forget_after")
        if entry["learning_start"] is not None:
            _time(entry["learning_start"], f"{where}.learning_start")
        if not isinstance(entry["seen"], list):
            raise ValueError(f"{where}.seen: must be a list")
        width = len(spec["fields"])
        for i, item in enumerate(entry["seen"]):
            at = f"{where}.seen[{i}]"
            if not isinstance(item, dict) or set(item) != {"values", "last_seen"}:
                raise ValueError(f"{at}: must be an object with values and last_seen")
            values = item["values"]
            if (
                not isinstance(values, list)
                or len(values) != width
                or not all(isinstance(v, _SCALARS) for v in values)
            ):
                raise ValueError(f"{at}.values: must be a list of {width} scalar value(s)")
            _time(item["last_seen"], f"{at}.last_seen")
    return rules


def _state_from(entry: dict[str, Any], width: int) -> FirstSeenState:
    """A validated rule entry as engine state (values are keyed as the engine keys them)."""
    start = entry["learning_start"]
    seen: OrderedDict[tuple[tuple[str, Any], ...], float] = OrderedDict()
    items = [
        (group_key(tuple(("", v) for v in item["values"])), parse_event_time(item["last_seen"]))
        for item in entry["seen"]
    ]
    for key, last in sorted(items, key=lambda kv: kv[1]):
        assert len(key) == width
        seen[key] = max(last, seen.get(key, last))
    return FirstSeenState(
        learning_start=None if start is None else parse_event_time(start), seen=seen
    )
