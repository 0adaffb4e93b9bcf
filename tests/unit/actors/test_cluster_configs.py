"""The `ray up` files and the run configs: Ray's own validation, private dashboard, no secrets."""

import copy
import re
from pathlib import Path

import pytest
import yaml

from echelon.config import EnvConfig, load_config
from echelon.league.arena import arena_config

REPO = Path(__file__).resolve().parents[3]
CLUSTER_FILES = sorted((REPO / "cluster").glob("*.yaml"))
SKIP_DIRS = {".venv", ".git", "runs", "wandb", "__pycache__", ".pytest_cache", ".ruff_cache", "build"}
# Credentials that must never be committed (AWS keys, private keys, W&B / Ray tokens given as values).
SECRET_PATTERNS = [
    re.compile(r"AKIA[0-9A-Z]{16}"),
    re.compile(r"aws_secret_access_key\s*[:=]", re.I),
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    re.compile(r"WANDB_API_KEY\s*[:=]\s*['\"]?[0-9a-f]{40}", re.I),
    re.compile(r"RAY_AUTH_TOKEN\s*[:=]\s*['\"]?[0-9a-zA-Z_-]{16,}"),
]


def _ray_up_config(path_or_dict):
    """What `ray up` does before touching a machine: merge the provider's defaults, then validate."""
    from ray.autoscaler._private.util import prepare_config, validate_config

    cfg = yaml.safe_load(path_or_dict.read_text()) if isinstance(path_or_dict, Path) else path_or_dict
    prepared = prepare_config(copy.deepcopy(cfg))
    validate_config(prepared)
    return prepared


def _start_commands(cfg):
    return " ".join(cfg["head_start_ray_commands"]), " ".join(cfg["worker_start_ray_commands"])


def test_there_are_cloud_and_on_premise_cluster_files():
    assert [p.name for p in CLUSTER_FILES] == ["cluster.yaml", "local.yaml"]


@pytest.mark.parametrize("path", CLUSTER_FILES, ids=lambda p: p.name)
def test_cluster_file_passes_rays_validation_with_defaults_merged(path):
    prepared = _ray_up_config(path)
    assert prepared["head_node_type"] in prepared["available_node_types"]
    head, worker = _start_commands(yaml.safe_load(path.read_text()))
    # Dashboard private, token auth on every node, metrics exported.
    assert "--dashboard-host=127.0.0.1" in head
    for cmds in (head, worker):
        assert "export RAY_AUTH_MODE=token" in cmds and "--metrics-export-port=8080" in cmds
    # The same pinned project everywhere; the CUDA torch on the head, the CPU torch on rollout nodes.
    head_setup = " ".join(prepared["head_setup_commands"])
    worker_setup = " ".join(prepared["worker_setup_commands"])
    assert "make install" in head_setup and "whl/cu" in head_setup
    assert "make install" in worker_setup and "whl/cpu" in worker_setup
    assert prepared["file_mounts"]["~/.ray/auth_token"] == "~/.ray/auth_token"


@pytest.mark.parametrize("path", CLUSTER_FILES, ids=lambda p: p.name)
@pytest.mark.parametrize("good, bad", [("setup_commands", "setup_comands"), ("file_mounts", "file_mount")])
def test_a_misspelt_key_is_rejected(path, good, bad):
    import jsonschema

    cfg = yaml.safe_load(path.read_text())
    cfg[bad] = cfg.pop(good)
    with pytest.raises(jsonschema.ValidationError, match=bad):
        _ray_up_config(cfg)


def test_aws_cluster_has_a_gpu_learner_head_and_spot_rollout_nodes():
    cfg = yaml.safe_load((REPO / "cluster" / "cluster.yaml").read_text())
    types = cfg["available_node_types"]
    head = types[cfg["head_node_type"]]
    assert head["resources"]["GPU"] == 1 and head["resources"]["learner"] == 1 and "rollout" not in head["resources"]
    rollout = types["rollout_cpu"]
    assert rollout["resources"]["rollout"] == rollout["resources"]["CPU"] == 16
    assert rollout["node_config"]["InstanceMarketOptions"]["MarketType"] == "spot"
    assert rollout["min_workers"] == 0 and rollout["max_workers"] >= 4


def test_the_run_config_asks_for_what_the_clusters_advertise():
    run = load_config(REPO / "ray_configs" / "cluster.yaml")
    assert run.ray.worker_resource == "rollout" and run.ray.require_worker_resource
    assert run.learner.resource == "learner" and run.learner.device == "auto" and run.ray.placement == "spread"
    aws = yaml.safe_load((REPO / "cluster" / "cluster.yaml").read_text())
    assert "rollout" in aws["available_node_types"]["rollout_cpu"]["resources"]
    local_head, local_worker = _start_commands(yaml.safe_load((REPO / "cluster" / "local.yaml").read_text()))
    assert """--resources='{"learner": 1}'""" in local_head and '\\"rollout\\": $(nproc)' in local_worker
    # The autoscaler can host every worker the run asks for.
    rollout = aws["available_node_types"]["rollout_cpu"]
    assert run.ray.num_workers * run.ray.num_cpus_per_worker <= rollout["max_workers"] * rollout["resources"]["CPU"]


def _text_files():
    for path in REPO.rglob("*"):
        if path.is_file() and not SKIP_DIRS.intersection(path.relative_to(REPO).parts):
            try:
                yield path, path.read_text()
            except (UnicodeDecodeError, OSError):
                continue


def test_no_file_binds_the_dashboard_publicly_or_holds_a_secret():
    public = re.compile(r"dashboard[-_]host\s*[=:]\s*['\"]?0\.0\.0\.0")
    checked = 0
    for path, text in _text_files():
        checked += 1
        rel = path.relative_to(REPO)
        if rel.parts[0] == "tests":
            continue  # the patterns themselves live here
        assert not public.search(text), f"{rel} binds the dashboard to 0.0.0.0"
        for pattern in SECRET_PATTERNS:
            assert not pattern.search(text), f"{rel} looks like it holds a secret ({pattern.pattern})"
    assert checked > 50
    assert "0.0.0.0" not in "".join(p.read_text() for p in CLUSTER_FILES)


@pytest.mark.parametrize("name", ["local", "heuristic_only", "smoke", "cluster", "cartpole", "bench_vs_rllib", "arena",
                                  "learn_echelon"])
def test_run_configs_load(name):
    cfg = load_config(REPO / "ray_configs" / f"{name}.yaml")
    assert cfg.learner.total_env_steps > 0


def test_local_run_config():
    local = load_config(REPO / "ray_configs" / "local.yaml")
    assert local.ray.num_workers == 0 and local.env.size_x == 40 and local.env.packs_per_team == 1
    # make train's recipe: half the matches against the full-strength heuristic, half self-play,
    # in the run's own league; the heuristic-only baseline keeps the fire-probability ramp.
    assert local.league.path == "run" and local.league.self_play and local.league.heuristic_fraction == 0.5
    assert local.league.fixed_fire_probs == [1.0] and local.ray.curriculum_fire_prob_start is None
    # ... starting from an imitation of the heuristic that fades out by half the run.
    assert local.ppo.bc_coef > 0 and local.ppo.bc_env_steps == local.learner.total_env_steps // 2
    assert local.model.box_dist == "gaussian"
    baseline = load_config(REPO / "ray_configs" / "heuristic_only.yaml")
    assert baseline.league.path is None
    assert baseline.ray.curriculum_fire_prob_start < baseline.env.heuristic_weapon_fire_prob


def test_learn_echelon_config():
    # make learn-echelon: the batch sized for 10v10 on 100 x 100; blocks of 5v5 on 40 x 40
    # interleaved with blocks of every layout in between, starting and ending on 5v5 on 40 x 40;
    # the arena (league.path: run) takes stages over sizes and packs.
    cfg = load_config(REPO / "ray_configs" / "learn_echelon.yaml")
    assert (cfg.env.packs_per_team, cfg.env.size_x, cfg.env.size_y) == (2, 100, 100)
    assert cfg.env.episode_seconds == EnvConfig().episode_seconds
    stages = cfg.curriculum.stages
    small = [s for s in stages if (s.size_range, s.packs_range) == ([40, 40], [1, 1])]
    every = [s for s in stages if (s.size_range, s.packs_range) == ([40, 100], [1, 2])]
    assert len(small) + len(every) == len(stages) and len(every) >= 2
    assert stages[0] in small and stages[-1] in small and stages[-1].until_fraction is None
    ends = [s.until_fraction for s in stages[:-1]]
    assert ends == sorted(ends) and ends[-1] < 1.0
    # Each kind holds between a third and two thirds of the run.
    share = sum(b - a for a, b, s in zip([0.0] + ends, ends + [1.0], stages, strict=True) if s in small)
    assert 1 / 3 <= share <= 2 / 3
    assert arena_config(cfg).env.red == "policy"
    assert 0 < cfg.ppo.bc_env_steps < cfg.learner.total_env_steps
