"""The observation of the training-time environment, feature by feature.

Built and read by name with ``envs.observation.ObservationLayout`` exactly like the deployment
environment's: ``layout.view(observation)["noise"]``. Only the features differ; they are listed
once here, and the environment's docstring table is ``envs.observation.describe(FEATURES)``.
"""

from __future__ import annotations

from envs.observation import Feature, ObservationLayout

FEATURES: tuple[Feature, ...] = (
    Feature("is_analog", "layer", "1 if it trained analog in the last step, else 0", 0.0, 1.0),
    Feature("analog_time", "layer", "fraction of the episode's steps it trained analog", 0, 1),
    Feature("noise", "layer", "measured relative output error of its tile (current weights)"),
    Feature("sensitivity", "layer", "excess monitor loss with only it analog (nats)"),
    Feature("gradient_norm", "layer", "mean norm(gradient) / norm(weight), last step"),
    Feature("weight_change", "layer", "100 norm(W_after - W_before) / norm(W_before)"),
    Feature("digital_energy_share", "layer", "its digital inference energy / all-digital", 0, 1),
    Feature("analog_energy_share", "layer", "its analog inference energy / all-digital"),
    Feature("training_digital_share", "layer", "its digital training energy / all-digital", 0, 1),
    Feature("training_analog_share", "layer", "its analog training energy / all-digital"),
    Feature("train_loss", "task", "mean training cross-entropy of the last step (nats)"),
    Feature("val_loss", "task", "monitor cross-entropy, network digital (nats)"),
    Feature("deployed_loss", "task", "monitor loss, last placement on its tiles (nats)"),
    Feature("training_energy", "global", "training energy spent / all-digital run's"),
    Feature("energy_ratio", "global", "inference energy of the last placement / all-digital"),
    Feature("steps_left", "global", "fraction of the episode's steps to come", 0.0, 1.0),
    Feature("analog_fraction", "global", "fraction of the layers trained analog", 0.0, 1.0),
)
"""Every feature, in the order of the vector within its scope."""


def training_layout(n_layers: int, n_tasks: int) -> ObservationLayout:
    """The observation layout of a training run with ``n_layers`` layers and ``n_tasks`` tasks.

    >>> training_layout(6, 2).size
    70
    """
    return ObservationLayout(n_layers, n_tasks, FEATURES)
