"""Campaign replays: ``scenarios/campaigns/<name>.yml`` -> CloudTrail records with stage labels.

A campaign file describes a publicly documented SES campaign as a list of steps, each labelled
with its stage of the abuse chain (``STAGES``). Steps are expanded into complete CloudTrail
records by ``cloudtrail.make_record``. The stage is a property of the step, never a key of the
record: the records handed to the scanner are pure CloudTrail, and the labels travel beside
them (``Replay.stages``: eventID -> stage). The format is in ``scenarios/README.md``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ses_sigma.evaluate.cloudtrail import Principal, make_record
from ses_sigma.evaluate.org import ALL_REGIONS, org_principal
from ses_sigma.records import RecordError, parse_event_time

__all__ = [
    "CONTEXT",
    "STAGES",
    "Campaign",
    "CampaignError",
    "Replay",
    "load_campaign",
    "load_campaigns",
    "parse_duration",
]

#: The stages of the SES abuse chain (shared/reference/ses-threats.md), in chain order.
STAGES: dict[str, str] = {
    "key_validation": "key validation (sts GetCallerIdentity)",
    "recon": "SES recon (v1 and v2 read calls)",
    "quota_recon": "quota recon (servicequotas, serviceCode ses)",
    "sandbox_escape": "sandbox escape (PutAccountDetails)",
    "quota_raise": "quota raise (RequestServiceQuotaIncrease, support CreateCase)",
    "enable_sending": "enable sending (account or configuration set)",
    "new_sender_identity": "new sender identity (verify / create identity, DKIM)",
    "smtp_credentials": "SMTP credentials (IAM user, SES send rights, access key)",
    "sending": "sending (SendEmail / SendRawEmail data events)",
    "cleanup_evasion": "cleanup / evasion (deletions, feedback off, policies, receipt rules)",
}
#: Records of a replay outside the SES chain (IAM persistence, other services): replayed so
#: the scanner sees them, never counted as a stage.
CONTEXT = "context"

_DURATION_RE = re.compile(r"(\d+)([dhms])")
_UNITS = {"d": 86400, "h": 3600, "m": 60, "s": 1}
_STEP_KEYS = {
    "at", "stage", "principal", "call", "region", "regions", "spread", "repeat", "params",
    "response", "error", "error_message", "resources", "note",
}  # fmt: skip


class CampaignError(ValueError):
    """A campaign file that cannot be replayed; the message names the file and the step."""


def parse_duration(value: Any) -> float:
    """``90`` / ``"90s"`` / ``"2h40m"`` / ``"1d"`` -> seconds; ValueError otherwise."""
    if isinstance(value, bool):
        raise ValueError(f"not a duration: {value!r}")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError(f"negative duration: {value!r}")
        return float(value)
    text = str(value).strip()
    if not text or _DURATION_RE.sub("", text):
        raise ValueError(f"not a duration (e.g. 30s, 5m, 2h40m, 1d): {value!r}")
    return float(sum(int(n) * _UNITS[u] for n, u in _DURATION_RE.findall(text)))


@dataclass(frozen=True)
class Source:
    """The public write-up a replay follows."""

    url: str
    follows: str
    assumed: str


@dataclass
class Replay:
    """A campaign's records (pure CloudTrail, time order) and their stages by eventID."""

    records: list[dict[str, Any]]
    stages: dict[str, str]

    @property
    def start(self) -> float:
        """Time of the first record."""
        return min(parse_event_time(r["eventTime"]) for r in self.records)


@dataclass
class Campaign:
    """One campaign file: its source, principals and steps."""

    name: str
    title: str
    path: Path
    sources: list[Source]
    start: float
    principals: dict[str, Principal]
    steps: list[dict[str, Any]] = field(default_factory=list)

    @property
    def stages(self) -> list[str]:
        """The chain stages the campaign goes through, in chain order (``context`` left out)."""
        seen = {s["stage"] for s in self.steps}
        return [s for s in STAGES if s in seen]

    def replay(self, start: float | None = None) -> Replay:
        """The campaign's records from ``start`` (default: the file's ``start``)."""
        t0 = self.start if start is None else start
        records: list[tuple[float, int, dict[str, Any]]] = []
        stages: dict[str, str] = {}
        for index, step in enumerate(self.steps):
            for n, (offset, region) in enumerate(_expand(step)):
                principal = self.principals[step["principal"]]
                source, _, name = step["call"].partition(":")
                rec = make_record(
                    principal,
                    f"{source}.amazonaws.com",
                    name,
                    t0 + offset,
                    region,
                    key=(self.name, index, n),
                    request_parameters=step.get("params"),
                    response_elements=step.get("response"),
                    error=step.get("error"),
                    error_message=step.get("error_message"),
                    resources=step.get("resources"),
                )
                stages[rec["eventID"]] = step["stage"]
                records.append((t0 + offset, len(records), rec))
        records.sort(key=lambda item: (item[0], item[1]))
        return Replay([r for _, _, r in records], stages)


def _expand(step: dict[str, Any]) -> list[tuple[float, str]]:
    """(offset, region) of every record of a step, spread evenly over ``spread``."""
    regions = step["regions"]
    repeat = step["repeat"]
    total = len(regions) * repeat
    gap = step["spread"] / total if total > 1 else 0.0
    out = []
    for i in range(total):
        out.append((step["at"] + int(i * gap), regions[i % len(regions)]))
    return out


def _principal(path: Path, name: str, spec: Any) -> Principal:
    def fail(msg: str) -> CampaignError:
        return CampaignError(f"{path}: principal {name!r}: {msg}")

    if not isinstance(spec, dict):
        raise fail("must be a mapping")
    if "org" in spec:
        try:
            base = org_principal(str(spec["org"]))
        except KeyError as exc:
            raise fail(str(exc.args[0])) from None
    else:
        if "userIdentity" not in spec:
            raise fail("needs `org: <name>` or a userIdentity")
        base = Principal(dict(spec["userIdentity"]), "", "")
    changes: dict[str, Any] = {}
    if "userIdentity" in spec:
        changes["user_identity"] = dict(spec["userIdentity"])
    if "sourceIPAddress" in spec:
        changes["source_ip"] = str(spec["sourceIPAddress"])
    if "userAgent" in spec:
        changes["user_agent"] = str(spec["userAgent"])
    principal = base.replace(**changes)
    if not principal.source_ip or not principal.user_agent:
        raise fail("needs sourceIPAddress and userAgent")
    return principal


def _step(path: Path, index: int, raw: Any, principals: dict[str, Principal]) -> dict[str, Any]:
    def fail(msg: str) -> CampaignError:
        return CampaignError(f"{path}: step {index + 1}: {msg}")

    if not isinstance(raw, dict):
        raise fail("must be a mapping")
    unknown = set(raw) - _STEP_KEYS
    if unknown:
        raise fail(f"unknown key(s) {sorted(unknown)} (known: {sorted(_STEP_KEYS)})")
    stage = raw.get("stage")
    if stage not in STAGES and stage != CONTEXT:
        raise fail(f"stage {stage!r} is not one of {[*STAGES, CONTEXT]}")
    call = raw.get("call")
    if not isinstance(call, str) or not re.fullmatch(r"[a-z0-9-]+:[A-Z][A-Za-z0-9]+", call):
        raise fail(f"call must be service:EventName (e.g. ses:GetAccount), not {call!r}")
    principal = raw.get("principal", next(iter(principals)))
    if principal not in principals:
        raise fail(f"unknown principal {principal!r}")
    if "region" in raw and "regions" in raw:
        raise fail("give region or regions, not both")
    regions = raw.get("regions", [raw.get("region", "us-east-1")])
    if regions == "all":
        regions = list(ALL_REGIONS)
    if not isinstance(regions, list) or not regions:
        raise fail("regions must be a non-empty list or `all`")
    try:
        at = parse_duration(raw.get("at", 0))
        spread = parse_duration(raw.get("spread", 0))
    except ValueError as exc:
        raise fail(str(exc)) from None
    repeat = raw.get("repeat", 1)
    if not isinstance(repeat, int) or isinstance(repeat, bool) or repeat < 1:
        raise fail(f"repeat must be a positive integer, not {repeat!r}")
    error = raw.get("error")
    if error is not None and error != "AccessDenied" and not raw.get("error_message"):
        raise fail(f"errorCode {error!r} needs error_message")
    for key in ("params", "response"):
        if raw.get(key) is not None and not isinstance(raw[key], dict):
            raise fail(f"{key} must be a mapping")
    return {
        **raw,
        "stage": stage,
        "principal": principal,
        "regions": [str(r) for r in regions],
        "at": at,
        "spread": spread,
        "repeat": repeat,
    }


def load_campaign(path: str | Path) -> Campaign:
    """Read and check one campaign file; CampaignError names the file and the problem."""
    path = Path(path)
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise CampaignError(f"{path}: cannot be read: {exc}") from None
    if not isinstance(doc, dict):
        raise CampaignError(f"{path}: a campaign file is a mapping")
    if doc.get("name") != path.stem:
        raise CampaignError(f"{path}: name must be the file name ({path.stem!r})")
    raw_sources = doc.get("sources")
    if not isinstance(raw_sources, list) or not raw_sources:
        raise CampaignError(f"{path}: sources: a list of {{url, follows, assumed}} is required")
    sources = []
    for i, src in enumerate(raw_sources, 1):
        if not isinstance(src, dict) or not all(src.get(k) for k in ("url", "follows")):
            raise CampaignError(f"{path}: sources[{i}] needs url and follows")
        sources.append(Source(str(src["url"]), str(src["follows"]), str(src.get("assumed", ""))))
    try:
        start = parse_event_time(doc.get("start"))
    except RecordError as exc:
        raise CampaignError(f"{path}: start: {exc}") from None
    raw_principals = doc.get("principals")
    if not isinstance(raw_principals, dict) or not raw_principals:
        raise CampaignError(f"{path}: principals: a mapping of name -> principal is required")
    principals = {str(k): _principal(path, str(k), v) for k, v in raw_principals.items()}
    raw_steps = doc.get("steps")
    if not isinstance(raw_steps, list) or not raw_steps:
        raise CampaignError(f"{path}: steps: a non-empty list is required")
    steps = [_step(path, i, s, principals) for i, s in enumerate(raw_steps)]
    title = doc.get("title")
    if not isinstance(title, str) or not title:
        raise CampaignError(f"{path}: title is required")
    return Campaign(doc["name"], title, path, sources, start, principals, steps)


def load_campaigns(directory: str | Path) -> list[Campaign]:
    """Every campaign file (``*.yml``) of ``directory``, by name; CampaignError if none."""
    directory = Path(directory)
    if not directory.is_dir():
        raise CampaignError(f"{directory}: not a directory of campaign files")
    files = sorted(directory.glob("*.yml"))
    if not files:
        raise CampaignError(f"{directory}: no campaign files (*.yml)")
    return [load_campaign(f) for f in files]
