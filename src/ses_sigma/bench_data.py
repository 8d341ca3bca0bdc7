"""Synthetic CloudTrail workloads for ``make bench`` and the equivalence tests."""

from __future__ import annotations

import gzip
import random
import uuid
from pathlib import Path
from typing import Any

import orjson

from ses_sigma.records import format_time

__all__ = ["generate_records", "write_jsonl", "write_s3_objects"]

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


def write_jsonl(records: list[dict[str, Any]], path: Path, copies: int = 1) -> int:
    """Write ``records`` as JSON Lines, ``copies`` times (each copy with its own eventIDs);
    return the bytes written."""
    lines = b"".join(orjson.dumps(r) + b"\n" for r in records)
    size = 0
    with path.open("wb") as fh:
        for k in range(copies):
            data = lines if k == 0 else lines.replace(b'"eventID":"', b'"eventID":"%03d' % k)
            fh.write(data)
            size += len(data)
    return size


def write_s3_objects(records: list[dict[str, Any]], folder: Path, per_file: int = 2000) -> int:
    """Write ``records`` as gzipped S3 delivery objects; return the compressed bytes."""
    size = 0
    for i in range(0, len(records), per_file):
        path = folder / f"111122223333_CloudTrail_us-east-1_{i // per_file:05d}.json.gz"
        data = gzip.compress(orjson.dumps({"Records": records[i : i + per_file]}), 6)
        path.write_bytes(data)
        size += len(data)
    return size
