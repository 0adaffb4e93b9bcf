"""LearnerActor: the Ray shell around :class:`~echelon.ppo.learner.Learner`.

Asks for one GPU when the cluster has one and ``learner.device`` allows it (see
:func:`learner_resources`). After every update it publishes the new weights once with
``ray.put`` and returns the ObjectRef, so N workers fetch one object instead of the driver
sending N copies.
"""

from __future__ import annotations

from typing import Any, Optional

import ray

from echelon.checkpoint import capture_rng_state, restore_rng_state
from echelon.config import TrainConfig


def learner_resources(cfg: TrainConfig, cluster_gpus: float) -> dict[str, Any]:
    """Ray actor options for the learner: ``{"num_cpus": 1, "num_gpus": 0 or 1}``, plus
    ``"resources": {learner.resource: 1}`` when the config names a custom resource.

    ``device: auto`` takes a GPU when the cluster has one; ``cuda`` insists (Ray then waits
    for one, e.g. from the autoscaler); ``cpu`` never asks. A named resource is always asked
    for: it pins the learner to the node(s) advertising it.
    """
    device = cfg.learner.device
    wants_gpu = device == "cuda" or (device == "auto" and cluster_gpus >= 1)
    res: dict[str, Any] = {"num_cpus": 1, "num_gpus": 1 if wants_gpu else 0}
    if cfg.learner.resource:
        res["resources"] = {cfg.learner.resource: 1}
    return res


class LearnerActor:
    """Plain class; ``ray.remote(LearnerActor)`` is the actor."""

    def __init__(self, cfg: TrainConfig, obs_space: Any, action_space: Any) -> None:
        import torch

        from echelon.ppo.learner import Learner

        # Ray sets OMP_NUM_THREADS to the actor's num_cpus; torch's pool follows the core count
        # unless told, which oversubscribes a machine shared with rollout workers.
        torch.set_num_threads(max(1, int(ray.get_runtime_context().get_assigned_resources().get("CPU", 1))))
        self.cfg = cfg
        self.learner = Learner(cfg, obs_space, action_space)
        self._published: tuple[int, Any] | None = None

    def update(self, *fragments: Any) -> tuple[dict[str, float], int, list]:
        """One PPO update over ``fragments`` (Ray resolves the refs passed as arguments).

        Returns ``(stats, version, [weights_ref])``: stats include the learner's losses plus
        ``lag_max`` / ``lag_mean`` measured from the fragments' own version stamps (the
        source of truth for the policy-lag bound), sizes and the update's wall time.
        """
        # Imported here, as in __init__, so importing this module (the driver does) pulls in no torch.
        from echelon.ppo.learner import measured_update

        stats = measured_update(self.learner, list(fragments))
        version, ref = self.publish()
        return stats, version, [ref]

    def publish(self) -> tuple[int, list]:
        """``(version, ref)`` of the current weights; one ``ray.put`` per version."""
        if self._published is None or self._published[0] != self.learner.version:
            version, state = self.learner.get_weights()
            self._published = (version, ray.put(state))
        return self._published

    def weights(self) -> tuple[int, list]:
        """``(version, [ref])``: the ref wrapped so Ray hands the caller the ref, not the dict."""
        version, ref = self.publish()
        return version, [ref]

    def state_dict(self) -> tuple[dict, dict]:
        """``(Learner.state_dict(), this process's RNG states)`` for the checkpoint payload."""
        return self.learner.state_dict(), capture_rng_state()

    def load_state_dict(self, learner_state: dict, rng: Optional[dict] = None) -> int:
        """Restore a checkpoint's learner state (and RNGs when it has them); returns the version."""
        self.learner.load_state_dict(learner_state)
        if rng is not None:
            restore_rng_state(rng)
        self._published = None
        return self.learner.version

    def device(self) -> str:
        return str(getattr(self.learner, "device", "cpu"))

    def peak_memory_mb(self) -> dict[str, float]:
        """Peak memory of this process: ``rss`` (host, MiB) and ``cuda`` (allocated on the GPU, MiB; 0 on CPU)."""
        import resource

        import torch

        cuda = torch.cuda.max_memory_allocated() / 2**20 if torch.cuda.is_available() else 0.0
        # ru_maxrss is in KiB on Linux.
        return {"rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "cuda": cuda}

    def node_id(self) -> str:
        """Ray node this learner runs on (the driver reports the placement)."""
        return ray.get_runtime_context().get_node_id()
