-- aws_ses_identity_added_then_deleted: AWS SES Sender Identity Created Then Deleted Within One Hour
-- temporal_ordered: aws_ses_identity_created then aws_ses_identity_deleted within 3600s by userIdentity.arn
WITH ct AS (
  SELECT
    record,
    try_to_timestamp(variant_get(record, '$.eventTime', 'string')) AS `_time`,
    variant_get(record, '$.eventID', 'string') AS `_id`,
    CASE WHEN schema_of_variant(variant_get(record, '$.errorCode')) LIKE 'ARRAY%' OR schema_of_variant(variant_get(record, '$.errorCode')) LIKE 'OBJECT%' THEN raise_error('ses-sigma: errorCode is an array, an object or under a dotted key in this record (not evaluated in SQL; the ses-sigma matcher does)') ELSE variant_get(record, '$.errorCode', 'string') END AS `errorCode`,
    CASE WHEN schema_of_variant(variant_get(record, '$.eventName')) LIKE 'ARRAY%' OR schema_of_variant(variant_get(record, '$.eventName')) LIKE 'OBJECT%' THEN raise_error('ses-sigma: eventName is an array, an object or under a dotted key in this record (not evaluated in SQL; the ses-sigma matcher does)') ELSE variant_get(record, '$.eventName', 'string') END AS `eventName`,
    CASE WHEN schema_of_variant(variant_get(record, '$.eventSource')) LIKE 'ARRAY%' OR schema_of_variant(variant_get(record, '$.eventSource')) LIKE 'OBJECT%' THEN raise_error('ses-sigma: eventSource is an array, an object or under a dotted key in this record (not evaluated in SQL; the ses-sigma matcher does)') ELSE variant_get(record, '$.eventSource', 'string') END AS `eventSource`,
    CASE WHEN schema_of_variant(variant_get(record, '$.userIdentity')) LIKE 'ARRAY%' OR schema_of_variant(variant_get(record, '$.userIdentity.arn')) LIKE 'ARRAY%' OR schema_of_variant(variant_get(record, '$.userIdentity.arn')) LIKE 'OBJECT%' OR variant_get(record, '$["userIdentity.arn"]') IS NOT NULL THEN raise_error('ses-sigma: userIdentity.arn is an array, an object or under a dotted key in this record (not evaluated in SQL; the ses-sigma matcher does)') ELSE variant_get(record, '$.userIdentity.arn', 'string') END AS `userIdentity.arn`
  FROM cloudtrail
),
steps AS (
  SELECT `_time`, `_id`, 1 AS step, `userIdentity.arn` AS g0, to_json(variant_get(record, '$.userIdentity.arn')) AS k0
  FROM ct
  WHERE `_time` IS NOT NULL AND `_id` IS NOT NULL AND `userIdentity.arn` IS NOT NULL AND (coalesce(lower(`eventSource`) = 'ses.amazonaws.com', false) AND (coalesce(lower(`eventName`) IN ('verifyemailidentity', 'verifyemailaddress', 'verifydomainidentity', 'createemailidentity'), false)) AND `errorCode` IS NULL)
  UNION ALL
  SELECT `_time`, `_id`, 2 AS step, `userIdentity.arn` AS g0, to_json(variant_get(record, '$.userIdentity.arn')) AS k0
  FROM ct
  WHERE `_time` IS NOT NULL AND `_id` IS NOT NULL AND `userIdentity.arn` IS NOT NULL AND (coalesce(lower(`eventSource`) = 'ses.amazonaws.com', false) AND (coalesce(lower(`eventName`) IN ('deleteidentity', 'deleteemailidentity', 'deleteverifiedemailaddress'), false)) AND `errorCode` IS NULL)
),
chained AS (
  SELECT *, lag(step) OVER (PARTITION BY k0 ORDER BY `_time`, `_id`) AS previous_step,
    lag(`_time`) OVER (PARTITION BY k0 ORDER BY `_time`, `_id`) AS previous_time,
    lag(`_id`) OVER (PARTITION BY k0 ORDER BY `_time`, `_id`) AS previous_id
  FROM steps
)
SELECT 'aws_ses_identity_added_then_deleted' AS rule_name, `_time` AS time, array(previous_id, `_id`) AS event_ids, map('userIdentity.arn', g0) AS group_values
FROM chained
WHERE step = 2 AND previous_step = 1
  AND unix_micros(`_time`) - unix_micros(previous_time) <= 3600000000
