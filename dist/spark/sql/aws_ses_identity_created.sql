-- aws_ses_identity_created: AWS SES Sender Identity Created or Verified
WITH ct AS (
  SELECT
    record,
    try_to_timestamp(variant_get(record, '$.eventTime', 'string')) AS `_time`,
    variant_get(record, '$.eventID', 'string') AS `_id`,
    CASE WHEN schema_of_variant(variant_get(record, '$.errorCode')) LIKE 'ARRAY%' OR schema_of_variant(variant_get(record, '$.errorCode')) LIKE 'OBJECT%' THEN raise_error('ses-sigma: errorCode is an array, an object or under a dotted key in this record (not evaluated in SQL; the ses-sigma matcher does)') ELSE variant_get(record, '$.errorCode', 'string') END AS `errorCode`,
    CASE WHEN schema_of_variant(variant_get(record, '$.eventName')) LIKE 'ARRAY%' OR schema_of_variant(variant_get(record, '$.eventName')) LIKE 'OBJECT%' THEN raise_error('ses-sigma: eventName is an array, an object or under a dotted key in this record (not evaluated in SQL; the ses-sigma matcher does)') ELSE variant_get(record, '$.eventName', 'string') END AS `eventName`,
    CASE WHEN schema_of_variant(variant_get(record, '$.eventSource')) LIKE 'ARRAY%' OR schema_of_variant(variant_get(record, '$.eventSource')) LIKE 'OBJECT%' THEN raise_error('ses-sigma: eventSource is an array, an object or under a dotted key in this record (not evaluated in SQL; the ses-sigma matcher does)') ELSE variant_get(record, '$.eventSource', 'string') END AS `eventSource`
  FROM cloudtrail
)
SELECT 'aws_ses_identity_created' AS rule_name, `_time` AS time, array(`_id`) AS event_ids, CAST(map() AS MAP<STRING, STRING>) AS group_values
FROM ct
WHERE `_time` IS NOT NULL AND `_id` IS NOT NULL AND (coalesce(lower(`eventSource`) = 'ses.amazonaws.com', false) AND (coalesce(lower(`eventName`) IN ('verifyemailidentity', 'verifyemailaddress', 'verifydomainidentity', 'createemailidentity'), false)) AND `errorCode` IS NULL)
