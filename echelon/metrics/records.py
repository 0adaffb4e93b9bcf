"""The log records of both training loops (serial and Ray), built in one place.

``meta`` (run start), ``resume``, ``update``, ``summary``: the builders below take the run's
:class:`~echelon.checkpoint.Counters` and what the loop measured, and return flat dicts keyed by
:mod:`echelon.metrics.names`. The hub stamps ``type`` defaults, ``time``, ``run_id`` and, on
update records, ``trace_id``. Kept free of Ray so the serial loop and the driver build their
records with the same code.
"""

from __future__ import annotations

import importlib.metadata
import json
import math
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any, Optional, Sequence

from echelon.checkpoint import Counters
from echelon.config import TrainConfig, config_to_dict
from echelon.metrics import names as N
from echelon.metrics.schema import SCHEMA_VERSION, config_hash, env_signature_hash

# Learner stat keys (Learner.update's dict plus the lag/timing keys of measured_update) -> log
# keys. Keys already carrying a group prefix pass through; any other key lands under train/.
LEARNER_KEYS = {
    "loss": N.TRAIN_LOSS,
    "policy_loss": N.TRAIN_POLICY_LOSS,
    "value_loss": N.TRAIN_VALUE_LOSS,
    "entropy_loss": N.TRAIN_ENTROPY_LOSS,
    "lr": N.TRAIN_LR,
    "critic_lr": N.TRAIN_CRITIC_LR,
    "aux_loss": N.TRAIN_AUX_LOSS,
    "bc_loss": N.TRAIN_BC_LOSS,
    "bc_coef": N.TRAIN_BC_COEF,
    "grad_norm": N.TRAIN_GRAD_NORM,
    "entropy": N.TRAIN_ENTROPY,
    "approx_kl": N.TRAIN_APPROX_KL,
    "clip_frac": N.TRAIN_CLIPFRAC,
    "clipfrac": N.TRAIN_CLIPFRAC,
    "explained_variance": N.POLICY_EXPLAINED_VAR,
    "lag_max": N.SYSTEM_POLICY_LAG_MAX,
    "lag_mean": N.SYSTEM_POLICY_LAG_MEAN,
    "update_s": N.PERF_UPDATE_S,
    "learner_samples_per_s": N.PERF_LEARNER_SAMPLES_PER_S,
    "epochs": N.TRAIN_EPOCHS,
    "minibatch_steps": N.TRAIN_MINIBATCH_STEPS,
    "kl_early_stop": N.TRAIN_KL_EARLY_STOP,
    "value_norm_mean": N.TRAIN_VALUE_NORM_MEAN,
    "value_norm_std": N.TRAIN_VALUE_NORM_STD,
    "valid_frac": N.TRAIN_VALID_FRAC,
    "optimizer_steps": N.TRAIN_OPTIMIZER_STEPS,
    "learner_prepare_s": N.PERF_LEARNER_PREPARE_S,
    "learner_forward_s": N.PERF_LEARNER_FORWARD_S,
    "learner_backward_s": N.PERF_LEARNER_BACKWARD_S,
    # Rollout-side timings (the driver's WorkerSet, the serial loop's collector): per fragment.
    "worker_sample_s": N.PERF_WORKER_SAMPLE_S,
    "worker_env_step_s": N.PERF_WORKER_ENV_STEP_S,
    "worker_inference_s": N.PERF_WORKER_INFERENCE_S,
    "fragment_send_s": N.PERF_FRAGMENT_SEND_S,
}
# Counters among them: logged as ints.
_INT_KEYS = (N.TRAIN_OPTIMIZER_STEPS,)
# Counted by the loop (env_steps, agent_steps), written once (version) or measured by
# measured_update instead (learn_s, the same interval as update_s).
_COUNTED = ("env_steps", "agent_steps", "version", "learn_s")


def learner_stats_to_record(stats: dict[str, Any]) -> dict[str, Any]:
    """Rename a learner stats dict to log keys (see :data:`LEARNER_KEYS`)."""
    out: dict[str, Any] = {}
    for key, value in stats.items():
        if key in _COUNTED:
            continue
        name = key if "/" in key else LEARNER_KEYS.get(key, "train/" + key)
        out[name] = int(value) if name in _INT_KEYS else value
    return out


def git_sha() -> Optional[str]:
    """The source tree's commit (for the meta record), None outside a git checkout."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


# Packages whose versions decide what a run does; read from installed metadata so that recording
# them imports nothing (the serial loop never imports Ray).
_VERSIONED = ("torch", "numpy", "gymnasium", "pettingzoo", "ray", "wandb")


def run_provenance() -> dict[str, Any]:
    """``git_sha`` and ``versions`` (Python and the packages above) for a meta record."""
    versions = {"python": platform.python_version()}
    for name in _VERSIONED:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return {"git_sha": git_sha(), "versions": versions}


def counter_fields(c: Counters) -> dict[str, Any]:
    """The cumulative counters as log keys (resume and summary records)."""
    return {
        N.TRAIN_UPDATE: c.update,
        N.TRAIN_ENV_STEPS: c.env_steps,
        N.TRAIN_AGENT_STEPS: c.agent_steps,
        N.TRAIN_EPISODES: c.episodes,
        N.SYSTEM_DROPPED_FRAGMENTS: c.dropped_fragments,
        N.SYSTEM_WORKER_RESTARTS: c.worker_restarts,
        N.SYSTEM_LOST_FRAGMENTS: c.lost_fragments,
    }


def meta_record(
    cfg: TrainConfig, *, mode: str, device: str, resumed: bool, obs_space: Any, action_space: Any, **extra: Any
) -> dict[str, Any]:
    """The run-start record: config, seeds, provenance, hashes, plus loop-specific ``extra``.

    ``obs_space`` / ``action_space``: one row's spaces, for the env signature hash.
    """
    config = config_to_dict(cfg)
    return {
        N.KIND: N.KIND_META,
        N.SCHEMA_VERSION: SCHEMA_VERSION,
        "mode": mode,
        "command": list(sys.argv),
        "config": config,
        "seed": cfg.seed,
        "config_hash": config_hash(config),
        "env_signature_hash": env_signature_hash(obs_space, action_space),
        "obs_dim": int(obs_space.shape[0]),
        "action_space": repr(action_space),
        **run_provenance(),
        "device": device,
        "learner_device": device,
        "resumed": resumed,
        **extra,
    }


def resume_record(
    c: Counters,
    *,
    checkpoint: str | Path,
    skipped: Sequence[tuple[Any, str]],
    abandoned: Optional[list[int]],
    changed: Optional[dict] = None,
) -> dict[str, Any]:
    """Where a resumed run restarts from, what it skipped, abandoned and changed."""
    return {
        N.KIND: N.KIND_RESUME,
        N.RESUME_FROM: str(checkpoint),
        N.RESUME_SKIPPED: [str(p) for p, _ in skipped],
        N.RESUME_ABANDONED: abandoned,
        N.RESUME_CHANGED: changed or {},
        **counter_fields(c),
    }


def update_record(
    c: Counters,
    stats: dict[str, Any],
    *,
    version: int,
    elapsed_s: float,
    env_steps_at_start: int,
    agent_steps_at_start: int,
    wait_s: float,
    num_workers: int,
    extra: Optional[dict[str, Any]] = None,
) -> dict[str, Any]:
    """One update: counters after it, the learner's stats and the pipeline's throughput.

    ``elapsed_s``: seconds since this process started training; the rates count the steps of
    this process only (``*_at_start`` are the counters it resumed from). ``extra``: more keys
    (the driver's ``curriculum/`` and ``eval/`` families).
    """
    elapsed = max(elapsed_s, 1e-9)
    record = {
        N.KIND: N.KIND_UPDATE,
        N.TRAIN_UPDATE: c.update,
        N.TRAIN_ENV_STEPS: c.env_steps,
        N.TRAIN_AGENT_STEPS: c.agent_steps,
        N.TRAIN_POLICY_VERSION: int(version),
        **learner_stats_to_record(stats),
        N.TRAIN_SPS: (c.env_steps - env_steps_at_start) / elapsed,
        N.TRAIN_AGENT_SPS: (c.agent_steps - agent_steps_at_start) / elapsed,
        N.PERF_WAIT_S: wait_s,
        N.SYSTEM_DROPPED_FRAGMENTS: c.dropped_fragments,
        N.SYSTEM_WORKER_RESTARTS: c.worker_restarts,
        N.SYSTEM_LOST_FRAGMENTS: c.lost_fragments,
        N.SYSTEM_NUM_WORKERS: num_workers,
        N.PERF_ELAPSED_S: elapsed_s,
    }
    record.update(extra or {})
    ev = record.get(N.POLICY_EXPLAINED_VAR)
    if ev is not None and not math.isfinite(ev):
        # Undefined (constant return target), not a failure: absent rather than a non-finite
        # number, which the log contract reserves for error records.
        del record[N.POLICY_EXPLAINED_VAR]
    return record


def summary_record(c: Counters, *, stopped_by: str, checkpoint: Optional[str | Path], elapsed_s: float,
                   episodes_sent: Optional[int] = None) -> dict:
    """The last record of a run (or of one leg of a resumed run).

    ``episodes_sent``: finished episodes the live rollout workers say they sent to the metrics
    actor (``system/episodes_sent``; the hub adds what it received, ``system/episodes_received``).
    """
    record = {
        N.KIND: N.KIND_SUMMARY,
        "stopped_by": stopped_by,
        "checkpoint": str(checkpoint) if checkpoint else None,
        **counter_fields(c),
        N.PERF_ELAPSED_S: elapsed_s,
    }
    if episodes_sent is not None:
        record[N.SYSTEM_EPISODES_SENT] = int(episodes_sent)
    return record


def abandoned_updates(log_path: str | Path, resumed_update: int) -> Optional[list[int]]:
    """``[first, last]`` update numbers that stand in the log beyond ``resumed_update``, or None.

    Replays the log's own resumes (each drops the standing updates past its counter), so
    updates abandoned by an earlier resume are not named again.
    """
    path = Path(log_path)
    if not path.is_file():
        return None
    standing: list[int] = []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line cut by a crash; the validator reports it
            kind = rec.get(N.KIND)
            if kind == N.KIND_UPDATE and isinstance(rec.get(N.TRAIN_UPDATE), int):
                standing.append(rec[N.TRAIN_UPDATE])
            elif kind == N.KIND_RESUME and isinstance(rec.get(N.TRAIN_UPDATE), int):
                standing = [u for u in standing if u <= rec[N.TRAIN_UPDATE]]
    gone = [u for u in standing if u > resumed_update]
    return [min(gone), max(gone)] if gone else None
