"""The `ray up` file and the run configs parse, validate, and keep the dashboard private."""

from pathlib import Path

import pytest
import yaml

from echelon.config import load_config

REPO = Path(__file__).resolve().parents[3]


def test_ray_up_config_validates_against_rays_schema():
    from ray.autoscaler._private.util import prepare_config, validate_config

    cfg = yaml.safe_load((REPO / "cluster" / "cluster.yaml").read_text())
    validate_config(prepare_config(cfg))  # what `ray up` does before touching AWS
    head_cmds = " ".join(cfg["head_start_ray_commands"])
    assert "--dashboard-host=127.0.0.1" in head_cmds and "0.0.0.0" not in head_cmds
    assert cfg["available_node_types"]["rollout_cpu"]["resources"]["rollout"] == 16
    assert cfg["available_node_types"]["head_gpu"]["resources"]["GPU"] == 1
    text = (REPO / "cluster" / "cluster.yaml").read_text().lower()
    for secret in ("aws_secret_access_key", "wandb_api_key:", "password"):
        assert secret not in text


@pytest.mark.parametrize("name", ["local", "smoke", "cluster", "cartpole"])
def test_run_configs_load(name):
    cfg = load_config(REPO / "ray_configs" / f"{name}.yaml")
    assert cfg.learner.total_env_steps > 0


def test_cluster_run_targets_the_rollout_resource():
    cfg = load_config(REPO / "ray_configs" / "cluster.yaml")
    assert cfg.ray.worker_resource == "rollout" and cfg.learner.device == "auto"
    local = load_config(REPO / "ray_configs" / "local.yaml")
    assert local.ray.num_workers == 0 and local.env.size_x == 40 and local.env.packs_per_team == 1
    assert local.ray.curriculum_fire_prob_start < local.env.heuristic_weapon_fire_prob
