"""The analog-digital hybrid model: layers that switch substrate, the multi-task network, the
AIHWKit hardware presets, the energy model, datasets, pretraining and cached evaluation.

This package knows nothing of reinforcement learning.
"""
