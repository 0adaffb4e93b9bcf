"""RLlib's PPO (new API stack, LSTM) trains on Echelon on a real local Ray instance: two
iterations, finite losses, the LSTM and batch sizes of our config."""

import math

import pytest

from echelon.baselines.rllib import POLICY_ID, batch_sizes, build_ppo_config
from echelon.config import load_config

from helpers_ray import SMOKE

ray = pytest.importorskip("ray")
torch = pytest.importorskip("torch")

pytestmark = [pytest.mark.ray, pytest.mark.timeout(240)]


@pytest.fixture()
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, logging_level="warning")
    yield
    ray.shutdown()


def test_rllib_ppo_with_an_lstm_trains_on_echelon(local_ray):
    cfg = load_config(SMOKE, ["env.episode_seconds=4", "rollout.num_envs=2", "rollout.fragment_len=16"])
    algo = build_ppo_config(cfg).build_algo()
    try:
        results = [algo.train() for _ in range(2)]
        module = algo.get_module(POLICY_ID)
        lstms = [m for m in module.modules() if isinstance(m, torch.nn.LSTM)]
    finally:
        algo.stop()
    assert len(lstms) == 1 and lstms[0].hidden_size == cfg.model.lstm_size
    assert algo.config.minibatch_size == batch_sizes(cfg)[1] and algo.config.num_epochs == cfg.ppo.epochs
    last = results[-1]["learners"][POLICY_ID]
    for key in ("policy_loss", "vf_loss", "total_loss", "entropy"):
        assert math.isfinite(last[key]), (key, last[key])
    assert results[-1]["env_runners"]["num_env_steps_sampled_lifetime"] > 0
    assert last["num_module_steps_trained_lifetime"] >= batch_sizes(cfg)[0]
