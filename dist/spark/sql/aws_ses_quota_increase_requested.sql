-- aws_ses_quota_increase_requested: AWS SES Sending Quota Increase Requested
WITH ct AS (
  SELECT
    record,
    try_to_timestamp(variant_get(record, '$.eventTime', 'string')) AS `_time`,
    variant_get(record, '$.eventID', 'string') AS `_id`,
    CASE WHEN schema_of_variant(variant_get(record, '$.errorCode')) LIKE 'ARRAY%' OR schema_of_variant(variant_get(record, '$.errorCode')) LIKE 'OBJECT%' THEN raise_error('ses-sigma: errorCode is an array, an object or under a dotted key in this record (not evaluated in SQL; the ses-sigma matcher does)') ELSE variant_get(record, '$.errorCode', 'string') END AS `errorCode`,
    CASE WHEN schema_of_variant(variant_get(record, '$.eventName')) LIKE 'ARRAY%' OR schema_of_variant(variant_get(record, '$.eventName')) LIKE 'OBJECT%' THEN raise_error('ses-sigma: eventName is an array, an object or under a dotted key in this record (not evaluated in SQL; the ses-sigma matcher does)') ELSE variant_get(record, '$.eventName', 'string') END AS `eventName`,
    CASE WHEN schema_of_variant(variant_get(record, '$.eventSource')) LIKE 'ARRAY%' OR schema_of_variant(variant_get(record, '$.eventSource')) LIKE 'OBJECT%' THEN raise_error('ses-sigma: eventSource is an array, an object or under a dotted key in this record (not evaluated in SQL; the ses-sigma matcher does)') ELSE variant_get(record, '$.eventSource', 'string') END AS `eventSource`,
    CASE WHEN schema_of_variant(variant_get(record, '$.requestParameters')) LIKE 'ARRAY%' OR schema_of_variant(variant_get(record, '$.requestParameters.serviceCode')) LIKE 'ARRAY%' OR schema_of_variant(variant_get(record, '$.requestParameters.serviceCode')) LIKE 'OBJECT%' OR variant_get(record, '$["requestParameters.serviceCode"]') IS NOT NULL THEN raise_error('ses-sigma: requestParameters.serviceCode is an array, an object or under a dotted key in this record (not evaluated in SQL; the ses-sigma matcher does)') ELSE variant_get(record, '$.requestParameters.serviceCode', 'string') END AS `requestParameters.serviceCode`
  FROM cloudtrail
)
SELECT 'aws_ses_quota_increase_requested' AS rule_name, `_time` AS time, array(`_id`) AS event_ids, CAST(map() AS MAP<STRING, STRING>) AS group_values
FROM ct
WHERE `_time` IS NOT NULL AND `_id` IS NOT NULL AND (coalesce(lower(`eventSource`) = 'servicequotas.amazonaws.com', false) AND coalesce(lower(`eventName`) = 'requestservicequotaincrease', false) AND coalesce(lower(`requestParameters.serviceCode`) = 'ses', false) AND `errorCode` IS NULL)
