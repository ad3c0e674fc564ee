"""Heuristic policies (placeholder until written)."""
