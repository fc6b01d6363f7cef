"""Load harness, proxy comparisons and their recorded results (see benchmarks/README.md)."""
