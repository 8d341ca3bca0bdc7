"""Generate the demo CloudTrail logs in examples/logs/ (deterministic: fixed seed and times).

The story (see examples/README.md): account 111122223333 runs ten ordinary days; on
2025-03-11 an attacker who stole the long-term access key of the IAM user ``ci-deploy``
validates it, enumerates SES in four regions, asks for production access, creates sender
identities, enables sending and deletes the identities again within the hour.

Run from the repository root:  .venv/bin/python examples/make_examples.py [OUT_DIR]
"""

from __future__ import annotations

import gzip
import random
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

ACCOUNT = "111122223333"
SEED = 20250311
OUT_DIR = Path(__file__).resolve().parent / "logs"

GZ_OBJECT = (
    "AWSLogs/111122223333/CloudTrail/us-east-1/2025/03/11/"
    "111122223333_CloudTrail_us-east-1_20250311T1455Z_Qm7Xk2LpR9vN4sTe.json.gz"
)
LAKE_EXPORT = "cloudtrail-lake-export-2025-03-11_12.jsonl"
TRAIL_EXPORT = "trail-export-2025-03-03_10.json"

# --- principals -----------------------------------------------------------------------------

# The stolen key: an IAM user's long-term key (AWS documentation's example key id).
CI_DEPLOY = {
    "type": "IAMUser",
    "principalId": "AIDAJQABLZS4A3QDU576Q",
    "arn": f"arn:aws:iam::{ACCOUNT}:user/ci-deploy",
    "accountId": ACCOUNT,
    "accessKeyId": "AKIAIOSFODNN7EXAMPLE",
    "userName": "ci-deploy",
}
ATTACKER_IP = "203.0.113.45"
CI_RUNNER_IP = "198.51.100.200"
ADMIN_IP = "198.51.100.23"
APP_IP = "198.51.100.140"
TERRAFORM_IP = "198.51.100.201"

BOTO3_UA = (
    "Boto3/1.34.69 md/Botocore#1.34.69 ua/2.0 os/linux#5.15.0-1057-aws md/arch#x86_64 "
    "lang/python#3.11.8 md/pyimpl#CPython cfg/retry-mode#legacy Botocore/1.34.69"
)


def cli_ua(command: str, version: str = "2.15.30") -> str:
    """An AWS CLI v2 user agent with the command suffix CloudTrail records."""
    return (
        f"aws-cli/{version} md/awscrt#0.19.19 ua/2.0 os/linux#6.5.0-26-generic md/arch#x86_64 "
        "lang/python#3.11.8 md/pyimpl#CPython cfg/retry-mode#standard md/installer#exe "
        f"md/distrib#ubuntu.22 md/prompt#off md/command#{command}"
    )


TERRAFORM_UA = (
    "APN/1.0 HashiCorp/1.0 Terraform/1.7.5 (+https://www.terraform.io) "
    "terraform-provider-aws/5.42.0 (+https://registry.terraform.io/providers/hashicorp/aws) "
    "aws-sdk-go-v2/1.26.0 ua/2.0 os/linux lang/go#1.22.1 md/GOOS#linux md/GOARCH#amd64 "
    "api/apigateway#1.23.4"
)
COGNITO_UA = (
    "aws-sdk-js/3.540.0 ua/2.0 os/linux#5.10.213-222.849.amzn2.x86_64 lang/js md/nodejs#20.11.1 "
    "api/cognito-identity#3.540.0 exec-env/AWS_Lambda_nodejs20.x"
)


def assumed_role(
    role: str, session: str, key: str, role_id: str, created: str, mfa: bool, path: str = ""
) -> dict[str, Any]:
    """userIdentity of a role session (temporary ASIA key)."""
    assert key.startswith("ASIA") and len(key) == 20, key
    assert role_id.startswith("AROA") and len(role_id) == 21, role_id
    return {
        "type": "AssumedRole",
        "principalId": f"{role_id}:{session}",
        "arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/{role}/{session}",
        "accountId": ACCOUNT,
        "accessKeyId": key,
        "sessionContext": {
            "sessionIssuer": {
                "type": "Role",
                "principalId": role_id,
                "arn": f"arn:aws:iam::{ACCOUNT}:role/{path}{role}",
                "accountId": ACCOUNT,
                "userName": role,
            },
            "attributes": {
                "creationDate": created,
                "mfaAuthenticated": "true" if mfa else "false",
            },
        },
    }


def admin(day: int, hour: int) -> dict[str, Any]:
    """Alice's role session of that day (a new temporary key every day)."""
    return assumed_role(
        "MailAdmin",
        "alice",
        f"ASIAZ5EXAMPLEALICE{day:02d}",
        "AROAZ5EXAMPLEMAILADMN",
        f"2025-03-{day:02d}T{hour:02d}:00:12Z",
        mfa=True,
    )


def trusted_advisor(day: int, session: str) -> dict[str, Any]:
    """The Trusted Advisor service-linked role, as it calls SES GetSendQuota every day."""
    return assumed_role(
        "AWSServiceRoleForTrustedAdvisor",
        f"TrustedAdvisor_{ACCOUNT}_{session}",
        f"ASIAZ5EXAMPLETADV{day:03d}",
        "AROAZ5EXAMPLETRUSTADV",
        f"2025-03-{day:02d}T22:54:50Z",
        mfa=False,
        path="aws-service-role/trustedadvisor.amazonaws.com/",
    )


def app_backend(day: int) -> dict[str, Any]:
    """The application's Lambda role (uses Cognito identity pools)."""
    return assumed_role(
        "app-backend-lambda",
        "app-backend-fn",
        f"ASIAZ5EXAMPLEAPPFN{day:02d}",
        "AROAZ5EXAMPLEAPPLAMBD",
        f"2025-03-{day:02d}T00:00:03Z",
        mfa=False,
    )


def terraform(day: int) -> dict[str, Any]:
    """The CI role Terraform runs under."""
    return assumed_role(
        "terraform-ci",
        f"gha-run-{day:02d}71",
        f"ASIAZ5EXAMPLETFORM{day:02d}",
        "AROAZ5EXAMPLETERRAFRM",
        f"2025-03-{day:02d}T07:58:40Z",
        mfa=False,
    )


# --- records --------------------------------------------------------------------------------


class Builder:
    """Builds complete CloudTrail records with deterministic ids."""

    def __init__(self, seed: int):
        self.rng = random.Random(seed)

    def uuid(self) -> str:
        """A random-looking (version 4) UUID from the seeded generator."""
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def event(
        self,
        when: str,
        source: str,
        name: str,
        region: str,
        identity: dict[str, Any],
        ip: str,
        agent: str,
        request: dict[str, Any] | None = None,
        response: dict[str, Any] | None = None,
        read_only: bool = True,
        host: str | None = None,
        error: tuple[str, str] | None = None,
    ) -> dict[str, Any]:
        """One management event, keys in the order CloudTrail writes them."""
        datetime.strptime(when, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)  # validate
        rec: dict[str, Any] = {
            "eventVersion": "1.09" if source == "iam.amazonaws.com" else "1.08",
            "userIdentity": identity,
            "eventTime": when,
            "eventSource": source,
            "eventName": name,
            "awsRegion": region,
            "sourceIPAddress": ip,
            "userAgent": agent,
        }
        if error is not None:
            rec["errorCode"], rec["errorMessage"] = error
        rec["requestParameters"] = request
        rec["responseElements"] = response
        rec["requestID"] = self.uuid()
        rec["eventID"] = self.uuid()
        rec["readOnly"] = read_only
        rec["eventType"] = "AwsApiCall"
        rec["managementEvent"] = True
        rec["recipientAccountId"] = ACCOUNT
        rec["eventCategory"] = "Management"
        if not ip.endswith(".amazonaws.com"):  # calls made by AWS services carry no TLS details
            rec["tlsDetails"] = {
                "tlsVersion": "TLSv1.3",
                "cipherSuite": "TLS_AES_128_GCM_SHA256",
                "clientProvidedHostHeader": host or _host(source, region),
            }
        return rec


def _host(source: str, region: str) -> str:
    service = source.removesuffix(".amazonaws.com")
    if service == "ses":
        return f"email.{region}.amazonaws.com"
    if service == "ecr":
        return f"api.ecr.{region}.amazonaws.com"
    if service in ("iam", "sts"):
        return f"{service}.amazonaws.com"
    return f"{service}.{region}.amazonaws.com"


SES = "ses.amazonaws.com"


def benign_days(b: Builder) -> list[dict[str, Any]]:
    """Ordinary traffic on every day from 2025-03-03 to 2025-03-12."""
    out: list[dict[str, Any]] = []
    for day in range(3, 13):
        date = f"2025-03-{day:02d}"
        weekday = datetime(2025, 3, day).weekday() < 5
        # Trusted Advisor's routine SES check (an AWS service, excluded by the new-principal rule).
        out.append(
            b.event(
                f"{date}T22:54:{50 + day % 7:02d}Z",
                SES,
                "GetSendQuota",
                "us-east-1",
                trusted_advisor(day, b.uuid()),
                "trustedadvisor.amazonaws.com",
                "trustedadvisor.amazonaws.com",
            )
        )
        # The application's Lambda lists Cognito identities (ListIdentities, not SES).
        if day % 2 == 1:
            out.append(
                b.event(
                    f"{date}T0{day % 9}:17:3{day % 10}Z",
                    "cognito-identity.amazonaws.com",
                    "ListIdentities",
                    "us-east-1",
                    app_backend(day),
                    APP_IP,
                    COGNITO_UA,
                    request={
                        "identityPoolId": "us-east-1:4b6a1e2f-5c3d-4e7f-9a0b-1c2d3e4f5a6b",
                        "maxResults": 60,
                    },
                )
            )
        # The CI pipeline's legitimate use of the ci-deploy key, on weekdays.
        if weekday:
            for minute, source, name, request in (
                (12, "ecr.amazonaws.com", "GetAuthorizationToken", None),
                (14, "cloudformation.amazonaws.com", "DescribeStacks", {"stackName": "web-prod"}),
            ):
                out.append(
                    b.event(
                        f"{date}T09:{minute:02d}:{(day * 7) % 60:02d}Z",
                        source,
                        name,
                        "us-east-1",
                        CI_DEPLOY,
                        CI_RUNNER_IP,
                        cli_ua(
                            "ecr.get-login-password"
                            if name == "GetAuthorizationToken"
                            else "cloudformation.describe-stacks"
                        ),
                        request=request,
                    )
                )
    # Terraform plans read the API Gateway account settings (GetAccount, not SES).
    for day, region in ((4, "us-east-1"), (11, "eu-west-1")):
        out.append(
            b.event(
                f"2025-03-{day:02d}T08:03:19Z",
                "apigateway.amazonaws.com",
                "GetAccount",
                region,
                terraform(day),
                TERRAFORM_IP,
                TERRAFORM_UA,
            )
        )
    return out


def admin_work(b: Builder) -> list[dict[str, Any]]:
    """Alice, the mail administrator, works with SES through her role (ASIA keys)."""
    out = []
    # Day 1 (learning period): she checks the account and its identities.
    for when, name, command in (
        ("2025-03-03T10:21:07Z", "GetAccount", "sesv2.get-account"),
        ("2025-03-03T10:21:31Z", "ListEmailIdentities", "sesv2.list-email-identities"),
    ):
        out.append(b.event(when, SES, name, "us-east-1", admin(3, 10), ADMIN_IP, cli_ua(command)))
    # Day 2: she onboards the newsletter domain.
    out.append(
        b.event(
            "2025-03-04T11:02:45Z",
            SES,
            "CreateEmailIdentity",
            "us-east-1",
            admin(4, 11),
            ADMIN_IP,
            cli_ua("sesv2.create-email-identity"),
            request={"emailIdentity": "news.example.com"},
            response={
                "identityType": "DOMAIN",
                "verifiedForSendingStatus": False,
                "dkimAttributes": {
                    "signingEnabled": True,
                    "status": "PENDING",
                    "tokens": [
                        "vvjuipp74whm76gqoni7qmwwn4w4qusjiainivf6sf",
                        "3frqe7jn4obpuxjpwpolz6ipb3k5nvt2nhjpik2oy",
                        "wrqplteh7oodxnad7hsl4mixg2uavzneazxv5sxi2",
                    ],
                    "signingAttributesOrigin": "AWS_SES",
                    "nextSigningKeyLength": "RSA_2048_BIT",
                    "currentSigningKeyLength": "RSA_2048_BIT",
                    "lastKeyGenerationTimestamp": "Mar 4, 2025 11:02:45 AM",
                },
            },
            read_only=False,
        )
    )
    # Day 3: she retires the old newsletter sender (a deletion with no creation nearby).
    out.append(
        b.event(
            "2025-03-05T16:40:02Z",
            SES,
            "DeleteEmailIdentity",
            "us-east-1",
            admin(5, 16),
            ADMIN_IP,
            cli_ua("sesv2.delete-email-identity"),
            request={"emailIdentity": "old-news@example.com"},
            read_only=False,
        )
    )
    # Day 9, after the attack: she looks at the account (a known principal, temporary key).
    for when, name, command in (
        ("2025-03-11T15:31:12Z", "GetAccount", "sesv2.get-account"),
        ("2025-03-11T15:31:40Z", "ListEmailIdentities", "sesv2.list-email-identities"),
        ("2025-03-11T15:32:05Z", "GetSendQuota", "ses.get-send-quota"),
    ):
        out.append(b.event(when, SES, name, "us-east-1", admin(11, 15), ADMIN_IP, cli_ua(command)))
    # Day 10: she deactivates the stolen key.
    out.append(
        b.event(
            "2025-03-12T08:47:26Z",
            "iam.amazonaws.com",
            "UpdateAccessKey",
            "us-east-1",
            admin(12, 8),
            ADMIN_IP,
            cli_ua("iam.update-access-key"),
            request={
                "userName": "ci-deploy",
                "accessKeyId": "AKIAIOSFODNN7EXAMPLE",
                "status": "Inactive",
            },
            read_only=False,
        )
    )
    return out


def attack(b: Builder) -> list[dict[str, Any]]:
    """2025-03-11: the stolen ci-deploy key at work from 203.0.113.45."""

    def ev(when: str, name: str, region: str, agent: str = BOTO3_UA, **kw: Any) -> dict:
        source = kw.pop("source", SES)
        return b.event(
            f"2025-03-11T{when}Z", source, name, region, CI_DEPLOY, ATTACKER_IP, agent, **kw
        )

    out = [
        ev("14:02:11", "GetCallerIdentity", "us-east-1", "TruffleHog", source="sts.amazonaws.com")
    ]
    # Reconnaissance: sandbox state, quota and identities, region after region.
    for i, region in enumerate(("us-east-1", "eu-west-1", "us-west-2", "ap-southeast-2")):
        base = 2 + 9 * i
        for offset, name in ((0, "GetAccount"), (1, "GetSendQuota"), (2, "ListIdentities")):
            s = base + offset
            out.append(ev(f"14:03:{s:02d}", name, region))
    out.append(
        ev(
            "14:04:40",
            "ListServiceQuotas",
            "us-east-1",
            source="servicequotas.amazonaws.com",
            request={"serviceCode": "ses"},
        )
    )
    # Sandbox escape in the two regions the account's SCP leaves open.
    for when, region in (("14:06:15", "us-east-1"), ("14:06:19", "eu-west-1")):
        out.append(
            ev(
                when,
                "PutAccountDetails",
                region,
                cli_ua("sesv2.put-account-details"),
                request={
                    "mailType": "MARKETING",
                    "websiteURL": "https://www.example.net",
                    "contactLanguage": "EN",
                    "useCaseDescription": "HIDDEN_DUE_TO_SECURITY_REASONS",
                    "additionalContactEmailAddresses": "HIDDEN_DUE_TO_SECURITY_REASONS",
                    "productionAccessEnabled": True,
                },
                read_only=False,
            )
        )
    # New sender identities: v2 in us-east-1, v1 in eu-west-1; refused in ap-southeast-2.
    out.append(
        ev(
            "14:09:41",
            "CreateEmailIdentity",
            "us-east-1",
            cli_ua("sesv2.create-email-identity"),
            request={"emailIdentity": "billing@example.net"},
            response={
                "identityType": "EMAIL_ADDRESS",
                "verifiedForSendingStatus": False,
                "dkimAttributes": {
                    "signingEnabled": False,
                    "status": "NOT_STARTED",
                    "signingAttributesOrigin": "AWS_SES",
                    "nextSigningKeyLength": "RSA_2048_BIT",
                    "currentSigningKeyLength": "RSA_2048_BIT",
                },
            },
            read_only=False,
        )
    )
    out.append(
        ev(
            "14:10:05",
            "VerifyEmailIdentity",
            "eu-west-1",
            request={"emailAddress": "accounts@example.org"},
            read_only=False,
        )
    )
    out.append(
        ev(
            "14:11:52",
            "CreateEmailIdentity",
            "ap-southeast-2",
            cli_ua("sesv2.create-email-identity"),
            read_only=False,
            error=(
                "AccessDenied",
                f"User: arn:aws:iam::{ACCOUNT}:user/ci-deploy is not authorized to perform: "
                f"ses:CreateEmailIdentity on resource: arn:aws:ses:ap-southeast-2:{ACCOUNT}:"
                "identity/billing@example.net with an explicit deny in a service control policy",
            ),
        )
    )
    out.append(
        ev(
            "14:12:30",
            "UpdateAccountSendingEnabled",
            "us-east-1",
            request={"enabled": True},
            read_only=False,
        )
    )
    # (The mail goes out here: SendEmail is a data event this trail does not log.)
    # Clean-up within the hour.
    out.append(
        ev(
            "14:52:19",
            "DeleteEmailIdentity",
            "us-east-1",
            cli_ua("sesv2.delete-email-identity"),
            request={"emailIdentity": "billing@example.net"},
            read_only=False,
        )
    )
    out.append(
        ev(
            "14:53:02",
            "DeleteIdentity",
            "eu-west-1",
            request={"identity": "accounts@example.org"},
            read_only=False,
        )
    )
    return out


# --- files ----------------------------------------------------------------------------------


def build() -> dict[str, bytes]:
    """The example files, by path relative to the output directory."""
    b = Builder(SEED)
    records = benign_days(b) + admin_work(b) + attack(b)
    ids = [r["eventID"] for r in records]
    assert len(set(ids)) == len(ids)

    def key(r: dict[str, Any]) -> tuple[str, str]:
        return (r["eventTime"], r["eventID"])

    # 2025-03-11 14:00-15:00 in us-east-1: one S3 delivery object (compact, one line, as
    # CloudTrail writes it); the rest of 2025-03-11 and 2025-03-12: a JSON Lines export,
    # shuffled as a data lake returns rows; 2025-03-03 to 2025-03-10: a pretty-printed
    # {"Records": [...]} export.
    gz_part = sorted(
        (
            r
            for r in records
            if "2025-03-11T14" <= r["eventTime"] < "2025-03-11T15" and r["awsRegion"] == "us-east-1"
        ),
        key=key,
    )
    lake_part = [
        r for r in records if r["eventTime"] >= "2025-03-11" and not any(r is g for g in gz_part)
    ]
    lake_part.sort(key=key)
    random.Random(SEED + 1).shuffle(lake_part)
    trail_part = sorted((r for r in records if r["eventTime"] < "2025-03-11"), key=key)
    assert len(gz_part) + len(lake_part) + len(trail_part) == len(records)

    gz_json = orjson.dumps({"Records": gz_part})
    return {
        GZ_OBJECT: gzip.compress(gz_json, compresslevel=9, mtime=0),
        LAKE_EXPORT: b"".join(orjson.dumps(r) + b"\n" for r in lake_part),
        TRAIL_EXPORT: orjson.dumps({"Records": trail_part}, option=orjson.OPT_INDENT_2) + b"\n",
    }


def main(argv: list[str]) -> int:
    """Write the example files under OUT_DIR (default examples/logs)."""
    out_dir = Path(argv[1]) if len(argv) > 1 else OUT_DIR
    for rel, data in build().items():
        path = out_dir / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        print(f"wrote {path} ({len(data)} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
