"""to_ecs: raw CloudTrail -> the document Elastic's AWS integration indexes.

Expectations come from three places: the integration's own pipeline test expectations
(elastic/integrations, Elastic License 2.0; the records and strings quoted below are short test
vectors with their paths and commits), Java itself (HashMap.toString outputs produced with
OpenJDK 17 while writing this module), and the pipeline's processors read one by one
(ses_sigma/verify/ecs.py cites the file and commit).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from ses_sigma.verify.ecs import EcsConversionError, parse_es_iso8601, to_ecs
from ses_sigma.verify.java import java_double_to_string, java_to_string

SAMPLES = Path(__file__).parent / "samples"  # copies of /work/shared/samples, see README


def _get(doc: dict[str, Any], path: str) -> Any:
    node: Any = doc
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def _has(doc: dict[str, Any], path: str) -> bool:
    node: Any = doc
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return True


def _ndjson(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _panther(name: str) -> list[dict[str, Any]]:
    """Panther's copies use "2025-01-20 16:52:14.000000000": put CloudTrail's ISO form back."""
    records = _ndjson(SAMPLES / "panther" / name)
    for record in records:
        date, time = record["eventTime"].split(" ")
        record["eventTime"] = f"{date}T{time[:8]}Z"
    return records


def _base(**overrides: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "eventVersion": "1.08",
        "userIdentity": {
            "type": "IAMUser",
            "principalId": "AIDAEXAMPLE",
            "arn": "arn:aws:iam::111122223333:user/alice",
            "accountId": "111122223333",
            "accessKeyId": "AKIAEXAMPLE",
            "userName": "alice",
        },
        "eventTime": "2025-03-01T10:00:00Z",
        "eventSource": "ses.amazonaws.com",
        "eventName": "CreateEmailIdentity",
        "awsRegion": "eu-west-1",
        "sourceIPAddress": "203.0.113.7",
        "userAgent": "aws-cli/2.15.0",
        "requestParameters": {"emailIdentity": "sender@example.com"},
        "responseElements": None,
        "requestID": "req-1",
        "eventID": "evt-1",
        "readOnly": False,
        "eventType": "AwsApiCall",
        "managementEvent": True,
        "recipientAccountId": "111122223333",
        "eventCategory": "Management",
    }
    record.update(overrides)
    return record


# --- against the integration's pipeline tests --------------------------------------------------

# packages/aws/data_stream/cloudtrail/_dev/test/pipeline/test-attach-user-policy-json.log
# (commit e544501f727897af252496799c744502825dacdc), expected output at commit
# 1046295098c46afdbcd48d933b1ee5101d0f6c35.
ATTACH_USER_POLICY = json.loads(
    '{"eventVersion":"1.10","userIdentity":{"type":"AssumedRole","principalId":'
    '"PRINCIPALID:i-06815aa7cf7d21f8f","arn":"arn:aws:sts::000000000:assumed-role/'
    'ec2-instance-role/i-06815aa7cf7d21f8f","accountId":"000000000","accessKeyId":"ACCESSKEY",'
    '"sessionContext":{"sessionIssuer":{"type":"Role","principalId":"PRINCIPALID","arn":'
    '"arn:aws:iam::000000000:role/ec2-instance-role","accountId":"000000000","userName":'
    '"ec2-instance-role"},"attributes":{"creationDate":"2024-10-30T19:14:35Z",'
    '"mfaAuthenticated":"false"},"ec2RoleDelivery":"2.0"}},"eventTime":"2024-10-30T20:01:59Z",'
    '"eventSource":"iam.amazonaws.com","eventName":"AttachUserPolicy","awsRegion":"us-east-1",'
    '"sourceIPAddress":"216.160.83.56","userAgent":"aws-cli/2.18.17 md/awscrt#0.22.0 ua/2.0 '
    "os/linux#6.8.0-1016-aws md/arch#x86_64 lang/python#3.12.6 md/pyimpl#CPython "
    "cfg/retry-mode#standard md/installer#exe md/distrib#ubuntu.24 md/prompt#off "
    'md/command#iam.attach-user-policy","requestParameters":{"userName":"pwncloud-backdoor-user",'
    '"policyArn":"arn:aws:iam::aws:policy/AdministratorAccess"},"responseElements":null,'
    '"requestID":"15b731e5-03ff-47bc-aa3e-3c34c9398b25","eventID":'
    '"48a0efc2-e7b5-48d0-a3d7-38c44cd15525","readOnly":false,"eventType":"AwsApiCall",'
    '"recipientAccountId":"000000000","eventCategory":"Management","tlsDetails":{"tlsVersion":'
    '"TLSv1.3","cipherSuite":"TLS_AES_128_GCM_SHA256","clientProvidedHostHeader":'
    '"iam.amazonaws.com"}}'
)

ATTACH_USER_POLICY_EXPECTED = {
    "@timestamp": "2024-10-30T20:01:59.000Z",
    "aws.cloudtrail.event_category": "Management",
    "aws.cloudtrail.event_type": "AwsApiCall",
    "aws.cloudtrail.event_version": "1.10",
    "aws.cloudtrail.flattened.request_parameters": {
        "policyArn": "arn:aws:iam::aws:policy/AdministratorAccess",
        "userName": "pwncloud-backdoor-user",
    },
    "aws.cloudtrail.read_only": False,
    "aws.cloudtrail.recipient_account_id": "000000000",
    "aws.cloudtrail.request_id": "15b731e5-03ff-47bc-aa3e-3c34c9398b25",
    "aws.cloudtrail.request_parameters": (
        "{policyArn=arn:aws:iam::aws:policy/AdministratorAccess, userName=pwncloud-backdoor-user}"
    ),
    "aws.cloudtrail.user_identity.access_key_id": "ACCESSKEY",
    "aws.cloudtrail.user_identity.arn": (
        "arn:aws:sts::000000000:assumed-role/ec2-instance-role/i-06815aa7cf7d21f8f"
    ),
    "aws.cloudtrail.user_identity.session_context.creation_date": "2024-10-30T19:14:35.000Z",
    "aws.cloudtrail.user_identity.session_context.mfa_authenticated": "false",
    "aws.cloudtrail.user_identity.session_context.session_issuer.account_id": "000000000",
    "aws.cloudtrail.user_identity.session_context.session_issuer.arn": (
        "arn:aws:iam::000000000:role/ec2-instance-role"
    ),
    "aws.cloudtrail.user_identity.session_context.session_issuer.principal_id": "PRINCIPALID",
    "aws.cloudtrail.user_identity.session_context.session_issuer.type": "Role",
    "aws.cloudtrail.user_identity.type": "AssumedRole",
    "cloud.account.id": "000000000",
    "cloud.region": "us-east-1",
    "event.action": "AttachUserPolicy",
    "event.category": ["iam"],
    "event.id": "48a0efc2-e7b5-48d0-a3d7-38c44cd15525",
    "event.kind": "event",
    "event.outcome": "success",
    "event.provider": "iam.amazonaws.com",
    "event.type": ["user", "change"],
    "source.address": "216.160.83.56",
    "source.ip": "216.160.83.56",
    "tls.cipher": "TLS_AES_128_GCM_SHA256",
    "tls.client.server_name": "iam.amazonaws.com",
    "tls.version": "1.3",
    "tls.version_protocol": "tls",
    "user.id": "PRINCIPALID:i-06815aa7cf7d21f8f",
    "user.name": "ec2-instance-role",
    "user.target.name": "pwncloud-backdoor-user",
    "user_agent.original": ATTACH_USER_POLICY["userAgent"],
}


def test_matches_the_integration_expectation_for_attach_user_policy() -> None:
    doc = to_ecs(ATTACH_USER_POLICY)
    got = {path: _get(doc, path) for path in ATTACH_USER_POLICY_EXPECTED}
    assert got == ATTACH_USER_POLICY_EXPECTED


# test-create-db-instance-json.log-expected.json (commit 105aa1100c29fc01a9f8b0ad6fb870fb00004d76):
# the raw record is the expected document's event.original.
CREATE_DB_INSTANCE_REQUEST = {
    "allocatedStorage": 20,
    "dBInstanceClass": "db.t3.micro",
    "dBInstanceIdentifier": "test-cloudtrail-event-instance-14340",
    "engine": "mysql",
    "masterUserPassword": "HIDDEN_DUE_TO_SECURITY_REASONS",
    "masterUsername": "admin",
}
CREATE_DB_INSTANCE_RESPONSE = json.loads(
    '{"allocatedStorage":20,"associatedRoles":[],"autoMinorVersionUpgrade":true,'
    '"backupRetentionPeriod":1,"backupTarget":"region","cACertificateIdentifier":'
    '"rds-ca-rsa2048-g1","certificateDetails":{"cAIdentifier":"rds-ca-rsa2048-g1"},'
    '"copyTagsToSnapshot":false,"customerOwnedIpEnabled":false,"dBInstanceArn":'
    '"arn:aws:rds:us-east-1:1010101010101:db:test-cloudtrail-event-instance-14340",'
    '"dBInstanceClass":"db.t3.micro","dBInstanceIdentifier":"test-cloudtrail-event-instance-14340",'
    '"dBInstanceStatus":"creating","dBParameterGroups":[{"dBParameterGroupName":"default.mysql8.0",'
    '"parameterApplyStatus":"in-sync"}],"dBSecurityGroups":[],"dBSubnetGroup":'
    '{"dBSubnetGroupDescription":"default","dBSubnetGroupName":"default","subnetGroupStatus":'
    '"Complete","subnets":[{"subnetAvailabilityZone":{"name":"us-east-1d"},"subnetIdentifier":'
    '"subnet-c4bf5e9b","subnetOutpost":{},"subnetStatus":"Active"},{"subnetAvailabilityZone":'
    '{"name":"us-east-1a"},"subnetIdentifier":"subnet-0a0bee6c","subnetOutpost":{},"subnetStatus":'
    '"Active"},{"subnetAvailabilityZone":{"name":"us-east-1e"},"subnetIdentifier":'
    '"subnet-37391109","subnetOutpost":{},"subnetStatus":"Active"},{"subnetAvailabilityZone":'
    '{"name":"us-east-1b"},"subnetIdentifier":"subnet-fee506df","subnetOutpost":{},"subnetStatus":'
    '"Active"},{"subnetAvailabilityZone":{"name":"us-east-1f"},"subnetIdentifier":'
    '"subnet-bf6ab5b1","subnetOutpost":{},"subnetStatus":"Active"},{"subnetAvailabilityZone":'
    '{"name":"us-east-1c"},"subnetIdentifier":"subnet-8bdf6bc6","subnetOutpost":{},"subnetStatus":'
    '"Active"}],"vpcId":"vpc-73d2e309"},"dbInstancePort":0,"dbiResourceId":'
    '"db-ANY6I3FNUJC7WQKYS5RFPU7ORM","dedicatedLogVolume":false,"deletionProtection":false,'
    '"domainMemberships":[],"engine":"mysql","engineLifecycleSupport":'
    '"open-source-rds-extended-support","engineVersion":"8.0.35","httpEndpointEnabled":false,'
    '"iAMDatabaseAuthenticationEnabled":false,"licenseModel":"general-public-license",'
    '"masterUsername":"admin","monitoringInterval":0,"multiAZ":false,"networkType":"IPV4",'
    '"optionGroupMemberships":[{"optionGroupName":"default:mysql-8-0","status":"in-sync"}],'
    '"pendingModifiedValues":{"masterUserPassword":"HIDDEN_DUE_TO_SECURITY_REASONS"},'
    '"performanceInsightsEnabled":false,"preferredBackupWindow":"09:23-09:53",'
    '"preferredMaintenanceWindow":"sun:06:55-sun:07:25","publiclyAccessible":true,'
    '"readReplicaDBInstanceIdentifiers":[],"storageEncrypted":false,"storageThroughput":0,'
    '"storageType":"gp2","tagList":[],"vpcSecurityGroups":[{"status":"active",'
    '"vpcSecurityGroupId":"sg-4e483165"}]}'
)
CREATE_DB_INSTANCE_REQUEST_STRING = (
    "{dBInstanceIdentifier=test-cloudtrail-event-instance-14340, masterUsername=admin, "
    "allocatedStorage=20, engine=mysql, dBInstanceClass=db.t3.micro, "
    "masterUserPassword=HIDDEN_DUE_TO_SECURITY_REASONS}"
)
CREATE_DB_INSTANCE_RESPONSE_STRING = (
    "{allocatedStorage=20, backupTarget=region, cACertificateIdentifier=rds-ca-rsa2048-g1, "
    "dbInstancePort=0, dBParameterGroups=[{dBParameterGroupName=default.mysql8.0, "
    "parameterApplyStatus=in-sync}], dbiResourceId=db-ANY6I3FNUJC7WQKYS5RFPU7ORM, "
    "preferredBackupWindow=09:23-09:53, deletionProtection=false, "
    "dBInstanceArn=arn:aws:rds:us-east-1:1010101010101:db:test-cloudtrail-event-instance-14340, "
    "dBInstanceIdentifier=test-cloudtrail-event-instance-14340, engine=mysql, "
    "publiclyAccessible=true, iAMDatabaseAuthenticationEnabled=false, networkType=IPV4, "
    "engineVersion=8.0.35, performanceInsightsEnabled=false, masterUsername=admin, "
    "certificateDetails={cAIdentifier=rds-ca-rsa2048-g1}, multiAZ=false, "
    "dBInstanceClass=db.t3.micro, storageEncrypted=false, dBSubnetGroup={vpcId=vpc-73d2e309, "
    "subnets=[{subnetIdentifier=subnet-c4bf5e9b, subnetStatus=Active, "
    "subnetAvailabilityZone={name=us-east-1d}}, {subnetIdentifier=subnet-0a0bee6c, "
    "subnetStatus=Active, subnetAvailabilityZone={name=us-east-1a}}, "
    "{subnetIdentifier=subnet-37391109, subnetStatus=Active, "
    "subnetAvailabilityZone={name=us-east-1e}}, {subnetIdentifier=subnet-fee506df, "
    "subnetStatus=Active, subnetAvailabilityZone={name=us-east-1b}}, "
    "{subnetIdentifier=subnet-bf6ab5b1, subnetStatus=Active, "
    "subnetAvailabilityZone={name=us-east-1f}}, {subnetIdentifier=subnet-8bdf6bc6, "
    "subnetStatus=Active, subnetAvailabilityZone={name=us-east-1c}}], "
    "subnetGroupStatus=Complete, dBSubnetGroupDescription=default, dBSubnetGroupName=default}, "
    "storageThroughput=0, httpEndpointEnabled=false, vpcSecurityGroups=[{vpcSecurityGroupId="
    "sg-4e483165, status=active}], customerOwnedIpEnabled=false, "
    "licenseModel=general-public-license, pendingModifiedValues={masterUserPassword="
    "HIDDEN_DUE_TO_SECURITY_REASONS}, monitoringInterval=0, "
    "preferredMaintenanceWindow=sun:06:55-sun:07:25, dBInstanceStatus=creating, "
    "backupRetentionPeriod=1, engineLifecycleSupport=open-source-rds-extended-support, "
    "storageType=gp2, optionGroupMemberships=[{optionGroupName=default:mysql-8-0, "
    "status=in-sync}], dedicatedLogVolume=false, autoMinorVersionUpgrade=true, "
    "copyTagsToSnapshot=false}"
)


def test_request_and_response_strings_match_the_integration_hashmap_order() -> None:
    record = _base(
        eventSource="rds.amazonaws.com",
        eventName="CreateDBInstance",
        requestParameters=CREATE_DB_INSTANCE_REQUEST,
        responseElements=CREATE_DB_INSTANCE_RESPONSE,
    )
    doc = to_ecs(record)
    assert _get(doc, "aws.cloudtrail.request_parameters") == CREATE_DB_INSTANCE_REQUEST_STRING
    assert _get(doc, "aws.cloudtrail.response_elements") == CREATE_DB_INSTANCE_RESPONSE_STRING
    flat = _get(doc, "aws.cloudtrail.flattened.response_elements")
    # empty arrays and objects are gone from the structured copy too
    assert "associatedRoles" not in flat and "tagList" not in flat
    assert "subnetOutpost" not in flat["dBSubnetGroup"]["subnets"][0]
    assert flat["allocatedStorage"] == 20
    # CreateDBInstance is not in the categorization table: kind/type only
    assert _get(doc, "event.type") == ["info"] and not _has(doc, "event.category")


def test_dropped_keys_still_size_the_hashmap() -> None:
    # Java (OpenJDK 17): 13 keys put, then one removed, prints this order; with only the 12
    # surviving keys ever put the order is different (second string).
    keys = [
        "identity",
        "emailAddress",
        "domain",
        "configurationSetName",
        "policyName",
        "tags",
        "dkimSigningAttributes",
        "emailIdentity",
        "mailFromDomain",
        "behaviorOnMxFailure",
        "identityType",
        "notificationType",
        "snsTopic",
    ]
    params: dict[str, Any] = {k: len(k) for k in keys}
    params["snsTopic"] = None
    doc = to_ecs(_base(requestParameters=params))
    assert _get(doc, "aws.cloudtrail.request_parameters") == (
        "{behaviorOnMxFailure=19, dkimSigningAttributes=21, policyName=10, emailIdentity=13, "
        "notificationType=16, tags=4, emailAddress=12, identityType=12, identity=8, domain=6, "
        "mailFromDomain=14, configurationSetName=20}"
    )
    assert java_to_string({k: len(k) for k in keys[:12]}) == (
        "{behaviorOnMxFailure=19, emailAddress=12, dkimSigningAttributes=21, policyName=10, "
        "identityType=12, identity=8, domain=6, emailIdentity=13, mailFromDomain=14, "
        "notificationType=16, configurationSetName=20, tags=4}"
    )


@pytest.mark.parametrize(
    ("value", "java"),
    [(1e7, "1.0E7"), (0.1 + 0.2, "0.30000000000000004"), (1e-5, "1.0E-5"), (20.0, "20.0")],
)
def test_doubles_print_like_java(value: float, java: str) -> None:
    assert java_double_to_string(value) == java


# --- the shared samples --------------------------------------------------------------------------


def test_panther_ses_records_after_fixing_the_time_format() -> None:
    quota, trusted_advisor = _panther("aws_cloudtrail_ses_check_send_quota.tests.ndjson")
    doc = to_ecs(quota)
    assert _get(doc, "@timestamp") == "2025-01-20T16:52:14.000Z"
    assert _get(doc, "event.provider") == "ses.amazonaws.com"
    assert _get(doc, "event.action") == "GetSendQuota"
    assert _get(doc, "event.outcome") == "success"
    assert _get(doc, "user.name") == "SampleRole"  # the role, not the session
    assert _get(doc, "user.id") == "SAMPLE_PRINCIPAL_ID:bobson.dugnutt"
    assert _get(doc, "cloud.account.id") == "111122223333"
    assert _get(doc, "aws.cloudtrail.recipient_account_id") == "111122223333"
    assert _get(doc, "tls.client.server_name") == "email.us-west-2.amazonaws.com"
    assert _get(doc, "source.ip") == "1.2.3.4"
    assert _get(doc, "aws.cloudtrail.additional_eventdata") == "{SignatureVersion=4}"
    assert _get(doc, "aws.cloudtrail.flattened.additional_eventdata") == {"SignatureVersion": "4"}
    assert _get(doc, "data_stream.dataset") == "aws.cloudtrail"
    assert _get(doc, "event.dataset") == "aws.cloudtrail"
    assert not _has(doc, "event.category")  # SES calls get no ECS category

    doc = to_ecs(trusted_advisor)
    assert _get(doc, "source.address") == "trustedadvisor.amazonaws.com"
    assert not _has(doc, "source.ip")
    assert _get(doc, "user_agent.original") == "trustedadvisor.amazonaws.com"
    assert _get(doc, "user.name") == "AWSServiceRoleForTrustedAdvisor"


def test_panther_time_format_is_refused() -> None:
    record = _ndjson(SAMPLES / "panther" / "aws_cloudtrail_ses_list_identities.tests.ndjson")[0]
    with pytest.raises(EcsConversionError, match="eventTime"):
        to_ecs(record)


def test_panther_list_request_parameters() -> None:
    (record,) = _panther("aws_cloudtrail_ses_check_identity_verifications.tests.ndjson")
    doc = to_ecs(record)
    assert _get(doc, "aws.cloudtrail.request_parameters") == (
        "{identities=[acme.com, bobson.dugnutt@acme.com, sleve.mcdichael@yahoo.com]}"
    )
    assert _get(doc, "aws.cloudtrail.flattened.request_parameters.identities") == [
        "acme.com",
        "bobson.dugnutt@acme.com",
        "sleve.mcdichael@yahoo.com",
    ]


def test_invictus_records_all_convert_and_nulls_are_dropped() -> None:
    records = _ndjson(SAMPLES / "invictus-sigma-aws" / "iam_sts_records.ndjson")
    assert len(records) == 35
    nulls = 0
    for record in records:
        doc = to_ecs(record)
        assert _get(doc, "event.id") == record["eventID"]
        assert _get(doc, "@timestamp") == record["eventTime"].replace("Z", ".000Z")
        for raw, ecs in (
            ("requestParameters", "aws.cloudtrail.request_parameters"),
            ("responseElements", "aws.cloudtrail.response_elements"),
        ):
            if record.get(raw) is None:
                nulls += raw in record
                assert not _has(doc, ecs)
                assert not _has(doc, f"aws.cloudtrail.flattened.{ecs.rsplit('.', 1)[1]}")
            else:
                assert isinstance(_get(doc, ecs), str)
    assert nulls > 0  # the sample does hold explicit nulls


def test_invictus_role_session_user_name_is_the_role() -> None:
    records = _ndjson(SAMPLES / "invictus-sigma-aws" / "iam_sts_records.ndjson")
    (session,) = [r for r in records if r["userIdentity"]["type"] == "AssumedRole"]
    doc = to_ecs(session)
    role = session["userIdentity"]["sessionContext"]["sessionIssuer"]["userName"]
    assert _get(doc, "user.name") == role
    assert _get(doc, "aws.cloudtrail.user_identity.access_key_id").startswith("ASIA")
    users = [to_ecs(r) for r in records if r["userIdentity"]["type"] == "IAMUser"]
    assert {_get(d, "user.name") for d in users} == {"bert-jan"}


def test_stratus_failure_outcome_and_iam_categories() -> None:
    records = json.loads(
        (
            SAMPLES / "stratus-red-team" / "aws.persistence.iam-create-user-login-profile.json"
        ).read_text()
    )
    docs = {r["eventName"]: to_ecs(r) for r in records}
    failed = docs["DeleteLoginProfile"]
    assert _get(failed, "event.outcome") == "failure"
    assert _get(failed, "aws.cloudtrail.error_code") == "EntityTemporarilyUnmodifiableException"
    assert _get(failed, "aws.cloudtrail.error_message").startswith("Login Profile for User")
    created = docs["CreateLoginProfile"]
    assert _get(created, "event.outcome") == "success"
    assert not _has(created, "aws.cloudtrail.error_code")
    assert _get(created, "user.target.name") == "stratus-red-team-login-profile-user"
    assert _get(created, "aws.cloudtrail.request_parameters") == (
        "{passwordResetRequired=false, userName=stratus-red-team-login-profile-user}"
    )

    admin = json.loads(
        (SAMPLES / "stratus-red-team" / "aws.persistence.iam-create-admin-user.json").read_text()
    )
    by_action = {r["eventName"]: to_ecs(r) for r in admin}
    assert _get(by_action["CreateUser"], "event.category") == ["iam"]
    assert _get(by_action["CreateUser"], "event.type") == ["user", "creation"]
    # the caller, then requestParameters.userName (appended without duplicates)
    assert _get(by_action["CreateUser"], "related.user") == ["christophe", "malicious-iam-user"]
    assert _get(by_action["CreateUser"], "source.ip") == "075.050.255.67"


def test_s3_delivery_object_records_convert_with_outcomes() -> None:
    wrapper = json.loads(
        (SAMPLES / "invictus-sigma-aws" / "example_raw_s3_object.json").read_text()
    )
    outcomes = {}
    for record in wrapper["Records"]:
        doc = to_ecs(record)
        failed = "errorCode" in record or "errorMessage" in record
        assert _get(doc, "event.outcome") == ("failure" if failed else "success")
        outcomes[_get(doc, "event.outcome")] = outcomes.get(_get(doc, "event.outcome"), 0) + 1
    assert outcomes == {"failure": 7, "success": 61}


def test_service_event_with_leading_space_user_name_and_service_details() -> None:
    record = json.loads(
        (SAMPLES / "awsdocs" / "servicequotas_RequestServiceQuotaIncrease_example.json").read_text()
    )
    doc = to_ecs(record)
    assert _get(doc, "user.name") == " admin"  # not empty, so not dropped, and not trimmed
    status = json.loads(
        (
            SAMPLES
            / "awsdocs"
            / "servicequotas_UpdateServiceQuotaIncreaseRequestStatus_example.json"
        ).read_text()
    )
    doc = to_ecs(status)
    assert _get(doc, "aws.cloudtrail.user_identity.invoked_by") == "servicequotas.amazonaws.com"
    assert _get(doc, "aws.cloudtrail.flattened.service_event_details.newStatus") == "CASE_CLOSED"
    assert _get(doc, "aws.cloudtrail.service_event_details").startswith("{")
    assert not _has(doc, "source.ip")
    assert not _has(doc, "user.name")


# --- pipeline rules on synthetic records ---------------------------------------------------------


def test_empty_strings_are_dropped_like_nulls() -> None:
    doc = to_ecs(_base(errorCode="", errorMessage=None, userAgent=""))
    assert _get(doc, "event.outcome") == "success"
    assert not _has(doc, "aws.cloudtrail.error_code")
    assert not _has(doc, "user_agent")


def test_error_message_alone_is_a_failure() -> None:
    doc = to_ecs(_base(errorMessage="denied"))
    assert _get(doc, "event.outcome") == "failure"
    assert not _has(doc, "aws.cloudtrail.error_code")


def test_nested_empty_values_vanish() -> None:
    doc = to_ecs(_base(requestParameters={"a": None, "b": {}, "c": [None, ""], "d": {"e": ""}}))
    assert not _has(doc, "aws.cloudtrail.request_parameters")
    assert _get(doc, "aws.cloudtrail.flattened") == {}


def test_existing_user_name_is_not_overwritten_by_the_session_issuer() -> None:
    identity = {
        "type": "AssumedRole",
        "userName": "person",
        "sessionContext": {"sessionIssuer": {"type": "Role", "userName": "the-role"}},
    }
    # rename fails when the target exists; ignore_failure keeps userIdentity.userName
    assert _get(to_ecs(_base(userIdentity=identity)), "user.name") == "person"
    del identity["userName"]
    assert _get(to_ecs(_base(userIdentity=identity)), "user.name") == "the-role"


@pytest.mark.parametrize(
    ("address", "ip"),
    [
        ("2001:db8::1", "2001:db8::1"),
        ("10.1.2.3", "10.1.2.3"),
        ("AWS Internal", None),
        ("ses.amazonaws.com", None),
    ],
)
def test_source_ip_only_for_ip_addresses(address: str, ip: str | None) -> None:
    doc = to_ecs(_base(sourceIPAddress=address))
    assert _get(doc, "source.address") == address
    assert _get(doc, "source.ip") == ip


def test_leading_zero_ipv4_goes_to_source_ip_like_grok() -> None:
    # grok's IPV4 accepts leading zeros (the anonymised stratus logs have 075.050.255.67)
    assert _get(to_ecs(_base(sourceIPAddress="075.050.255.67")), "source.ip") == "075.050.255.67"
    assert not _has(to_ecs(_base(sourceIPAddress="256.1.1.1")), "source.ip")
    with pytest.raises(EcsConversionError, match="zone id"):
        to_ecs(_base(sourceIPAddress="fe80::1%eth0"))


def test_resources_are_renamed_and_deduplicated() -> None:
    resource = {"accountId": "111122223333", "type": "AWS::IAM::User", "ARN": "arn:aws:iam::1:u"}
    doc = to_ecs(_base(resources=[resource, dict(resource)]))
    # key order as Java (OpenJDK 17) prints the renamed HashMap
    assert _get(doc, "aws.cloudtrail.resources") == [
        {"account_id": "111122223333", "type": "AWS::IAM::User", "arn": "arn:aws:iam::1:u"}
    ]
    assert list(_get(doc, "aws.cloudtrail.resources")[0]) == ["account_id", "type", "arn"]


def test_console_login_outcome_and_failures() -> None:
    login = _base(
        eventSource="signin.amazonaws.com",
        eventName="ConsoleLogin",
        requestParameters=None,
        responseElements={"ConsoleLogin": "Failure"},
        additionalEventData={"MFAUsed": "No", "LoginTo": "https://console.aws.amazon.com"},
    )
    doc = to_ecs(login)
    assert _get(doc, "event.outcome") == "failure"
    assert _get(doc, "event.category") == ["authentication"]
    assert _get(doc, "aws.cloudtrail.console_login.additional_eventdata.mfa_used") is False
    with pytest.raises(EcsConversionError, match="ConsoleLogin"):
        to_ecs({**login, "responseElements": None})


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"eventTime": None}, "eventTime"),
        ({"eventTime": "2025-03-01 10:00:00"}, "eventTime"),
        ({"digestS3Object": "x"}, "digest"),
        ({"requestParameters": "a=b"}, "not an object"),
        ({"tlsDetails": {"tlsVersion": "TLS1.2"}}, "dissect"),
    ],
)
def test_inputs_the_pipeline_cannot_index_raise(overrides: dict[str, Any], reason: str) -> None:
    with pytest.raises(EcsConversionError, match=reason):
        to_ecs(_base(**overrides))


def test_to_ecs_is_pure() -> None:
    record = _base(requestParameters={"a": None, "b": "x"})
    before = copy.deepcopy(record)
    first = to_ecs(record)
    assert record == before
    assert to_ecs(record) == first


def test_timestamps_are_utc_milliseconds() -> None:
    assert to_ecs(_base(eventTime="2025-03-01T10:00:00.123456Z"))["@timestamp"] == (
        "2025-03-01T10:00:00.123Z"
    )
    assert to_ecs(_base(eventTime="2025-03-01T12:00:00+02:00"))["@timestamp"] == (
        "2025-03-01T10:00:00.000Z"
    )
    with pytest.raises(ValueError):
        parse_es_iso8601("2025-03-01 10:00:00")
