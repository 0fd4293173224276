"""Adapters between the pure core and AWS: Config (evaluations, history) and EC2 (groups, lists)."""
