"""Specification tests: small input tables and the verdicts the rules must give,
each citing the published source its numbers come from."""
