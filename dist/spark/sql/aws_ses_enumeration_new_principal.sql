-- aws_ses_enumeration_new_principal: AWS SES Enumeration by a New Principal
-- first seen: sesPrincipal; learning 604800s, forget after 2.592e+06s
WITH ct AS (
  SELECT
    record,
    try_to_timestamp(variant_get(record, '$.eventTime', 'string')) AS `_time`,
    variant_get(record, '$.eventID', 'string') AS `_id`,
    CASE WHEN schema_of_variant(variant_get(record, '$.eventName')) LIKE 'ARRAY%' OR schema_of_variant(variant_get(record, '$.eventName')) LIKE 'OBJECT%' THEN raise_error('ses-sigma: eventName is an array, an object or under a dotted key in this record (not evaluated in SQL; the ses-sigma matcher does)') ELSE variant_get(record, '$.eventName', 'string') END AS `eventName`,
    CASE WHEN schema_of_variant(variant_get(record, '$.eventSource')) LIKE 'ARRAY%' OR schema_of_variant(variant_get(record, '$.eventSource')) LIKE 'OBJECT%' THEN raise_error('ses-sigma: eventSource is an array, an object or under a dotted key in this record (not evaluated in SQL; the ses-sigma matcher does)') ELSE variant_get(record, '$.eventSource', 'string') END AS `eventSource`,
    CASE WHEN schema_of_variant(variant_get(record, '$.requestParameters')) LIKE 'ARRAY%' OR schema_of_variant(variant_get(record, '$.requestParameters.serviceCode')) LIKE 'ARRAY%' OR schema_of_variant(variant_get(record, '$.requestParameters.serviceCode')) LIKE 'OBJECT%' OR variant_get(record, '$["requestParameters.serviceCode"]') IS NOT NULL THEN raise_error('ses-sigma: requestParameters.serviceCode is an array, an object or under a dotted key in this record (not evaluated in SQL; the ses-sigma matcher does)') ELSE variant_get(record, '$.requestParameters.serviceCode', 'string') END AS `requestParameters.serviceCode`,
    CASE WHEN schema_of_variant(variant_get(record, '$.sourceIPAddress')) LIKE 'ARRAY%' OR schema_of_variant(variant_get(record, '$.sourceIPAddress')) LIKE 'OBJECT%' THEN raise_error('ses-sigma: sourceIPAddress is an array, an object or under a dotted key in this record (not evaluated in SQL; the ses-sigma matcher does)') ELSE variant_get(record, '$.sourceIPAddress', 'string') END AS `sourceIPAddress`,
    CASE WHEN schema_of_variant(variant_get(record, '$.userIdentity')) LIKE 'ARRAY%' OR schema_of_variant(variant_get(record, '$.userIdentity.arn')) LIKE 'ARRAY%' OR schema_of_variant(variant_get(record, '$.userIdentity.arn')) LIKE 'OBJECT%' OR variant_get(record, '$["userIdentity.arn"]') IS NOT NULL THEN raise_error('ses-sigma: userIdentity.arn is an array, an object or under a dotted key in this record (not evaluated in SQL; the ses-sigma matcher does)') ELSE variant_get(record, '$.userIdentity.arn', 'string') END AS `userIdentity.arn`,
    CASE WHEN schema_of_variant(variant_get(record, '$.userIdentity')) LIKE 'ARRAY%' OR schema_of_variant(variant_get(record, '$.userIdentity.invokedBy')) LIKE 'ARRAY%' OR schema_of_variant(variant_get(record, '$.userIdentity.invokedBy')) LIKE 'OBJECT%' OR variant_get(record, '$["userIdentity.invokedBy"]') IS NOT NULL THEN raise_error('ses-sigma: userIdentity.invokedBy is an array, an object or under a dotted key in this record (not evaluated in SQL; the ses-sigma matcher does)') ELSE variant_get(record, '$.userIdentity.invokedBy', 'string') END AS `userIdentity.invokedBy`,
    CASE WHEN schema_of_variant(variant_get(record, '$.userIdentity')) LIKE 'ARRAY%' OR schema_of_variant(variant_get(record, '$.userIdentity.sessionContext')) LIKE 'ARRAY%' OR schema_of_variant(variant_get(record, '$.userIdentity.sessionContext.sessionIssuer')) LIKE 'ARRAY%' OR schema_of_variant(variant_get(record, '$.userIdentity.sessionContext.sessionIssuer.arn')) LIKE 'ARRAY%' OR schema_of_variant(variant_get(record, '$.userIdentity.sessionContext.sessionIssuer.arn')) LIKE 'OBJECT%' OR variant_get(record, '$["userIdentity.sessionContext"]') IS NOT NULL OR variant_get(record, '$["userIdentity.sessionContext.sessionIssuer"]') IS NOT NULL OR variant_get(record, '$["userIdentity.sessionContext.sessionIssuer.arn"]') IS NOT NULL OR variant_get(record, '$.userIdentity["sessionContext.sessionIssuer"]') IS NOT NULL OR variant_get(record, '$.userIdentity["sessionContext.sessionIssuer.arn"]') IS NOT NULL OR variant_get(record, '$.userIdentity.sessionContext["sessionIssuer.arn"]') IS NOT NULL THEN raise_error('ses-sigma: userIdentity.sessionContext.sessionIssuer.arn is an array, an object or under a dotted key in this record (not evaluated in SQL; the ses-sigma matcher does)') ELSE variant_get(record, '$.userIdentity.sessionContext.sessionIssuer.arn', 'string') END AS `userIdentity.sessionContext.sessionIssuer.arn`,
    CASE WHEN schema_of_variant(variant_get(record, '$.userIdentity')) LIKE 'ARRAY%' OR schema_of_variant(variant_get(record, '$.userIdentity.type')) LIKE 'ARRAY%' OR schema_of_variant(variant_get(record, '$.userIdentity.type')) LIKE 'OBJECT%' OR variant_get(record, '$["userIdentity.type"]') IS NOT NULL THEN raise_error('ses-sigma: userIdentity.type is an array, an object or under a dotted key in this record (not evaluated in SQL; the ses-sigma matcher does)') ELSE variant_get(record, '$.userIdentity.type', 'string') END AS `userIdentity.type`
  FROM cloudtrail
),
timed AS (
  SELECT *, min(`_time`) OVER () AS data_start
  FROM ct
  WHERE `_time` IS NOT NULL AND `_id` IS NOT NULL AND `_time` >= TIMESTAMP '2013-11-01 00:00:00' AND `_time` <= current_timestamp() + make_dt_interval(0, 0, 0, 86400) AND ((coalesce(lower(`eventSource`) = 'ses.amazonaws.com', false) AND (coalesce(lower(`eventName`) IN ('getaccount', 'getaccountsendingenabled', 'listidentities', 'listemailidentities', 'getsendquota', 'getidentityverificationattributes'), false)) OR coalesce(lower(`eventSource`) = 'servicequotas.amazonaws.com', false) AND coalesce(lower(`eventName`) = 'listservicequotas', false) AND coalesce(lower(`requestParameters.serviceCode`) = 'ses', false)) AND NOT (coalesce(lower(`sourceIPAddress`) LIKE '%.amazonaws.com' ESCAPE '!', false) OR coalesce(lower(`userIdentity.type`) = 'awsservice', false) OR coalesce(lower(`userIdentity.invokedBy`) LIKE '%.amazonaws.com' ESCAPE '!', false)))
),
matches AS (
  SELECT *, CASE WHEN `userIdentity.sessionContext.sessionIssuer.arn` IS NOT NULL THEN to_json(variant_get(record, '$.userIdentity.sessionContext.sessionIssuer.arn')) WHEN `userIdentity.arn` IS NOT NULL THEN to_json(variant_get(record, '$.userIdentity.arn')) END AS k0
  FROM timed
  WHERE coalesce(`userIdentity.sessionContext.sessionIssuer.arn`, `userIdentity.arn`) IS NOT NULL
),
seen AS (
  SELECT *, lag(`_time`) OVER (PARTITION BY k0 ORDER BY `_time`, `_id`) AS previous
  FROM matches
)
SELECT 'aws_ses_enumeration_new_principal' AS rule_name, `_time` AS time, array(`_id`) AS event_ids, map('sesPrincipal', coalesce(`userIdentity.sessionContext.sessionIssuer.arn`, `userIdentity.arn`)) AS group_values
FROM seen
WHERE (previous IS NULL OR unix_micros(`_time`) - unix_micros(previous) > 2592000000000)
  AND unix_micros(`_time`) - unix_micros(data_start) >= 604800000000
