"""End-to-end tests: real `portico run` processes, real sockets.

A package, so its test modules may share a name with one in tests/chart.
"""
