"""The Gymnasium partitioning environment (filled by the environment issue)."""
