"""Pieces of the benchmark rig: processes, load generators, results, reports."""
