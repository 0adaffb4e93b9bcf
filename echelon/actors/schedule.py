"""The driver's pure bookkeeping: the lag-bounded fragment pool, sizes and budgets (the curriculum
is echelon/curriculum.py).

No Ray here: every function is tested in-process.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Optional

from echelon.config import TrainConfig


@dataclass
class FragmentPool:
    """Fragments that arrived and wait for an update, with the policy-lag bound applied.

    Items are ``(version, payload)``; the lag of an item against learner version V is
    ``V - version``. :meth:`take` returns the freshest items, so under back-pressure the
    learner trains on the newest data and the oldest fall out of the bound and are dropped.
    """

    max_lag: int
    items: list = field(default_factory=list)
    dropped: int = 0
    _seq: int = 0

    def fresh(self, version: int, learner_version: int) -> bool:
        """Whether a fragment of ``version`` is within the lag bound against ``learner_version``."""
        return learner_version - version <= self.max_lag

    def add(self, version: int, payload: Any, learner_version: int) -> bool:
        """Keep the fragment unless already too stale; returns whether it was kept."""
        if not self.fresh(version, learner_version):
            self.dropped += 1
            return False
        self.items.append((version, self._seq, payload))
        self._seq += 1
        return True

    def prune(self, learner_version: int) -> int:
        """Drop items that became too stale; returns how many."""
        keep = [it for it in self.items if learner_version - it[0] <= self.max_lag]
        gone = len(self.items) - len(keep)
        self.items = keep
        self.dropped += gone
        return gone

    def take(self, n: int, learner_version: int) -> Optional[list[tuple[int, Any]]]:
        """``n`` freshest ``(version, payload)`` within the bound, oldest first, or None."""
        self.prune(learner_version)
        if len(self.items) < n:
            return None
        chosen = sorted(self.items, key=lambda it: (-it[0], it[1]))[:n]
        ids = {it[1] for it in chosen}
        self.items = [it for it in self.items if it[1] not in ids]
        return [(v, p) for v, _, p in sorted(chosen, key=lambda it: it[1])]

    def payloads(self) -> list[Any]:
        """The pooled payloads, arrival order."""
        return [p for _, _, p in self.items]

    def __len__(self) -> int:
        return len(self.items)


def resolve_num_workers(requested: int, cluster_cpus: float, cpus_per_worker: float) -> int:
    """``ray.num_workers``; 0 = auto: one per CPU left after the learner's, at least 1."""
    if requested > 0:
        return requested
    per = cpus_per_worker if cpus_per_worker > 0 else 1.0
    return max(1, int((cluster_cpus - 1) // per))


def steps_per_update(cfg: TrainConfig, fragments_per_update: int) -> int:
    """Env steps one update consumes: fragments x fragment_len x env copies per worker."""
    return fragments_per_update * cfg.rollout.fragment_len * cfg.rollout.num_envs


def updates_left(cfg: TrainConfig, fragments_per_update: int, env_steps_done: int) -> int:
    """Updates still needed to reach ``learner.total_env_steps`` from ``env_steps_done``.

    The stop target is the env-step budget, not an update count: a run resumed with another
    ``rollout.num_envs`` or fragment length keeps its budget.
    """
    left = cfg.learner.total_env_steps - env_steps_done
    return max(0, math.ceil(left / steps_per_update(cfg, fragments_per_update)))
