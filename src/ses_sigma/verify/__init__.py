"""The proof engines: each conversion target's output executed on an engine, offline.

Kept apart from the conversion code (``ses_sigma.convert``); ``ses-sigma test --target T``
(:mod:`ses_sigma.verify.proof`) runs every fixture case through the converted rules on T's
engine and compares the alerts with the matcher's.

- Lucene: :mod:`~ses_sigma.verify.lucene` (Apache Lucene's classic QueryParser and an in-memory
  index; ``lucene_jvm`` loads the Debian package's jars with JPype; ``lucene_es`` holds the
  Elasticsearch-only parts: ``_exists_``, negative groups, ip/boolean fields, refusals);
- EQL: :mod:`~ses_sigma.verify.eql_run` / ``eql_syntax`` (Elastic's ``eql`` PythonEngine with
  Elasticsearch's semantics put back; ``lucene_patterns`` holds Lucene's wildcard and regex
  dialects in Python's ``re`` for it);
- Spark SQL: :mod:`~ses_sigma.verify.proof_spark` on a session of
  :mod:`~ses_sigma.verify.spark_session` (Apache Spark itself);
- SPL: :mod:`~ses_sigma.verify.splunk_sim` / ``splunk_search`` / ``splunk_eval``, a simulator of
  the SPL commands the splunk target emits (not Splunk);
- the documents Elastic would index: :mod:`~ses_sigma.verify.ecs` (the AWS integration's ingest
  pipeline replayed), :mod:`~ses_sigma.verify.mapping` (its field types),
  :mod:`~ses_sigma.verify.java` (how Java prints the values it stores).

Everything here raises an error naming the construct when it cannot reproduce the engine
faithfully; nothing silently evaluates to "no match".
"""
