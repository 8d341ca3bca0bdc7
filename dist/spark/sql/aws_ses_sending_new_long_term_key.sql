-- aws_ses_sending_new_long_term_key: AWS SES Email Sent With a Long-Term Key Not Seen Sending Before
-- first seen: userIdentity.accessKeyId; learning 604800s, forget after 2.592e+06s
WITH ct AS (
  SELECT
    record,
    try_to_timestamp(variant_get(record, '$.eventTime', 'string')) AS `_time`,
    variant_get(record, '$.eventID', 'string') AS `_id`,
    CASE WHEN schema_of_variant(variant_get(record, '$.errorCode')) LIKE 'ARRAY%' OR schema_of_variant(variant_get(record, '$.errorCode')) LIKE 'OBJECT%' THEN raise_error('ses-sigma: errorCode is an array, an object or under a dotted key in this record (not evaluated in SQL; the ses-sigma matcher does)') ELSE variant_get(record, '$.errorCode', 'string') END AS `errorCode`,
    CASE WHEN schema_of_variant(variant_get(record, '$.eventName')) LIKE 'ARRAY%' OR schema_of_variant(variant_get(record, '$.eventName')) LIKE 'OBJECT%' THEN raise_error('ses-sigma: eventName is an array, an object or under a dotted key in this record (not evaluated in SQL; the ses-sigma matcher does)') ELSE variant_get(record, '$.eventName', 'string') END AS `eventName`,
    CASE WHEN schema_of_variant(variant_get(record, '$.eventSource')) LIKE 'ARRAY%' OR schema_of_variant(variant_get(record, '$.eventSource')) LIKE 'OBJECT%' THEN raise_error('ses-sigma: eventSource is an array, an object or under a dotted key in this record (not evaluated in SQL; the ses-sigma matcher does)') ELSE variant_get(record, '$.eventSource', 'string') END AS `eventSource`,
    CASE WHEN schema_of_variant(variant_get(record, '$.userIdentity')) LIKE 'ARRAY%' OR schema_of_variant(variant_get(record, '$.userIdentity.accessKeyId')) LIKE 'ARRAY%' OR schema_of_variant(variant_get(record, '$.userIdentity.accessKeyId')) LIKE 'OBJECT%' OR variant_get(record, '$["userIdentity.accessKeyId"]') IS NOT NULL THEN raise_error('ses-sigma: userIdentity.accessKeyId is an array, an object or under a dotted key in this record (not evaluated in SQL; the ses-sigma matcher does)') ELSE variant_get(record, '$.userIdentity.accessKeyId', 'string') END AS `userIdentity.accessKeyId`
  FROM cloudtrail
),
timed AS (
  SELECT *, min(`_time`) OVER () AS data_start
  FROM ct
  WHERE `_time` IS NOT NULL AND `_id` IS NOT NULL AND `_time` >= TIMESTAMP '2013-11-01 00:00:00' AND `_time` <= current_timestamp() + make_dt_interval(0, 0, 0, 86400) AND (coalesce(lower(`eventSource`) = 'ses.amazonaws.com', false) AND (coalesce(lower(`eventName`) IN ('sendemail', 'sendrawemail', 'sendtemplatedemail', 'sendbulktemplatedemail', 'sendbulkemail'), false)) AND coalesce(lower(`userIdentity.accessKeyId`) LIKE 'akia%' ESCAPE '!', false) AND `errorCode` IS NULL)
),
matches AS (
  SELECT *, to_json(variant_get(record, '$.userIdentity.accessKeyId')) AS k0
  FROM timed
  WHERE `userIdentity.accessKeyId` IS NOT NULL
),
seen AS (
  SELECT *, lag(`_time`) OVER (PARTITION BY k0 ORDER BY `_time`, `_id`) AS previous
  FROM matches
)
SELECT 'aws_ses_sending_new_long_term_key' AS rule_name, `_time` AS time, array(`_id`) AS event_ids, map('userIdentity.accessKeyId', `userIdentity.accessKeyId`) AS group_values
FROM seen
WHERE (previous IS NULL OR unix_micros(`_time`) - unix_micros(previous) > 2592000000000)
  AND unix_micros(`_time`) - unix_micros(data_start) >= 604800000000
