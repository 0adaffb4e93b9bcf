"""Serial mode: the whole training loop in one process, no Ray (debugging, tests, learning checks).

Read top to bottom: build env, learner and collector; optionally resume; then repeat
``collector.sample() → learner.update()``, log one update record per update through
:class:`~echelon.metrics.hub.MetricsHub` and checkpoint every ``learner.checkpoint_every``
updates. The log (``RUN_DIR/train_log.jsonl``) has the Ray driver's schema: the same record kinds
(``meta``, ``resume``, ``update``, ``summary``) and the same keys (:mod:`echelon.metrics.names`).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Optional

import numpy as np
import torch

from echelon.checkpoint import find_latest_checkpoint, save_checkpoint
from echelon.config import TrainConfig, config_to_dict
from echelon.env.adapters import make_vector_env
from echelon.metrics import names as N
from echelon.metrics.hub import LOG_NAME, MetricsHub
from echelon.metrics.records import learner_stats_to_record, run_provenance
from echelon.model.actor_critic import build_policy
from echelon.ppo.learner import Learner, measured_update
from echelon.ppo.rollout import RolloutCollector

__all__ = ["LOG_NAME", "train_serial"]


def train_serial(cfg: TrainConfig, run_dir: Path, resume: bool = False) -> dict:
    """Train ``cfg`` in this process until ``learner.total_env_steps``; return a summary dict.

    Writes ``run_dir/train_log.jsonl`` (a ``meta`` record, on resume a ``resume`` record, one
    ``update`` record per update, a ``summary`` record; appended to across resumes) and
    ``run_dir/checkpoints/ckpt_<update>.pt``. With ``resume`` the newest usable checkpoint is
    loaded. Sinks follow ``cfg.metrics`` (console line per update, W&B) as in a Ray run.
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(cfg.seed)
    np.random.seed(cfg.seed)

    # Env, learner, and the collector's CPU policy copy.
    env = make_vector_env(cfg, cfg.rollout.num_envs, cfg.seed)
    learner = Learner(cfg, env.single_observation_space, env.single_action_space)
    episodes0 = agent_steps0 = 0
    resumed = None
    last_checkpoint: Optional[Path] = None
    last_checkpoint_update = -1
    if resume:
        resumed = find_latest_checkpoint(run_dir)
        payload = resumed[1]
        learner.load_state_dict(payload["learner"])
        # Older serial checkpoints carry neither counter: they restart from 0.
        episodes0 = int(payload.get("episodes", 0))
        agent_steps0 = int(payload.get("agent_steps", 0))
        last_checkpoint, last_checkpoint_update = resumed[0], learner.updates
    policy = build_policy(cfg, env.single_observation_space, env.single_action_space)
    collector = RolloutCollector(cfg, env, policy, seed=cfg.seed + 1000 * learner.updates)

    hub = MetricsHub.from_config(cfg, run_dir)
    hub.set_episode_count(episodes0)
    records = [_meta_record(cfg, env, learner, resumed is not None)]
    if resumed is not None:
        path, _, skipped = resumed
        records.append({
            N.KIND: N.KIND_RESUME,
            N.RESUME_FROM: str(path),
            N.RESUME_SKIPPED: [str(p) for p, _ in skipped],
            **_counter_fields(learner, agent_steps0, hub.episode_count),
        })
    hub.log(records)

    t0 = time.time()
    steps0, agent_steps = learner.env_steps, agent_steps0
    record: dict = {}
    try:
        while learner.env_steps < cfg.learner.total_env_steps:
            collector.set_weights(*learner.get_weights())
            t_sample = time.perf_counter()
            fragment = collector.sample()
            wait_s = time.perf_counter() - t_sample
            hub.add_episodes(fragment.episodes)
            stats = measured_update(learner, [fragment])
            agent_steps += int(stats["agent_steps"])

            elapsed = max(time.time() - t0, 1e-9)
            record = hub.log_update({
                N.TRAIN_UPDATE: learner.updates,
                N.TRAIN_ENV_STEPS: learner.env_steps,
                N.TRAIN_AGENT_STEPS: agent_steps,
                N.TRAIN_POLICY_VERSION: learner.version,
                **learner_stats_to_record(stats),
                N.PERF_SPS: (learner.env_steps - steps0) / elapsed,
                N.PERF_AGENT_SPS: (agent_steps - agent_steps0) / elapsed,
                # The learner waits for the one in-process collector: the whole sampling time.
                N.PERF_WAIT_S: wait_s,
                N.PERF_DROPPED_FRAGMENTS: 0,
                N.PERF_WORKER_RESTARTS: 0,
                N.PERF_LOST_FRAGMENTS: 0,
                N.PERF_NUM_WORKERS: 1,
                N.PERF_ELAPSED_S: elapsed,
            })
            if learner.updates % cfg.learner.checkpoint_every == 0:
                last_checkpoint = _checkpoint(run_dir, cfg, learner, agent_steps, hub.episode_count)
                last_checkpoint_update = learner.updates
        if learner.updates != last_checkpoint_update:
            last_checkpoint = _checkpoint(run_dir, cfg, learner, agent_steps, hub.episode_count)
        hub.log([{
            N.KIND: N.KIND_SUMMARY,
            "stopped_by": "done",
            "checkpoint": str(last_checkpoint),
            **_counter_fields(learner, agent_steps, hub.episode_count),
            N.PERF_ELAPSED_S: time.time() - t0,
        }])
        wandb_where = hub.wandb_location()
    finally:
        hub.close()
        env.close()
    wall = time.time() - t0
    return {
        "updates": learner.updates,
        "env_steps": learner.env_steps,
        "wall_s": wall,
        "sps": (learner.env_steps - steps0) / max(wall, 1e-9),
        "episode_return_mean": record.get(N.EPISODE_RETURN_MEAN),
        "episode_length_mean": record.get(N.EPISODE_LENGTH_MEAN),
        "win_rate": record.get(N.EPISODE_WIN_RATE),
        "episodes": hub.episode_count,
        "checkpoint": str(last_checkpoint),
        "wandb": wandb_where,
        "run_dir": str(run_dir),
    }


def _meta_record(cfg: TrainConfig, env, learner: Learner, resumed: bool) -> dict:
    """The run-start record: the Ray driver's meta fields plus what only the serial loop knows."""
    return {
        N.KIND: N.KIND_META,
        "mode": "serial",
        "config": config_to_dict(cfg),
        "seed": cfg.seed,
        **run_provenance(),
        "num_workers": 1,
        "fragments_per_update": 1,
        "learner_device": str(learner.device),
        "resumed": resumed,
        "obs_dim": int(env.single_observation_space.shape[0]),
        "action_space": repr(env.single_action_space),
        "num_rows": int(env.num_rows),
    }


def _counter_fields(learner: Learner, agent_steps: int, episodes: int) -> dict:
    """Counters of the resume and summary records (the driver's keys; serial drops nothing)."""
    return {
        N.TRAIN_UPDATE: learner.updates,
        N.TRAIN_ENV_STEPS: learner.env_steps,
        N.TRAIN_AGENT_STEPS: agent_steps,
        N.EPISODE_COUNT: episodes,
        N.PERF_DROPPED_FRAGMENTS: 0,
        N.PERF_WORKER_RESTARTS: 0,
        N.PERF_LOST_FRAGMENTS: 0,
    }


def _checkpoint(run_dir: Path, cfg: TrainConfig, learner: Learner, agent_steps: int, episodes: int) -> Path:
    # The counters let a resumed run (serial or Ray) continue the cumulative agent-step and
    # episode counters; the learner's own state carries updates and env steps.
    payload = {"learner": learner.state_dict(), "config": config_to_dict(cfg), "update": learner.updates,
               "agent_steps": int(agent_steps), "episodes": int(episodes)}
    return save_checkpoint(run_dir, learner.updates, payload, keep=cfg.learner.keep_checkpoints)
