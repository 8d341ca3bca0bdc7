"""Sigma evaluation over CloudTrail records: detections, correlations and first-seen rules."""
