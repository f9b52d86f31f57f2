"""Benchmarks behind `ecn bench ...` (the one way to run them; benchmarks/ holds only studies the
CLI does not run: denormals, the neighbour cap, precision, the ECN step profile).

Results are written with ``ecn.io.write_json`` (atomic, NaN as null).
"""
