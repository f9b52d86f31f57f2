"""Benchmarks importable by the CLI (`ecn bench ...`); thin scripts in benchmarks/ call these."""
