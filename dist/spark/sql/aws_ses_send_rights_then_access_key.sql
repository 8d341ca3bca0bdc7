-- aws_ses_send_rights_then_access_key: AWS IAM User Given SES Send Rights Then an Access Key
-- temporal_ordered: aws_ses_iam_send_rights_granted then aws_ses_iam_access_key_created_for_user within 3600s by requestParameters.userName
WITH ct AS (
  SELECT
    record,
    try_to_timestamp(variant_get(record, '$.eventTime', 'string')) AS `_time`,
    variant_get(record, '$.eventID', 'string') AS `_id`,
    CASE WHEN schema_of_variant(variant_get(record, '$.errorCode')) LIKE 'ARRAY%' OR schema_of_variant(variant_get(record, '$.errorCode')) LIKE 'OBJECT%' THEN raise_error('ses-sigma: errorCode is an array, an object or under a dotted key in this record (not evaluated in SQL; the ses-sigma matcher does)') ELSE variant_get(record, '$.errorCode', 'string') END AS `errorCode`,
    CASE WHEN schema_of_variant(variant_get(record, '$.eventName')) LIKE 'ARRAY%' OR schema_of_variant(variant_get(record, '$.eventName')) LIKE 'OBJECT%' THEN raise_error('ses-sigma: eventName is an array, an object or under a dotted key in this record (not evaluated in SQL; the ses-sigma matcher does)') ELSE variant_get(record, '$.eventName', 'string') END AS `eventName`,
    CASE WHEN schema_of_variant(variant_get(record, '$.eventSource')) LIKE 'ARRAY%' OR schema_of_variant(variant_get(record, '$.eventSource')) LIKE 'OBJECT%' THEN raise_error('ses-sigma: eventSource is an array, an object or under a dotted key in this record (not evaluated in SQL; the ses-sigma matcher does)') ELSE variant_get(record, '$.eventSource', 'string') END AS `eventSource`,
    CASE WHEN schema_of_variant(variant_get(record, '$.requestParameters')) LIKE 'ARRAY%' OR schema_of_variant(variant_get(record, '$.requestParameters.policyArn')) LIKE 'ARRAY%' OR schema_of_variant(variant_get(record, '$.requestParameters.policyArn')) LIKE 'OBJECT%' OR variant_get(record, '$["requestParameters.policyArn"]') IS NOT NULL THEN raise_error('ses-sigma: requestParameters.policyArn is an array, an object or under a dotted key in this record (not evaluated in SQL; the ses-sigma matcher does)') ELSE variant_get(record, '$.requestParameters.policyArn', 'string') END AS `requestParameters.policyArn`,
    CASE WHEN schema_of_variant(variant_get(record, '$.requestParameters')) LIKE 'ARRAY%' OR schema_of_variant(variant_get(record, '$.requestParameters.policyDocument')) LIKE 'ARRAY%' OR schema_of_variant(variant_get(record, '$.requestParameters.policyDocument')) LIKE 'OBJECT%' OR variant_get(record, '$["requestParameters.policyDocument"]') IS NOT NULL THEN raise_error('ses-sigma: requestParameters.policyDocument is an array, an object or under a dotted key in this record (not evaluated in SQL; the ses-sigma matcher does)') ELSE variant_get(record, '$.requestParameters.policyDocument', 'string') END AS `requestParameters.policyDocument`,
    CASE WHEN schema_of_variant(variant_get(record, '$.requestParameters')) LIKE 'ARRAY%' OR schema_of_variant(variant_get(record, '$.requestParameters.userName')) LIKE 'ARRAY%' OR schema_of_variant(variant_get(record, '$.requestParameters.userName')) LIKE 'OBJECT%' OR variant_get(record, '$["requestParameters.userName"]') IS NOT NULL THEN raise_error('ses-sigma: requestParameters.userName is an array, an object or under a dotted key in this record (not evaluated in SQL; the ses-sigma matcher does)') ELSE variant_get(record, '$.requestParameters.userName', 'string') END AS `requestParameters.userName`,
    CASE WHEN schema_of_variant(variant_get(record, '$.sourceIPAddress')) LIKE 'ARRAY%' OR schema_of_variant(variant_get(record, '$.sourceIPAddress')) LIKE 'OBJECT%' THEN raise_error('ses-sigma: sourceIPAddress is an array, an object or under a dotted key in this record (not evaluated in SQL; the ses-sigma matcher does)') ELSE variant_get(record, '$.sourceIPAddress', 'string') END AS `sourceIPAddress`,
    CASE WHEN schema_of_variant(variant_get(record, '$.userAgent')) LIKE 'ARRAY%' OR schema_of_variant(variant_get(record, '$.userAgent')) LIKE 'OBJECT%' THEN raise_error('ses-sigma: userAgent is an array, an object or under a dotted key in this record (not evaluated in SQL; the ses-sigma matcher does)') ELSE variant_get(record, '$.userAgent', 'string') END AS `userAgent`,
    CASE WHEN schema_of_variant(variant_get(record, '$.userIdentity')) LIKE 'ARRAY%' OR schema_of_variant(variant_get(record, '$.userIdentity.invokedBy')) LIKE 'ARRAY%' OR schema_of_variant(variant_get(record, '$.userIdentity.invokedBy')) LIKE 'OBJECT%' OR variant_get(record, '$["userIdentity.invokedBy"]') IS NOT NULL THEN raise_error('ses-sigma: userIdentity.invokedBy is an array, an object or under a dotted key in this record (not evaluated in SQL; the ses-sigma matcher does)') ELSE variant_get(record, '$.userIdentity.invokedBy', 'string') END AS `userIdentity.invokedBy`
  FROM cloudtrail
),
steps AS (
  SELECT `_time`, `_id`, 1 AS step, `requestParameters.userName` AS g0, to_json(variant_get(record, '$.requestParameters.userName')) AS k0
  FROM ct
  WHERE `_time` IS NOT NULL AND `_id` IS NOT NULL AND `requestParameters.userName` IS NOT NULL AND (coalesce(lower(`eventSource`) = 'iam.amazonaws.com', false) AND (coalesce(lower(`eventName`) IN ('putuserpolicy', 'putgrouppolicy'), false)) AND coalesce(lower(`requestParameters.policyDocument`) LIKE '%ses:send%' ESCAPE '!', false) AND `errorCode` IS NULL OR coalesce(lower(`eventSource`) = 'iam.amazonaws.com', false) AND (coalesce(lower(`eventName`) IN ('attachuserpolicy', 'attachgrouppolicy'), false)) AND coalesce(lower(`requestParameters.policyArn`) = 'arn:aws:iam::aws:policy/amazonsesfullaccess', false) AND `errorCode` IS NULL)
  UNION ALL
  SELECT `_time`, `_id`, 2 AS step, `requestParameters.userName` AS g0, to_json(variant_get(record, '$.requestParameters.userName')) AS k0
  FROM ct
  WHERE `_time` IS NOT NULL AND `_id` IS NOT NULL AND `requestParameters.userName` IS NOT NULL AND (coalesce(lower(`eventSource`) = 'iam.amazonaws.com', false) AND coalesce(lower(`eventName`) = 'createaccesskey', false) AND `errorCode` IS NULL AND NOT (`requestParameters.userName` IS NULL OR coalesce(lower(`userAgent`) LIKE 'mozilla/%' ESCAPE '!', false) OR coalesce(lower(`userAgent`) = 'aws internal', false) OR coalesce(lower(`sourceIPAddress`) LIKE '%.amazonaws.com' ESCAPE '!', false) OR coalesce(lower(`userIdentity.invokedBy`) LIKE '%.amazonaws.com' ESCAPE '!', false)))
),
chained AS (
  SELECT *, lag(step) OVER (PARTITION BY k0 ORDER BY `_time`, step, `_id`) AS previous_step,
    lag(`_time`) OVER (PARTITION BY k0 ORDER BY `_time`, step, `_id`) AS previous_time,
    lag(`_id`) OVER (PARTITION BY k0 ORDER BY `_time`, step, `_id`) AS previous_id
  FROM steps
)
SELECT 'aws_ses_send_rights_then_access_key' AS rule_name, `_time` AS time, array(previous_id, `_id`) AS event_ids, map('requestParameters.userName', g0) AS group_values
FROM chained
WHERE step = 2 AND previous_step = 1
  AND unix_micros(`_time`) - unix_micros(previous_time) <= 3600000000
