"""Worked examples that the command lines can name by import path (run them from the repository
root, where ``examples`` is importable): ``examples.three_tasks:build``."""
