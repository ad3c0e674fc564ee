"""Partitioning policies: PPO and the heuristics (filled by the agents issue)."""
