"""Ray for the toolkit: joining a cluster, and running evaluation episodes as Ray tasks.

Nothing imports this module unless asked (``evaluate.py --workers N``, ``train_agent.py
--vec-env ray``, ``python -m agents.sweep``, ``policy_quality.py --workers/--ray``), and it
imports Ray only inside its functions, so without Ray installed those options end in one line
that names the fix (``pip install -e '.[ray]'``). README, "Running on Ray (a cluster)".

Episodes on Ray give exactly the serial numbers (``tests/test_ray.py`` compares them): every
episode is a pure function of its environment's keyword arguments, its policy, its seed and
its chip (the environment's caches never change a number, ``hybrid.simulator``), and each
task starts from a pristine copy of the policy that is brought to the state the serial loop
would have reached. A task whose worker dies is retried by Ray (``EPISODE_RETRIES``), and its
record is stored under the episode's position, so none is lost or counted twice.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING, Any

from agents.base import Policy
from agents.evaluation import EpisodeRecord, run_episode

if TYPE_CHECKING:
    from agents.results import Weighting

INSTALL_HINT = "pip install -e '.[ray]'"
LOCAL_OBJECT_STORE_BYTES = 256 * 1024**2
"""Object store of a local Ray instance. Ray's default is 30% of the memory, far more than these
jobs ship (an agent is ~100 kB, an episode record ~30 kB), and too much on a shared small
machine."""
EPISODE_RETRIES = 3
"""How often Ray re-runs an episode whose worker process died (Ray's default for tasks)."""


def require_ray(option: str) -> ModuleType:
    """The ``ray`` module, or a one-line ValueError saying that ``option`` needs it installed."""
    try:
        import ray
    except ImportError:
        raise ValueError(f"{option} needs Ray: install it with {INSTALL_HINT}") from None
    return ray


def connect(
    address: str | None = None, num_cpus: int | None = None, option: str = "--workers"
) -> ModuleType:
    """Join the Ray cluster at ``address`` (``auto``, ``HOST:PORT`` or ``ray://HOST:10001``; or
    the ``RAY_ADDRESS`` variable), or start a local Ray with ``num_cpus`` CPUs (default: all)
    and a fixed object store. Already connected: nothing changes. Returns the ``ray`` module."""
    ray = require_ray(option)
    if ray.is_initialized():
        return ray
    address = address or os.environ.get("RAY_ADDRESS") or None
    try:
        if address:
            ray.init(address=address, log_to_driver=False)
        else:
            # Ray's memory monitor kills Ray workers when the whole machine is short of memory,
            # whoever uses it: on a shared machine it killed sweep trials for other users' jobs
            # (and Tune 2.60 then aborts the sweep). The kernel's OOM killer still guards.
            os.environ.setdefault("RAY_memory_monitor_refresh_ms", "0")
            ray.init(
                num_cpus=num_cpus,
                object_store_memory=LOCAL_OBJECT_STORE_BYTES,
                include_dashboard=False,
                log_to_driver=False,
            )
    except ConnectionError as error:
        first = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise ValueError(
            f"--address {address}: no Ray cluster there ({first}); start one with "
            "`ray start --head` or leave --address out for a local Ray"
        ) from None
    return ray


def available_cpus(ray: ModuleType) -> float:
    """CPUs the connected Ray cluster has in all."""
    return float(ray.cluster_resources().get("CPU", 0.0))


# -- episodes as tasks ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Episode:
    """One episode to run anywhere: the environment, the policy, the seed and chip, and the
    episode's position among that policy's episodes in the serial loop.

    Attributes:
        env_kwargs: ``gymnasium.make("HybridPartition-v0", **env_kwargs)`` builds the
            environment (e.g. a run folder's ``config.json`` "env" plus overrides).
        policy: a pristine policy, never bound or run (each task runs a copy of it).
        seed: the seed of ``env.reset``.
        chip: the chip the episode runs on.
        index: how many episodes the serial loop ran with the same policy object before this
            one (``RandomPolicy`` reseeds from its episode counter).
    """

    env_kwargs: dict[str, Any]
    policy: Policy
    seed: int
    chip: int
    index: int


def policy_episodes(
    env_kwargs: dict[str, Any],
    policies: dict[str, Policy],
    seeds: Sequence[int],
    chips: Sequence[int],
) -> list[Episode]:
    """The episodes of the serial loop ``for each policy: for each (seed, chip): run``."""
    return [
        Episode(env_kwargs, policy, int(seed), int(chip), index)
        for policy in policies.values()
        for index, (seed, chip) in enumerate(zip(seeds, chips, strict=True))
    ]


def run_policies(
    env: Any,
    policies: dict[str, Policy],
    seeds: Sequence[int],
    chips: Sequence[int],
    workers: int,
    address: str | None = None,
) -> dict[str, list[EpisodeRecord]]:
    """Every policy on every (seed, chip) of ``env`` (made by ``gymnasium.make``, whose keyword
    arguments the tasks rebuild it from) as Ray tasks: records by policy name, equal to
    ``{name: [run_episode(env, policy, seed, chip) ...]}`` run in this process."""
    records = run_episodes(
        policy_episodes(env_kwargs_of(env), policies, seeds, chips), workers, address
    )
    n = len(seeds)
    return {name: records[i * n : (i + 1) * n] for i, name in enumerate(policies)}


def env_kwargs_of(env: Any) -> dict[str, Any]:
    """The keyword arguments ``gymnasium.make`` built ``env`` with (a one-line error for an
    environment built otherwise: a task could not rebuild it)."""
    spec = getattr(env, "spec", None)
    if spec is None:
        raise ValueError("episodes on Ray need an environment made by gymnasium.make(...)")
    kwargs = dict(spec.kwargs)
    if "deployment" in kwargs:
        raise ValueError(
            "episodes on Ray rebuild the environment: make it from options, not deployment="
        )
    return kwargs


_WORKER_ENVS: dict[str, Any] = {}
"""Environments built in this process, by their keyword arguments: a Ray worker runs many
episodes of the same environment, and building one (model, data, caches) costs seconds."""


def worker_env(env_kwargs: dict[str, Any]) -> Any:
    """This process's environment for ``env_kwargs`` (built on first use, then reused)."""
    key = json.dumps(env_kwargs, sort_keys=True, default=str)
    if key not in _WORKER_ENVS:
        import gymnasium as gym

        import envs  # registers HybridPartition-v0 in this process (Ray workers start empty)

        _WORKER_ENVS[key] = gym.make(envs.ENV_ID, **env_kwargs)
    return _WORKER_ENVS[key]


def run_task(env_kwargs: dict[str, Any], policy: Policy, seed: int, chip: int, index: int):
    """One episode in this process: ``policy`` must be a private, pristine copy (a Ray task gets
    one by deserialising it). It is bound, then reset ``index`` times, which is where the serial
    loop's policy stood before this episode: a policy's state carries from one episode to the
    next only through :meth:`Policy.reset` (the random policy's episode counter)."""
    env = worker_env(env_kwargs)
    policy.bind(env)
    for _ in range(index):
        policy.reset()
    return run_episode(env, policy, seed, chip)


def run_episodes(
    episodes: Sequence[Episode],
    workers: int,
    address: str | None = None,
    on_done: Callable[[Episode], None] | None = None,
) -> list[EpisodeRecord]:
    """Run ``episodes`` as Ray tasks, at most ``workers`` at a time (one CPU each), on the
    cluster at ``address`` or a local Ray with ``workers`` CPUs; the records in the order of
    ``episodes``, equal to the serial loop's. ``on_done`` is called as each one finishes."""
    if workers < 1:
        raise ValueError(
            f"--workers must be >= 1 to run on Ray (0 runs in this process), got {workers}"
        )
    ray = connect(address, num_cpus=workers)
    remote = ray.remote(num_cpus=1, max_retries=EPISODE_RETRIES)(run_task)
    # Each environment and policy goes to the object store once, whatever its episode count.
    shared: dict[int, Any] = {}

    def stored(value: Any) -> Any:
        if id(value) not in shared:
            shared[id(value)] = ray.put(value)
        return shared[id(value)]

    records: list[EpisodeRecord | None] = [None] * len(episodes)
    pending: dict[Any, int] = {}
    queue = iter(enumerate(episodes))
    # A window of `workers` tasks in flight: on a cluster, --workers says how many CPUs to use.
    while True:
        while len(pending) < workers:
            position, episode = next(queue, (None, None))
            if episode is None:
                break
            ref = remote.remote(
                stored(episode.env_kwargs),
                stored(episode.policy),
                episode.seed,
                episode.chip,
                episode.index,
            )
            pending[ref] = position
        if not pending:
            break
        done, _ = ray.wait(list(pending), num_returns=1)
        for ref in done:
            position = pending.pop(ref)
            records[position] = ray.get(ref)
            if on_done is not None:
                on_done(episodes[position])
    return records  # type: ignore[return-value]


def run_weightings(
    weightings: Sequence[Weighting],
    seeds: Sequence[int],
    workers: int,
    address: str | None,
    progress: Any,
) -> list[Any]:
    """``agents.comparison.run_weighting`` for every weighting at once, its episodes as Ray
    tasks: fills each weighting's records and returns its environment (built here too, for
    the summary's layer names and energy floor)."""
    from agents.base import make_policy
    from agents.run_folder import make_env_from_config
    from envs.chips import episode_chips

    environments, episodes, owners = [], [], []
    for weighting in weightings:
        env = make_env_from_config({"env": weighting.env_kwargs})
        unwrapped = env.unwrapped
        chips = episode_chips(unwrapped.chip_offset, unwrapped.chip_pool, seeds[0], len(seeds))
        policies = {
            name: make_policy(name, path=weighting.model, shield=weighting.shield)
            if name == "ppo"
            else make_policy(name, **weighting.heuristic_params.get(name, {}))
            for name in weighting.policies
        }
        for name, policy in policies.items():
            episodes += policy_episodes(weighting.env_kwargs, {name: policy}, seeds, chips)
            owners += [(weighting, name)] * len(seeds)
        environments.append(env)
    progress.set_description(f"ray, {workers} workers")
    records = run_episodes(episodes, workers, address, on_done=lambda _: progress.update())
    for (weighting, name), record in zip(owners, records, strict=True):
        weighting.records.setdefault(name, []).append(record)
    return environments
