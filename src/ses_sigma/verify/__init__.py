"""Offline proof tooling for the Elastic conversions.

Tests use these modules to *execute* what the compiler emits for Elastic, instead of only
comparing query strings:

- :mod:`ses_sigma.verify.ecs`: raw CloudTrail record -> the document the Elastic AWS
  integration's ingest pipeline would index (``to_ecs``);
- :mod:`ses_sigma.verify.mapping`: the field types of that data stream (keyword, flattened,
  boolean, ip, date, text) and the fields this emulation does not produce;
- :mod:`ses_sigma.verify.lucene_eval`: a Lucene ``query_string`` evaluator over such documents,
  built on luqum, with Elasticsearch's semantics for those field types;
- :mod:`ses_sigma.verify.lucene_patterns`: Lucene's wildcard and regular expression dialects, in
  Python's ``re`` (shared by the Lucene evaluator and the EQL runner);
- :mod:`ses_sigma.verify.java`: how Java prints the values the ingest pipeline stores
  (``HashMap`` order, ``Double.toString``);
- :mod:`ses_sigma.verify.eql_run`: Elasticsearch EQL over such documents with the ``eql``
  library's ``PythonEngine``, with Elasticsearch's case sensitivity, wildcard, regex, array and
  join-key rules put back where the library differs.

Everything here raises an error naming the construct when it cannot reproduce Elasticsearch
faithfully; nothing silently evaluates to "no match".
"""
