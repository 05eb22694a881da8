"""Command-line tools around the service: smoke tests, helpers for CI."""
