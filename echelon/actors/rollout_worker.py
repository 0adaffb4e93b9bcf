"""RolloutWorker: the Ray shell around a :class:`~echelon.ppo.rollout.RolloutCollector`.

One worker owns one vector env of ``rollout.num_envs`` copies (Echelon matches), a CPU copy of
the policy and its LSTM states (the collector carries them across ``sample`` calls). It samples
fixed-length fragments stamped with the policy version it holds, and sends, per fragment, the
compact records of the episodes that finished in it and one small action sample
(``metrics.action_sample_values`` values at most) straight to the metrics actor without waiting
(fire-and-forget), so they never travel through the driver.
"""

from __future__ import annotations

import time
import traceback
import uuid
import warnings
from typing import Any, NamedTuple, Optional

import numpy as np
import ray

from echelon.config import TrainConfig
from echelon.curriculum import match_result
from echelon.league.arena import match_results as arena_matches
from echelon.metrics.episodes import EpisodeReporter, episode_winner
from echelon.metrics.receipts import RECEIPT_FRAMES


class FragmentHeader(NamedTuple):
    """What a worker says about a fragment, read by the driver without the arrays."""

    worker: int
    incarnation: str  # the worker process that sampled it (new after a restart)
    node: Optional[str]  # Ray node id the fragment is stored on
    version: int  # policy version it was sampled with; -1: the worker had no weights (no fragment)
    env_steps: int
    agent_steps: int
    episodes: int
    sample_s: float  # seconds inside the collector
    seed: int = 0  # env seed of the worker's current env
    error: Optional[str] = None  # traceback when sampling raised (the worker rebuilt its env; no fragment)
    env_step_s: float = 0.0  # of sample_s: seconds in env.step
    inference_s: float = 0.0  # of sample_s: seconds in policy inference
    sent_at: float = 0.0  # wall-clock time (epoch s) the worker handed the fragment to Ray
    received_at: float = 0.0  # wall-clock time the driver took it (set by the driver's WorkerSet)
    # Arena training: (opponent id, opponent kind, score for blue) per match that ended in the fragment.
    matches: tuple = ()
    # Blue's results (curriculum.WIN/DRAW/LOSS) of the matches that ended in the fragment, oldest
    # first, and the curriculum tag (stage) the worker was last sent (-1: none); the driver's
    # curriculum counts them toward that stage's win rate.
    outcomes: tuple = ()
    curriculum_tag: int = -1



def worker_seed(base_seed: int, worker_index: int, start_update: int, reconstructed: bool = False) -> int:
    """Env seed of one worker: distinct per worker and per (re)start point.

    ``start_update`` (the update the run resumed from) keeps a resumed run from replaying the
    episodes it already saw; a worker rebuilt by Ray after a crash mixes in the clock for the
    same reason (the run is no longer bit-reproducible past a failure anyway).
    """
    entropy = [base_seed, worker_index, start_update]
    if reconstructed:
        entropy.append(time.time_ns() % (2**32))
    return int(np.random.SeedSequence(entropy).generate_state(1)[0])


def match_results(episodes: list) -> tuple:
    """Blue's result (WIN/DRAW/LOSS of echelon.curriculum) of each episode that reports a winner."""
    results = (match_result(episode_winner(ep)) for ep in episodes)
    return tuple(r for r in results if r is not None)


def build_collector(cfg: TrainConfig, num_envs: int, seed: int) -> Any:
    """Vector env + CPU policy + collector, as the serial loop builds them."""
    import torch

    from echelon.env.adapters import make_vector_env
    from echelon.league.arena import arena_config, attach_arena
    from echelon.model.actor_critic import build_policy
    from echelon.ppo.rollout import RolloutCollector

    # The collector samples actions from torch's global generator; one per worker process.
    torch.manual_seed(seed)
    cfg = arena_config(cfg)  # with a league, red rows are policy rows too (league opponents drive them)
    env = make_vector_env(cfg, num_envs, seed)
    policy = build_policy(cfg, env.single_observation_space, env.single_action_space)
    return attach_arena(RolloutCollector(cfg, env, policy, seed=seed), cfg, seed)


class RolloutWorker:
    """Plain class; ``ray.remote(RolloutWorker)`` is the actor (see the orchestrator).

    Args:
        cfg: the run config.
        worker_index: 0-based index (seeds, logs).
        start_update: update counter the run (re)started from (seeds).
        metrics_name: name of the metrics actor (looked up here; passing the handle itself would
            put it in the object store, where Ray cannot promise it for actor restarts), or None.
    """

    def __init__(self, cfg: TrainConfig, worker_index: int, start_update: int = 0, metrics_name: Optional[str] = None):
        torch_threads(1)
        reconstructed = False
        if ray.is_initialized():
            with warnings.catch_warnings():
                # Ray's own property trips its internal deprecation of actor_id; not ours to fix.
                warnings.simplefilter("ignore", DeprecationWarning)
                reconstructed = ray.get_runtime_context().was_current_actor_reconstructed
        self.worker_index = worker_index
        self.cfg = cfg
        self.start_update = start_update
        self.seed = worker_seed(cfg.seed, worker_index, start_update, reconstructed)
        self.collector = build_collector(cfg, cfg.rollout.num_envs, self.seed)
        self._keep_frames()
        self.samples = 0  # sample calls (the tests-only failure switch counts them)
        self._failed_frames: list = []
        self.metrics = ray.get_actor(metrics_name) if metrics_name else None
        self.reporter = EpisodeReporter(cfg, self.seed)
        self.reporter.attach(self.collector)
        self.version = -1  # no weights yet
        self._curriculum: dict = {}
        self.curriculum_tag = -1
        # Names this process: a header from a new incarnation tells the driver that Ray restarted
        # the actor, even when the restart made none of the driver's calls fail.
        self.incarnation = uuid.uuid4().hex

    def spaces(self) -> tuple[Any, Any]:
        """(single_observation_space, single_action_space) of one row."""
        env = self.collector.env
        return env.single_observation_space, env.single_action_space

    def set_weights(self, version: int, state_dict: dict) -> int:
        """Load policy weights of ``version`` (Ray resolves the driver's ObjectRef argument)."""
        self.collector.set_weights(version, state_dict)
        self.version = int(version)
        return self.version

    def set_curriculum(self, params: dict, tag: int = -1) -> dict:
        """Apply a curriculum stage's ``params`` to every match (echelon/curriculum.py): forwarded to
        ``env.set_curriculum(**params)`` when the env has it (ranges take effect at each match's next
        reset, the fire probability from the next step). An env without it takes the fire
        probability alone (``set_heuristic_weapon_fire_prob``); asking it for a size or packs range
        raises. ``tag`` (the stage) is stamped on the fragments from now on. Returns :meth:`get_curriculum`.
        """
        env = self.collector.env
        params = dict(params)
        setter = getattr(env, "set_curriculum", None)
        if setter is not None:
            setter(**params)
        else:
            ranges = [k for k in ("size_range", "packs_range") if params.get(k) is not None]
            if ranges:
                raise TypeError(f"{type(env).__name__} has no set_curriculum to apply {' and '.join(ranges)} with")
            fire = getattr(env, "set_heuristic_weapon_fire_prob", None)
            if fire is None:
                raise TypeError(f"{type(env).__name__} has no heuristic to apply a curriculum to")
            if params.get("weapon_fire_prob") is not None:
                fire(float(params["weapon_fire_prob"]))
        self._curriculum, self.curriculum_tag = params, int(tag)
        return self.get_curriculum()

    def get_curriculum(self) -> dict:
        """The curriculum parameters the env runs with: ``env.get_curriculum()`` when it has one,
        else those last set here ({} before any)."""
        getter = getattr(self.collector.env, "get_curriculum", None)
        return dict(getter()) if getter is not None else dict(self._curriculum)

    def set_league(self, league: Any) -> int:
        """Arena training: the opponent set to draw from (a :class:`~echelon.league.arena.LeagueSet`;
        Ray resolves the driver's ref). Returns its version."""
        self.collector.opponents.set_league(league)
        return int(league.version)

    def arena_report(self) -> Optional[dict]:
        """Arena training: per-copy opponents and weight fetches (``Arena.report``); None without a league."""
        arena = self.collector.opponents
        return arena.report() if arena is not None else None

    def sample(self, teacher: bool = True) -> tuple[FragmentHeader, Any]:
        """One fragment ``[T, R, ...]`` and a small header the driver reads without the arrays.

        ``teacher``: whether to record the teacher's actions (``ppo.bc_coef``; the driver stops
        asking once the imitation weight has decayed to 0; see ``RolloutCollector.sample``).

        Called with ``num_returns=2``: the driver reads the header (version, sizes, the node the
        fragment was stored on, this process's incarnation) and takes ownership of the fragment as
        it arrives (see ``Orchestrator._on_fragment``). Before any ``set_weights`` the fragment is
        None and the header's version -1.
        """
        if self.version < 0:
            # A fresh incarnation (Ray restarted the actor) that has not been sent weights:
            # sampling now would stamp the initial random policy as a real version. Say so instead.
            return self._header(version=-1, env_steps=0, agent_steps=0, episodes=0, sample_s=0.0), None
        t0 = time.perf_counter()
        self.samples += 1
        try:
            if self.cfg.rollout.debug_fail_sample == self.samples:
                raise RuntimeError("rollout.debug_fail_sample: this sample fails on purpose (tests only)")
            frag = self.collector.sample(teacher=teacher)
        except Exception:  # an env or policy failure of any kind: report it with a receipt, start afresh
            return self._failed(traceback.format_exc()), None
        sample_s = time.perf_counter() - t0
        if self.metrics is not None:
            episodes, actions = self.reporter.report(frag)
            if episodes or actions:
                self.metrics.add_fragment.remote(episodes, actions)
        timings = self.collector.last_timings
        header = self._header(
            version=int(frag.version),
            env_steps=int(frag.env_steps),
            agent_steps=int(np.prod(frag.rewards.shape[:2])),
            episodes=len(frag.episodes),
            sample_s=sample_s,
            env_step_s=timings["env_step_s"],
            inference_s=timings["inference_s"],
            sent_at=time.time(),
            matches=arena_matches(frag.episodes),
            outcomes=match_results(frag.episodes),
            curriculum_tag=self.curriculum_tag,
        )
        return header, frag

    def episodes_sent(self) -> int:
        """Finished episodes this process sent to the metrics actor, once all of them have arrived.

        Ray runs one caller's calls to an actor in the order they were sent, so once the ``ping``
        sent after them answers, every earlier ``add_fragment`` has been applied.
        """
        if self.metrics is not None:
            ray.get(self.metrics.ping.remote())
        return self.reporter.episodes_sent

    def _failed(self, tb: str) -> FragmentHeader:
        """Keep the failed env's last frames, rebuild env and collector with a new seed, ask for weights."""
        failed_seed = self.seed
        self._failed_frames = self._frames()
        self.seed = worker_seed(self.cfg.seed, self.worker_index, self.start_update, reconstructed=True)
        self.collector = build_collector(self.cfg, self.cfg.rollout.num_envs, self.seed)
        self._keep_frames()
        self.reporter.attach(self.collector)
        self.version = -1
        return self._header(version=-1, env_steps=0, agent_steps=0, episodes=0, sample_s=0.0, seed=failed_seed,
                            error=tb)

    def recent_frames(self) -> list:
        """Last steps of match 0 (``[H, W, 3]`` uint8, oldest first) for a receipt: the failed env's
        after an exception, else the current env's (empty for envs that cannot draw)."""
        if self._failed_frames:
            frames, self._failed_frames = self._failed_frames, []
            return frames
        return self._frames()

    def _frames(self) -> list:
        draw = getattr(self.collector.env, "recent_frames", None)
        return draw() if draw is not None else []

    def _keep_frames(self) -> None:
        keep = getattr(self.collector.env, "keep_recent_frames", None)
        if keep is not None:
            keep(RECEIPT_FRAMES)

    def _header(self, **fields: Any) -> FragmentHeader:
        """Fragment header: who sampled it (worker, incarnation, node, env seed) plus ``fields``."""
        fields.setdefault("seed", self.seed)
        return FragmentHeader(worker=self.worker_index, incarnation=self.incarnation, node=self.node_id(), **fields)

    def node_id(self) -> Optional[str]:
        """Ray node this worker runs on (None when used as a plain class without Ray)."""
        return ray.get_runtime_context().get_node_id() if ray.is_initialized() else None


def torch_threads(n: int) -> None:
    """Pin torch intra-op threads: Ray gives each actor ``num_cpus`` cores, not the machine."""
    import torch

    if torch.get_num_threads() != n:
        torch.set_num_threads(n)
