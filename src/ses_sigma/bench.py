"""Throughput benchmarks of the matcher and the scanner (``make bench``).

Generates a deterministic synthetic CloudTrail workload (mostly non-SES management events, as
in a real trail, with a few per cent of SES calls, a share of them failed, spread over 10 days
with many principals), then measures:

* ``match``: ``Engine.run`` over records already in memory (rules compiled once);
* ``parse``: decoding gzipped S3 delivery objects into records (``logs.read_records``);
* ``scan``: both, as ``ses-sigma scan`` does it, from files on disk.

Each measurement is the best of ``--repeat`` runs (wall clock, ``time.perf_counter``). Numbers
depend on the machine: the README quotes the ones measured on the project's 2-core machines.
"""

from __future__ import annotations

import argparse
import gzip
import random
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from ses_sigma.logs import ReadStats, read_records
from ses_sigma.match.engine import Engine
from ses_sigma.pack import load_pack
from ses_sigma.records import Record, format_time

__all__ = ["generate_records", "main"]

_OTHER_CALLS = [
    ("s3.amazonaws.com", "GetObject"),
    ("s3.amazonaws.com", "PutObject"),
    ("ec2.amazonaws.com", "DescribeInstances"),
    ("sts.amazonaws.com", "AssumeRole"),
    ("sts.amazonaws.com", "GetCallerIdentity"),
    ("iam.amazonaws.com", "ListRoles"),
    ("kms.amazonaws.com", "Decrypt"),
    ("lambda.amazonaws.com", "Invoke"),
    ("cognito-identity.amazonaws.com", "ListIdentities"),
    ("apigateway.amazonaws.com", "GetAccount"),
]
_SES_CALLS = [
    "GetAccount",
    "GetSendQuota",
    "ListIdentities",
    "ListEmailIdentities",
    "GetAccountSendingEnabled",
    "GetIdentityVerificationAttributes",
    "VerifyEmailIdentity",
    "CreateEmailIdentity",
    "DeleteIdentity",
    "DeleteEmailIdentity",
    "SendEmail",
]
_START = 1_767_225_600.0  # 2026-01-01T00:00:00Z


def generate_records(n: int, seed: int = 7, ses_share: float = 0.05) -> list[dict[str, Any]]:
    """``n`` realistic CloudTrail records (dicts), deterministic for a seed, in random order."""
    rng = random.Random(seed)
    principals = [f"user-{i:04d}" for i in range(500)]
    out: list[dict[str, Any]] = []
    for _ in range(n):
        user = rng.choice(principals)
        long_term = rng.random() < 0.3
        if rng.random() < ses_share:
            source, name = "ses.amazonaws.com", rng.choice(_SES_CALLS)
        else:
            source, name = rng.choice(_OTHER_CALLS)
        ts = _START + rng.random() * 10 * 86_400
        rec: dict[str, Any] = {
            "eventVersion": "1.09",
            "userIdentity": {
                "type": "IAMUser" if long_term else "AssumedRole",
                "principalId": "AIDA" + user.upper().replace("-", ""),
                "arn": f"arn:aws:iam::111122223333:user/{user}",
                "accountId": "111122223333",
                "accessKeyId": ("AKIA" if long_term else "ASIA") + f"{rng.getrandbits(64):016X}",
                "userName": user,
            },
            "eventTime": format_time(float(int(ts))),
            "eventSource": source,
            "eventName": name,
            "awsRegion": rng.choice(["us-east-1", "eu-west-1", "ap-southeast-2"]),
            "sourceIPAddress": f"198.51.100.{rng.randrange(1, 255)}",
            "userAgent": "aws-cli/2.15.0 Python/3.11.6 Linux/6.1 exe/x86_64",
            "requestParameters": {"emailIdentity": f"{user}@example.com"},
            "responseElements": None,
            "requestID": str(uuid.UUID(int=rng.getrandbits(128))),
            "eventID": str(uuid.UUID(int=rng.getrandbits(128))),
            "readOnly": name.startswith(("Get", "List", "Describe")),
            "eventType": "AwsApiCall",
            "managementEvent": True,
            "recipientAccountId": "111122223333",
            "eventCategory": "Management",
            "tlsDetails": {
                "tlsVersion": "TLSv1.3",
                "cipherSuite": "TLS_AES_128_GCM_SHA256",
                "clientProvidedHostHeader": f"{source.split('.')[0]}.us-east-1.amazonaws.com",
            },
        }
        if rng.random() < 0.1:
            rec["errorCode"] = "AccessDenied"
            rec["errorMessage"] = "User is not authorized to perform this action"
            rec["requestParameters"] = None
        out.append(rec)
    return out


def _best(fn: Callable[[], int], repeat: int) -> tuple[float, int]:
    best = float("inf")
    result = 0
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t0)
    return best, result


def _write_s3_objects(records: list[dict[str, Any]], folder: Path, per_file: int) -> int:
    size = 0
    for i in range(0, len(records), per_file):
        path = folder / f"111122223333_CloudTrail_us-east-1_{i // per_file:05d}.json.gz"
        data = gzip.compress(orjson.dumps({"Records": records[i : i + per_file]}), 6)
        path.write_bytes(data)
        size += len(data)
    return size


def main(argv: list[str] | None = None) -> int:
    """Run the benchmarks and print one line per measurement."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--ses-share", type=float, default=0.05)
    args = parser.parse_args(argv)

    engine = Engine(load_pack())
    dicts = generate_records(args.records, ses_share=args.ses_share)
    records = [Record.from_dict(d) for d in dicts]
    n = len(records)
    print(
        f"workload: {n} records, {args.ses_share:.0%} SES, pack of {len(engine.rule_names)} rules"
    )

    alerts: list[int] = []

    def match() -> int:
        found = engine.run(records)
        alerts.append(len(found))
        return len(found)

    secs, n_alerts = _best(match, args.repeat)
    print(f"match: {n / secs:,.0f} records/s ({secs:.3f} s, {n_alerts} alerts)")

    with tempfile.TemporaryDirectory(prefix="ses-sigma-bench-") as tmp:
        folder = Path(tmp)
        size = _write_s3_objects(dicts, folder, per_file=1000)

        def parse() -> int:
            stats = ReadStats()
            count = sum(1 for _ in read_records([folder], stats))
            if stats.rejected:
                raise SystemExit(f"bench input rejected: {stats.rejections[:3]}")
            return count

        secs, count = _best(parse, args.repeat)
        print(
            f"parse: {count / secs:,.0f} records/s, {size / secs / 1e6:.1f} MB/s gzip "
            f"({secs:.3f} s, {size / 1e6:.1f} MB in {n // 1000 + (n % 1000 > 0)} files)"
        )

        def scan() -> int:
            return len(engine.run(read_records([folder])))

        secs, n_alerts = _best(scan, args.repeat)
        print(f"scan: {count / secs:,.0f} records/s ({secs:.3f} s, {n_alerts} alerts)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
