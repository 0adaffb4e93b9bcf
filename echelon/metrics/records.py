"""Update records shared by both training loops (serial and Ray): learner stats -> log keys.

Kept free of Ray so the serial loop builds its records with the same code as the driver.
"""

from __future__ import annotations

import importlib.metadata
import platform
import subprocess
from pathlib import Path
from typing import Any, Optional

from echelon.metrics import names as N

# Learner stat keys (Learner.update's dict plus the lag/timing keys of measured_update) -> log
# keys. Keys already carrying a group prefix pass through; any other key lands under train/.
LEARNER_KEYS = {
    "loss": N.TRAIN_LOSS,
    "policy_loss": N.TRAIN_POLICY_LOSS,
    "value_loss": N.TRAIN_VALUE_LOSS,
    "entropy_loss": N.TRAIN_ENTROPY_LOSS,
    "lr": N.TRAIN_LR,
    "grad_norm": N.TRAIN_GRAD_NORM,
    "entropy": N.POLICY_ENTROPY,
    "approx_kl": N.POLICY_APPROX_KL,
    "clip_frac": N.POLICY_CLIP_FRAC,
    "clipfrac": N.POLICY_CLIP_FRAC,
    "explained_variance": N.POLICY_EXPLAINED_VAR,
    "lag_max": N.POLICY_LAG_MAX,
    "lag_mean": N.POLICY_LAG_MEAN,
    "update_s": N.PERF_UPDATE_S,
    "learner_samples_per_s": N.PERF_LEARNER_SAMPLES_PER_S,
    "epochs": N.TRAIN_EPOCHS,
    "minibatch_steps": N.TRAIN_MINIBATCH_STEPS,
    "kl_early_stop": N.TRAIN_KL_EARLY_STOP,
    "value_norm_mean": N.TRAIN_VALUE_NORM_MEAN,
    "value_norm_std": N.TRAIN_VALUE_NORM_STD,
    "valid_frac": N.TRAIN_VALID_FRAC,
}
# Counted by the loop (env_steps, agent_steps), written once (version) or measured by
# measured_update instead (learn_s, the same interval as update_s).
_COUNTED = ("env_steps", "agent_steps", "version", "learn_s")


def learner_stats_to_record(stats: dict[str, Any]) -> dict[str, Any]:
    """Rename a learner stats dict to log keys (see :data:`LEARNER_KEYS`)."""
    out: dict[str, Any] = {}
    for key, value in stats.items():
        if key in _COUNTED:
            continue
        if "/" in key:
            out[key] = value
        else:
            out[LEARNER_KEYS.get(key, "train/" + key)] = value
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
