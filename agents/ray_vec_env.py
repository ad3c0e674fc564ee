"""The environments of one PPO run as Ray actors, behind stable-baselines3's ``VecEnv``.

``train_agent.py --vec-env ray --n-envs 32 --address auto`` puts each training environment in
its own Ray actor, on any node of the cluster, so a cluster's cores feed one learner.
:class:`RayVecEnv` speaks ``VecEnv`` exactly as ``SubprocVecEnv`` does (automatic reset at
the end of an episode with ``terminal_observation`` in the info, seeds and options used once),
so ``VecMonitor``, ``VecNormalize`` and sb3-contrib's MaskablePPO see no difference: the action
masks come through :meth:`env_method` (``env_method("action_masks")``). Ray is imported only
when one is built (:mod:`agents.distributed`).

An actor that dies ends the run with Ray's error; under a sweep (``agents.sweep``) the trial is
retried and resumes from the run folder's newest checkpoint.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from stable_baselines3.common.vec_env.base_vec_env import (
    VecEnv,
    VecEnvIndices,
    VecEnvObs,
    VecEnvStepReturn,
)

from agents.distributed import available_cpus, connect


class EnvActor:
    """One environment in a Ray actor; the commands of SB3's ``SubprocVecEnv`` worker."""

    def __init__(self, build: Callable[[], gym.Env]) -> None:
        self.env = build()

    def spaces(self) -> tuple[gym.Space, gym.Space]:
        return self.env.observation_space, self.env.action_space

    def step(self, action: np.ndarray) -> tuple[Any, float, bool, dict[str, Any], dict[str, Any]]:
        observation, reward, terminated, truncated, info = self.env.step(action)
        done = terminated or truncated
        info["TimeLimit.truncated"] = truncated and not terminated
        reset_info: dict[str, Any] = {}
        if done:
            info["terminal_observation"] = observation
            observation, reset_info = self.env.reset()
        return observation, reward, done, info, reset_info

    def reset(self, seed: int | None, options: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
        return self.env.reset(seed=seed, **({"options": options} if options else {}))

    def get_attr(self, name: str) -> Any:
        return self.env.get_wrapper_attr(name)

    def has_attr(self, name: str) -> bool:
        try:
            self.env.get_wrapper_attr(name)
        except AttributeError:
            return False
        return True

    def set_attr(self, name: str, value: Any) -> None:
        setattr(self.env, name, value)

    def call(self, name: str, args: tuple, kwargs: dict[str, Any]) -> Any:
        return self.env.get_wrapper_attr(name)(*args, **kwargs)

    def is_wrapped(self, wrapper_class: type[gym.Wrapper]) -> bool:
        from stable_baselines3.common.env_util import is_wrapped

        return is_wrapped(self.env, wrapper_class)

    def render(self) -> Any:
        return self.env.render()

    def close(self) -> None:
        self.env.close()


class RayVecEnv(VecEnv):
    """``len(env_fns)`` environments, each in a Ray actor with ``cpus_per_env`` CPUs.

    Args:
        env_fns: builders of the environments (picklable: they run in the actors' processes).
        address: the Ray cluster (``auto``, ``HOST:PORT``); None: ``RAY_ADDRESS`` or a local Ray.
        cpus_per_env: CPUs Ray reserves for each actor (fractions let more environments than
            cores share a machine).
    """

    def __init__(
        self,
        env_fns: Sequence[Callable[[], gym.Env]],
        address: str | None = None,
        cpus_per_env: float = 1.0,
    ) -> None:
        if cpus_per_env <= 0:
            raise ValueError(f"--ray-cpus-per-env must be > 0, got {cpus_per_env}")
        ray = connect(address, option="--vec-env ray")
        needed, have = cpus_per_env * len(env_fns), available_cpus(ray)
        if needed > have:
            # Ray would queue the actors that do not fit and the run would wait forever.
            raise ValueError(
                f"--vec-env ray: {len(env_fns)} environments x {cpus_per_env:g} CPU need "
                f"{needed:g} CPUs, the Ray cluster has {have:g}: pass fewer --n-envs or a "
                "smaller --ray-cpus-per-env"
            )
        self._ray = ray
        actor = ray.remote(num_cpus=cpus_per_env)(EnvActor)
        self.actors = [actor.remote(build) for build in env_fns]
        observation_space, action_space = ray.get(self.actors[0].spaces.remote())
        self._pending: list[Any] | None = None
        self.closed = False
        super().__init__(len(env_fns), observation_space, action_space)

    def _call(self, method: str, *args: Any, indices: VecEnvIndices = None) -> list[Any]:
        targets = [self.actors[i] for i in self._get_indices(indices)]
        return self._ray.get([getattr(actor, method).remote(*args) for actor in targets])

    def step_async(self, actions: np.ndarray) -> None:
        self._pending = [
            actor.step.remote(action) for actor, action in zip(self.actors, actions, strict=True)
        ]

    def step_wait(self) -> VecEnvStepReturn:
        results = self._ray.get(self._pending)
        self._pending = None
        observations, rewards, dones, infos, self.reset_infos = zip(*results, strict=True)
        return np.stack(observations), np.stack(rewards), np.stack(dones), list(infos)

    def reset(self) -> VecEnvObs:
        results = self._ray.get(
            [
                actor.reset.remote(self._seeds[i], self._options[i])
                for i, actor in enumerate(self.actors)
            ]
        )
        observations, self.reset_infos = zip(*results, strict=True)
        self._reset_seeds()
        self._reset_options()
        return np.stack(observations)

    def close(self) -> None:
        if self.closed:
            return
        if self._pending is not None:
            self._ray.get(self._pending)
        self._ray.get([actor.close.remote() for actor in self.actors])
        for actor in self.actors:
            self._ray.kill(actor)
        self.closed = True

    def get_images(self) -> Sequence[np.ndarray | None]:
        return self._call("render")

    def has_attr(self, attr_name: str) -> bool:
        return all(self._call("has_attr", attr_name))

    def get_attr(self, attr_name: str, indices: VecEnvIndices = None) -> list[Any]:
        return self._call("get_attr", attr_name, indices=indices)

    def set_attr(self, attr_name: str, value: Any, indices: VecEnvIndices = None) -> None:
        self._call("set_attr", attr_name, value, indices=indices)

    def env_method(
        self,
        method_name: str,
        *method_args: Any,
        indices: VecEnvIndices = None,
        **method_kwargs: Any,
    ) -> list[Any]:
        return self._call("call", method_name, method_args, method_kwargs, indices=indices)

    def env_is_wrapped(
        self, wrapper_class: type[gym.Wrapper], indices: VecEnvIndices = None
    ) -> list[bool]:
        return self._call("is_wrapped", wrapper_class, indices=indices)
