"""ses-sigma: a Sigma detection pack for Amazon SES abuse in AWS CloudTrail.

Data flows one way:
    logs -> records -> matcher -> alerts          (scan, fixture harness)
    rules -> pySigma -> pipelines -> backends     (convert)
"""

__version__ = "0.1.0"
