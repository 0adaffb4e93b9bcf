"""Config: YAML + dotted overrides merged against the frozen dataclass schema."""

import dataclasses

import pytest

from echelon.config import ConfigError, EnvConfig, TrainConfig, config_from_dict, config_to_dict, load_config


def test_defaults_and_derived_sizes():
    cfg = load_config()
    assert isinstance(cfg, TrainConfig)
    assert cfg.env.max_steps == 240  # 60 s / (0.05 s * 5)
    assert cfg.env.mechs_per_team == 10 and cfg.env.num_mechs == 20
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.seed = 3  # type: ignore[misc]


def test_yaml_then_overrides(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("seed: 7\nenv:\n  packs_per_team: 1\n  size_x: 40\n  size_y: 40\nppo:\n  lr: 0.001\n")
    cfg = load_config(path, ["ppo.lr=0.002", "env.rewards.kill=4.5"])
    assert cfg.seed == 7
    assert cfg.env.packs_per_team == 1 and cfg.env.size_x == 40
    assert cfg.ppo.lr == pytest.approx(0.002)
    assert cfg.env.rewards.kill == pytest.approx(4.5)
    assert isinstance(cfg.env, EnvConfig)


@pytest.mark.parametrize(
    "override, fragment",
    [
        ("ppo.lrr=1", "lrr"),
        ("nosuch.key=1", "nosuch"),
        ("ppo.lr=abc", "ppo.lr"),
        ("env.packs_per_team=-1", "got -1"),
        ("env.obs_mode=fog", "'fog'"),
        ("env.size_x=20", "20 x 100"),
        ("ppo.burn_in=16", "burn_in"),
        ("rollout.env=atari", "atari"),
        ("model.box_dist=beta", "squashed|gaussian"),
    ],
)
def test_bad_input_names_the_problem(override, fragment):
    with pytest.raises(ConfigError) as err:
        load_config(None, [override])
    assert fragment in str(err.value)


def test_override_without_equals_and_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="key=value"):
        load_config(None, ["ppo.lr"])
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "missing.yaml")


def test_dict_round_trip():
    cfg = load_config(None, ["seed=11", "model.lstm=false"])
    assert config_from_dict(config_to_dict(cfg)) == cfg
