"""Benchmarks that measure the service against its goals and print ratios from one run."""
