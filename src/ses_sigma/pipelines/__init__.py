"""pySigma processing pipelines for CloudTrail in Splunk and Elastic."""
