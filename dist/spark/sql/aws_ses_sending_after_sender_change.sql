-- aws_ses_sending_after_sender_change: AWS SES Mail Sent After a Sender-Side Change by the Same Key
-- temporal_ordered: aws_ses_sender_setup_change then aws_ses_email_sent_long_term_key within 3600s by userIdentity.accessKeyId
WITH ct AS (
  SELECT
    record,
    try_to_timestamp(variant_get(record, '$.eventTime', 'string')) AS `_time`,
    variant_get(record, '$.eventID', 'string') AS `_id`,
    CASE WHEN schema_of_variant(variant_get(record, '$.errorCode')) LIKE 'ARRAY%' OR schema_of_variant(variant_get(record, '$.errorCode')) LIKE 'OBJECT%' THEN raise_error('ses-sigma: errorCode is an array, an object or under a dotted key in this record (not evaluated in SQL; the ses-sigma matcher does)') ELSE variant_get(record, '$.errorCode', 'string') END AS `errorCode`,
    CASE WHEN schema_of_variant(variant_get(record, '$.eventName')) LIKE 'ARRAY%' OR schema_of_variant(variant_get(record, '$.eventName')) LIKE 'OBJECT%' THEN raise_error('ses-sigma: eventName is an array, an object or under a dotted key in this record (not evaluated in SQL; the ses-sigma matcher does)') ELSE variant_get(record, '$.eventName', 'string') END AS `eventName`,
    CASE WHEN schema_of_variant(variant_get(record, '$.eventSource')) LIKE 'ARRAY%' OR schema_of_variant(variant_get(record, '$.eventSource')) LIKE 'OBJECT%' THEN raise_error('ses-sigma: eventSource is an array, an object or under a dotted key in this record (not evaluated in SQL; the ses-sigma matcher does)') ELSE variant_get(record, '$.eventSource', 'string') END AS `eventSource`,
    CASE WHEN schema_of_variant(variant_get(record, '$.sourceIPAddress')) LIKE 'ARRAY%' OR schema_of_variant(variant_get(record, '$.sourceIPAddress')) LIKE 'OBJECT%' THEN raise_error('ses-sigma: sourceIPAddress is an array, an object or under a dotted key in this record (not evaluated in SQL; the ses-sigma matcher does)') ELSE variant_get(record, '$.sourceIPAddress', 'string') END AS `sourceIPAddress`,
    CASE WHEN schema_of_variant(variant_get(record, '$.userIdentity')) LIKE 'ARRAY%' OR schema_of_variant(variant_get(record, '$.userIdentity.accessKeyId')) LIKE 'ARRAY%' OR schema_of_variant(variant_get(record, '$.userIdentity.accessKeyId')) LIKE 'OBJECT%' OR variant_get(record, '$["userIdentity.accessKeyId"]') IS NOT NULL THEN raise_error('ses-sigma: userIdentity.accessKeyId is an array, an object or under a dotted key in this record (not evaluated in SQL; the ses-sigma matcher does)') ELSE variant_get(record, '$.userIdentity.accessKeyId', 'string') END AS `userIdentity.accessKeyId`,
    CASE WHEN schema_of_variant(variant_get(record, '$.userIdentity')) LIKE 'ARRAY%' OR schema_of_variant(variant_get(record, '$.userIdentity.invokedBy')) LIKE 'ARRAY%' OR schema_of_variant(variant_get(record, '$.userIdentity.invokedBy')) LIKE 'OBJECT%' OR variant_get(record, '$["userIdentity.invokedBy"]') IS NOT NULL THEN raise_error('ses-sigma: userIdentity.invokedBy is an array, an object or under a dotted key in this record (not evaluated in SQL; the ses-sigma matcher does)') ELSE variant_get(record, '$.userIdentity.invokedBy', 'string') END AS `userIdentity.invokedBy`,
    CASE WHEN schema_of_variant(variant_get(record, '$.userIdentity')) LIKE 'ARRAY%' OR schema_of_variant(variant_get(record, '$.userIdentity.type')) LIKE 'ARRAY%' OR schema_of_variant(variant_get(record, '$.userIdentity.type')) LIKE 'OBJECT%' OR variant_get(record, '$["userIdentity.type"]') IS NOT NULL THEN raise_error('ses-sigma: userIdentity.type is an array, an object or under a dotted key in this record (not evaluated in SQL; the ses-sigma matcher does)') ELSE variant_get(record, '$.userIdentity.type', 'string') END AS `userIdentity.type`
  FROM cloudtrail
),
steps AS (
  SELECT `_time`, `_id`, 1 AS step, `userIdentity.accessKeyId` AS g0, to_json(variant_get(record, '$.userIdentity.accessKeyId')) AS k0
  FROM ct
  WHERE `_time` IS NOT NULL AND `_id` IS NOT NULL AND `userIdentity.accessKeyId` IS NOT NULL AND (coalesce(lower(`eventSource`) = 'ses.amazonaws.com', false) AND (coalesce(lower(`eventName`) IN ('putaccountdetails', 'updateaccountsendingenabled', 'putaccountsendingattributes', 'updateconfigurationsetsendingenabled', 'putconfigurationsetsendingoptions', 'verifyemailidentity', 'verifyemailaddress', 'verifydomainidentity', 'verifydomaindkim', 'createemailidentity', 'putidentitypolicy', 'createemailidentitypolicy', 'updateemailidentitypolicy'), false)) AND NOT (coalesce(lower(`sourceIPAddress`) LIKE '%.amazonaws.com' ESCAPE '!', false) OR coalesce(lower(`userIdentity.type`) = 'awsservice', false) OR coalesce(lower(`userIdentity.invokedBy`) LIKE '%.amazonaws.com' ESCAPE '!', false)))
  UNION ALL
  SELECT `_time`, `_id`, 2 AS step, `userIdentity.accessKeyId` AS g0, to_json(variant_get(record, '$.userIdentity.accessKeyId')) AS k0
  FROM ct
  WHERE `_time` IS NOT NULL AND `_id` IS NOT NULL AND `userIdentity.accessKeyId` IS NOT NULL AND (coalesce(lower(`eventSource`) = 'ses.amazonaws.com', false) AND (coalesce(lower(`eventName`) IN ('sendemail', 'sendrawemail', 'sendtemplatedemail', 'sendbulktemplatedemail', 'sendbulkemail'), false)) AND coalesce(lower(`userIdentity.accessKeyId`) LIKE 'akia%' ESCAPE '!', false) AND `errorCode` IS NULL)
),
chained AS (
  SELECT *, lag(step) OVER (PARTITION BY k0 ORDER BY `_time`, step, `_id`) AS previous_step,
    lag(`_time`) OVER (PARTITION BY k0 ORDER BY `_time`, step, `_id`) AS previous_time,
    lag(`_id`) OVER (PARTITION BY k0 ORDER BY `_time`, step, `_id`) AS previous_id
  FROM steps
)
SELECT 'aws_ses_sending_after_sender_change' AS rule_name, `_time` AS time, array(previous_id, `_id`) AS event_ids, map('userIdentity.accessKeyId', g0) AS group_values
FROM chained
WHERE step = 2 AND previous_step = 1
  AND unix_micros(`_time`) - unix_micros(previous_time) <= 3600000000
