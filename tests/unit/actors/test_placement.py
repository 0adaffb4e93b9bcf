"""Where actors are asked to go: rollout bundles and strategy, learner resources, renamed keys."""

import pytest

from echelon.actors.learner_actor import learner_resources
from echelon.actors.spawn import worker_placement
from echelon.config import ConfigError, config_from_dict, config_to_dict, load_config


def _node(cpus, **custom):
    return {"Alive": True, "Resources": {"CPU": cpus, "memory": 1e9, **custom}}


HEAD = _node(8, GPU=1)
ROLLOUT = _node(16, rollout=16)


def test_workers_ask_for_the_rollout_resource_only_where_the_cluster_has_it():
    cfg = load_config(None, ["ray.num_cpus_per_worker=1"])
    assert worker_placement(cfg, [HEAD]) == ({"CPU": 1.0}, "PACK")  # one node: SPREAD falls back to PACK
    assert worker_placement(cfg, [HEAD, _node(4)]) == ({"CPU": 1.0}, "SPREAD")
    # Only one node has `rollout`: the workers go there, packed.
    assert worker_placement(cfg, [HEAD, ROLLOUT]) == ({"CPU": 1.0, "rollout": 1.0}, "PACK")
    assert worker_placement(cfg, [HEAD, ROLLOUT, ROLLOUT]) == ({"CPU": 1.0, "rollout": 1.0}, "SPREAD")


def test_required_rollout_resource_is_asked_for_before_any_node_has_it():
    # An autoscaling cluster starts with the head only; the pending group makes it add rollout nodes.
    cfg = load_config(None, ["ray.require_worker_resource=true"])
    assert worker_placement(cfg, [HEAD]) == ({"CPU": 1.0, "rollout": 1.0}, "SPREAD")


def test_placement_modes():
    two = [ROLLOUT, ROLLOUT]
    assert worker_placement(load_config(None, ["ray.placement=pack"]), two)[1] == "PACK"
    assert worker_placement(load_config(None, ["ray.placement=none"]), two) == ({"CPU": 1.0, "rollout": 1.0}, None)
    # Ray refuses a zero-resource bundle: no group then.
    zero = load_config(None, ["ray.num_cpus_per_worker=0", "ray.worker_resource=null"])
    assert worker_placement(zero, two) == ({}, None)
    with pytest.raises(ConfigError, match="ray.placement must be one of"):
        load_config(None, ["ray.placement=scatter"])
    with pytest.raises(ConfigError, match="require_worker_resource"):
        load_config(None, ["ray.worker_resource=null", "ray.require_worker_resource=true"])


def test_learner_asks_for_a_named_resource_and_a_gpu_when_there_is_one():
    named = load_config(None, ["learner.resource=learner"])
    assert learner_resources(named, 0.0) == {"num_cpus": 1, "num_gpus": 0, "resources": {"learner": 1}}
    assert learner_resources(named, 2.0) == {"num_cpus": 1, "num_gpus": 1, "resources": {"learner": 1}}
    assert "resources" not in learner_resources(load_config(None, []), 2.0)
    with pytest.raises(ConfigError, match="learner.resource"):
        load_config(None, ["learner.resource=' '"])


@pytest.mark.parametrize("spread, placement", [(True, "spread"), (False, "none")])
def test_a_checkpoint_config_with_the_old_spread_workers_key_still_loads(spread, placement):
    old = config_to_dict(load_config(None, []))
    del old["ray"]["placement"]
    old["ray"]["spread_workers"] = spread
    assert config_from_dict(old).ray.placement == placement
    assert load_config(None, [], base=old).ray.placement == placement
