"""Serial mode: the whole training loop in one process, no Ray (debugging, tests, learning checks).

Read this first. Build env, learner and collector; optionally resume; then repeat
``collector.sample() → learner.update()``, log one update record per update through
:class:`~echelon.metrics.hub.MetricsHub` and checkpoint every ``learner.checkpoint_every``
updates. Records come from :mod:`echelon.metrics.records` and checkpoints from
:mod:`echelon.checkpoint`, as in the Ray driver (:mod:`echelon.actors.orchestrator`), so a run
started here can be resumed there and the other way round.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict
from pathlib import Path
from typing import Optional

import numpy as np
import torch

from echelon.actors.incidents import Incidents
from echelon.checkpoint import (
    Counters,
    ResumePoint,
    TrainingState,
    build_payload,
    capture_rng_state,
    find_latest_checkpoint,
    restore_rng_state,
    save_checkpoint,
    set_aside,
)
from echelon.config import TrainConfig, config_to_dict
from echelon.curriculum import stages_of
from echelon.env.adapters import make_vector_env
from echelon.metrics import names as N
from echelon.metrics.episodes import EpisodeReporter
from echelon.metrics.hub import LOG_NAME, MetricsHub
from echelon.metrics.receipts import RECEIPT_FRAMES
from echelon.metrics.records import (
    abandoned_updates,
    meta_record,
    resume_record,
    summary_record,
    update_record,
)
from echelon.metrics.schema import make_trace_id, new_run_id
from echelon.model.actor_critic import build_policy
from echelon.ppo.learner import Learner, measured_update
from echelon.ppo.rollout import RolloutCollector

__all__ = ["LOG_NAME", "train_serial"]

log = logging.getLogger(__name__)


def train_serial(
    cfg: TrainConfig, run_dir: Path, resume: bool = False, resume_from: Optional[ResumePoint] = None,
    changed: Optional[dict] = None,
) -> dict:
    """Train ``cfg`` in this process until ``learner.total_env_steps``; return a summary dict.

    Writes ``run_dir/train_log.jsonl`` (a ``meta`` record, on resume a ``resume`` record, one
    ``update`` record per update, a ``summary`` record; appended to across resumes) and
    ``run_dir/checkpoints/ckpt_<update>.pt``. With ``resume`` the newest usable checkpoint (of
    either loop) is loaded. Sinks follow ``cfg.metrics`` (console line per update, W&B).
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(cfg.seed)
    np.random.seed(cfg.seed)

    # Env, learner, and the collector's CPU policy copy.
    env = make_vector_env(cfg, cfg.rollout.num_envs, cfg.seed)
    learner = Learner(cfg, env.single_observation_space, env.single_action_space)
    counters, run_id, resumed = Counters(), new_run_id(), None
    if resume or resume_from is not None:
        resumed = resume_from or find_latest_checkpoint(run_dir)
        state = resumed.state
        learner.load_state_dict(state.learner)
        if state.learner_rng is not None:
            restore_rng_state(state.learner_rng)
        counters, run_id = Counters(**asdict(state.counters)), state.run_id
    last_checkpoint: Optional[Path] = resumed.path if resumed else None
    last_checkpoint_update = counters.update if resumed else -1
    policy = build_policy(cfg, env.single_observation_space, env.single_action_space)
    collector = RolloutCollector(cfg, env, policy, seed=cfg.seed + 1000 * counters.update)
    reporter = EpisodeReporter(cfg, cfg.seed)  # what a Ray worker would send the metrics actor
    reporter.attach(collector)

    hub = MetricsHub.from_config(cfg, run_dir, run_id=run_id)
    hub.set_episode_count(counters.episodes)
    records = [meta_record(cfg, mode="serial", device=str(learner.device), resumed=resumed is not None,
                           obs_space=env.single_observation_space, action_space=env.single_action_space,
                           num_workers=1, fragments_per_update=1, num_rows=int(env.num_rows))]
    if resumed is not None:
        set_aside(resumed.skipped)
        abandoned = abandoned_updates(run_dir / LOG_NAME, counters.update)
        records.append(resume_record(counters, checkpoint=resumed.path, skipped=resumed.skipped,
                                     abandoned=abandoned, changed=changed))
    hub.log(records)

    # The curriculum and evaluations are the Ray driver's: here the matches stay as env configures
    # them, and a resumed run's curriculum state is handed on unchanged for the driver to continue.
    if stages_of(cfg) or cfg.eval.every:
        log.warning("the serial loop runs neither the curriculum nor evaluations (the Ray driver does); "
                    "the matches stay as the env config sets them")
    curriculum = resumed.state.curriculum if resumed is not None else None

    def checkpoint() -> Path:
        state = TrainingState(learner=learner.state_dict(), counters=Counters(**asdict(counters)),
                              config=config_to_dict(cfg), run_id=run_id,
                              trace_id=make_trace_id(run_id, counters.update), learner_rng=capture_rng_state(),
                              curriculum=curriculum)
        return save_checkpoint(run_dir, counters.update, build_payload(state), keep=cfg.learner.keep_checkpoints)

    incidents = Incidents(cfg, run_dir, run_id, hub.log)
    if hasattr(env, "keep_recent_frames"):
        env.keep_recent_frames(RECEIPT_FRAMES)
    t0 = time.time()
    steps0, agent_steps0 = counters.env_steps, counters.agent_steps
    record: dict = {}
    stopped_by = "done"
    try:
        while counters.env_steps < cfg.learner.total_env_steps:
            collector.set_weights(*learner.get_weights())
            t_sample = time.perf_counter()
            fragment = collector.sample(teacher=learner.bc_coef() > 0)
            wait_s = time.perf_counter() - t_sample  # the learner waits for the one collector
            hub.add_fragment(*reporter.report(fragment))
            stats = measured_update(learner, [fragment])
            counters.update += 1
            counters.env_steps += int(stats["env_steps"])
            counters.agent_steps += int(stats["agent_steps"])
            if stats.get("nonfinite"):  # not trained on: an error record and a receipt instead
                frames = env.recent_frames() if hasattr(env, "recent_frames") else []
                if incidents.bad_update(counters.update, stats["report"], frames):
                    stopped_by = "bad_updates"
                    break
                continue
            incidents.good_update()
            timings = {"worker_sample_s": wait_s,
                       **{f"worker_{k}": v for k, v in collector.last_timings.items()}}
            record = hub.log_update(update_record(
                counters, {**stats, **timings}, version=learner.version, elapsed_s=time.time() - t0,
                env_steps_at_start=steps0, agent_steps_at_start=agent_steps0, wait_s=wait_s, num_workers=1,
            ))
            counters.episodes = hub.episode_count
            if counters.update % cfg.learner.checkpoint_every == 0:
                last_checkpoint, last_checkpoint_update = checkpoint(), counters.update
        if counters.update != last_checkpoint_update:
            last_checkpoint = checkpoint()
        hub.log([summary_record(counters, stopped_by=stopped_by, checkpoint=last_checkpoint,
                                elapsed_s=time.time() - t0, episodes_sent=reporter.episodes_sent)])
        wandb_where = hub.wandb_location()
        hub.close(checkpoint=last_checkpoint)
    finally:
        hub.close()
        env.close()
    wall = time.time() - t0
    return {
        "stopped_by": stopped_by,
        "updates": counters.update,
        "env_steps": counters.env_steps,
        "wall_s": wall,
        "sps": (counters.env_steps - steps0) / max(wall, 1e-9),
        "episode_return_mean": record.get(N.RETURNS_MEAN),
        "episode_length_mean": record.get(N.RETURNS_LENGTH_MEAN),
        "win_rate": record.get(N.RETURNS_WIN_RATE),
        "episodes": counters.episodes,
        "checkpoint": str(last_checkpoint),
        "wandb": wandb_where,
        "run_dir": str(run_dir),
    }
