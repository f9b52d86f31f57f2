"""Benchmarks importable by the CLI (`ecn bench ...`); thin scripts in benchmarks/ call these.

Results are written with ``ecn.io.write_json`` (atomic, NaN as null).
"""
