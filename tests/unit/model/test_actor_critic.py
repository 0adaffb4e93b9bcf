"""Actor-critic: unroll = step-by-step, set encoder masking, gradients reach every parameter."""

import numpy as np
import pytest
import torch
from gymnasium import spaces

from echelon.config import ModelConfig, TrainConfig, RolloutConfig
from echelon.env.obs_layout import (
    CONTACT_DIM,
    FLAT_OBS_DIM,
    MAX_CONTACTS,
    MAX_SQUAD,
    flat_obs_to_suite_obs,
    suite_obs_to_flat,
)
from echelon.model.actor_critic import (
    ActorCritic,
    build_policy,
    masked_pool,
    masked_pool_reference,
    use_set_encoder,
)

BOX = spaces.Box(-1, 1, (2,), np.float32)


def _policy(obs_dim=6, action_space=BOX, lstm=True, set_encoder=False, seed=0):
    torch.manual_seed(seed)
    model = ModelConfig(lstm=lstm, hidden_size=16, lstm_size=8)
    obs_space = spaces.Box(-np.inf, np.inf, (obs_dim,), np.float32)
    return ActorCritic(obs_space, action_space, model, set_encoder=set_encoder)


def _echelon_obs(*lead, seed=0):
    g = torch.Generator().manual_seed(seed)
    flat = torch.randn(*lead, FLAT_OBS_DIM, generator=g)
    s = flat_obs_to_suite_obs(flat)
    s.contact_mask.copy_((torch.rand(*lead, MAX_CONTACTS, generator=g) < 0.5).float())
    s.squad_mask.copy_((torch.rand(*lead, MAX_SQUAD, generator=g) < 0.5).float())
    return flat


@pytest.mark.parametrize("lstm", [True, False])
@pytest.mark.parametrize("set_encoder", [False, True])
def test_unroll_equals_step_by_step(lstm, set_encoder):
    T, B = 9, 4
    D = FLAT_OBS_DIM if set_encoder else 6
    policy = _policy(D, lstm=lstm, set_encoder=set_encoder)
    with torch.no_grad():
        policy.obs_norm.mean.fill_(0.1)
        policy.obs_norm.var.fill_(2.0)
    obs = _echelon_obs(T, B) if set_encoder else torch.randn(T, B, D)
    es = torch.zeros(T, B, dtype=torch.bool)
    es[0, 0] = es[3, 1] = es[4, 1] = es[7, 2] = True
    state0 = policy.initial_state(B)
    if lstm:
        state0 = type(state0)(torch.randn(B, 8), torch.randn(B, 8))
    actions = torch.rand(T, B, 2) * 2 - 1
    out = policy.unroll(obs, state0, es)
    state, lps, vals = state0, [], []
    for t in range(T):
        o = policy.step(obs[t], state, es[t])
        lps.append(o.dist.log_prob(actions[t]))
        vals.append(o.value)
        state = o.state
    torch.testing.assert_close(out.dist.log_prob(actions), torch.stack(lps))
    torch.testing.assert_close(out.value, torch.stack(vals))
    torch.testing.assert_close(out.state.h, state.h)
    torch.testing.assert_close(out.state.c, state.c)
    assert out.state.h.shape == (B, 8 if lstm else 0)


def test_episode_start_resets_state():
    policy = _policy()
    obs = torch.randn(1, 6)
    hot = type(policy.initial_state(1))(torch.full((1, 8), 3.0), torch.full((1, 8), -3.0))
    a = policy.step(obs, hot, torch.tensor([True]))
    b = policy.step(obs, policy.initial_state(1), torch.tensor([False]))
    torch.testing.assert_close(a.value, b.value)
    torch.testing.assert_close(a.state.h, b.state.h)


def test_set_encoder_ignores_masked_slots_and_is_permutation_invariant():
    policy = _policy(FLAT_OBS_DIM, set_encoder=True)
    flat = _echelon_obs(5)
    base = policy.step(flat, policy.initial_state(5), torch.zeros(5, dtype=torch.bool)).value
    garbage = flat.clone()
    s = flat_obs_to_suite_obs(garbage)
    empty = s.contact_mask < 0.5
    s.contacts[empty] = torch.randn(int(empty.sum()), CONTACT_DIM) * 50
    s.squad[s.squad_mask < 0.5] = 77.0
    out = policy.step(garbage, policy.initial_state(5), torch.zeros(5, dtype=torch.bool))
    torch.testing.assert_close(out.value, base)
    perm = flat.clone()
    sp, so = flat_obs_to_suite_obs(perm), flat_obs_to_suite_obs(flat)
    idx = torch.randperm(MAX_CONTACTS)
    sp.contacts.copy_(so.contacts[:, idx])
    sp.contact_mask.copy_(so.contact_mask[:, idx])
    torch.testing.assert_close(
        policy.step(perm, policy.initial_state(5), torch.zeros(5, dtype=torch.bool)).value, base, rtol=1e-5, atol=1e-5
    )


def test_masked_pool_values():
    x = torch.tensor([[[1.0, 2.0], [3.0, -4.0], [100.0, 100.0]]])
    m = torch.tensor([[1.0, 1.0, 0.0]])
    torch.testing.assert_close(masked_pool(x, m), torch.tensor([[2.0, -1.0, 3.0, 2.0]]))
    torch.testing.assert_close(masked_pool(x, torch.zeros(1, 3)), torch.zeros(1, 4))


def test_masked_pool_matches_reference_values_and_gradients():
    # Fast pool vs its where-based twin on random slots with random masks, including rows with
    # no filled slot and negative features: same outputs and same input gradients.
    g = torch.Generator().manual_seed(3)
    x = torch.randn(4, 6, 10, 8, generator=g)
    m = (torch.rand(4, 6, 10, generator=g) < 0.5).float()
    m[0, 0] = 0.0
    m[1, 2] = 1.0
    xa, xb = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
    fast, ref = masked_pool(xa, m), masked_pool_reference(xb, m)
    torch.testing.assert_close(fast, ref)
    assert torch.all(fast[0, 0] == 0.0)
    w = torch.randn(fast.shape, generator=g)
    (fast * w).sum().backward()
    (ref * w).sum().backward()
    torch.testing.assert_close(xa.grad, xb.grad)
    # Masked slots get no gradient.
    assert torch.all(xa.grad[m == 0] == 0.0)


def test_set_encoder_slot_size_follows_config():
    cfg = TrainConfig(model=ModelConfig(slot_size=24), rollout=RolloutConfig(env="echelon"))
    obs = spaces.Box(-np.inf, np.inf, (FLAT_OBS_DIM,), np.float32)
    policy = build_policy(cfg, obs, spaces.Discrete(3))
    assert policy.encoder.contact[0].out_features == 24
    assert policy.encoder.squad[2].out_features == 24
    assert policy.encoder.join[0].in_features == 4 * 24 + cfg.model.hidden_size


def test_flat_obs_round_trip():
    flat = torch.randn(3, 2, FLAT_OBS_DIM)
    torch.testing.assert_close(suite_obs_to_flat(flat_obs_to_suite_obs(flat)), flat)
    arr = np.random.default_rng(0).normal(size=(4, FLAT_OBS_DIM)).astype(np.float32)
    np.testing.assert_array_equal(suite_obs_to_flat(flat_obs_to_suite_obs(arr)), arr)
    with pytest.raises(ValueError, match=str(FLAT_OBS_DIM)):
        flat_obs_to_suite_obs(np.zeros((2, FLAT_OBS_DIM + 1)))


def test_encoder_choice():
    box = spaces.Box(-np.inf, np.inf, (FLAT_OBS_DIM,), np.float32)
    assert use_set_encoder(TrainConfig(), FLAT_OBS_DIM)
    assert not use_set_encoder(TrainConfig(rollout=RolloutConfig(env="gymnasium:CartPole-v1")), FLAT_OBS_DIM)
    assert not use_set_encoder(TrainConfig(), 4)
    assert isinstance(build_policy(TrainConfig(model=ModelConfig(encoder="mlp")), box, BOX).encoder, torch.nn.Module)


@pytest.mark.parametrize("set_encoder", [False, True])
@pytest.mark.parametrize("which", ["policy", "value"])
def test_gradients_reach_every_parameter(set_encoder, which):
    space = spaces.Dict({"move": BOX, "fire": spaces.MultiBinary(2), "target": spaces.Discrete(3)})
    D = FLAT_OBS_DIM if set_encoder else 6
    policy = _policy(D, action_space=space, set_encoder=set_encoder)
    T, B = 5, 6
    obs = _echelon_obs(T, B) if set_encoder else torch.randn(T, B, D)
    es = torch.zeros(T, B, dtype=torch.bool)
    es[2, 1] = True
    out = policy.unroll(obs, policy.initial_state(B), es)
    if which == "policy":
        act = out.dist.sample()
        loss = -(out.dist.log_prob(act).mean() + out.dist.entropy().mean())
        heads = ("actor.",)
        untouched = ("critic.",)
    else:
        loss = (out.value**2).mean()
        heads = ("critic.",)
        untouched = ("actor.",)
    loss.backward()
    for name, p in policy.named_parameters():
        if name.startswith(untouched):
            continue
        assert p.grad is not None, name
        assert torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, name
    assert any(n.startswith(heads) for n, _ in policy.named_parameters())


def test_normalisers_are_buffers_in_state_dict():
    sd = _policy().state_dict()
    for key in ("obs_norm.mean", "obs_norm.var", "obs_norm.count", "value_norm.mean", "value_norm.var"):
        assert key in sd


DICT_SPACE = spaces.Dict(
    {
        "move": spaces.Box(-1, 1, (2,), np.float32),
        "trigger": spaces.MultiBinary(3),
        "target": spaces.Discrete(4),
    }
)


def test_action_bias_init_sets_the_starting_probabilities():
    torch.manual_seed(0)
    biases = {"trigger": [2.0, -3.0, 0.0], "target": [1.0, 0.0, 0.0, 0.0], "move": [0.5, -0.5]}
    model = ModelConfig(hidden_size=16, lstm_size=8, action_bias_init=biases)
    obs_space = spaces.Box(-np.inf, np.inf, (6,), np.float32)
    policy = ActorCritic(obs_space, DICT_SPACE, model)
    heads = policy.actor.heads
    # Head weights start at gain 0.01, so the bias alone sets the probabilities at the start.
    x = torch.randn(64, 8)
    p = torch.sigmoid(heads["trigger"].logits(x)).mean(0)
    np.testing.assert_allclose(p.detach().numpy(), [0.881, 0.047, 0.5], atol=0.02)
    probs = torch.softmax(heads["target"].logits(x), -1).mean(0).detach().numpy()
    np.testing.assert_allclose(probs, np.exp([1, 0, 0, 0]) / np.exp([1, 0, 0, 0]).sum(), atol=0.02)
    np.testing.assert_allclose(heads["move"].mean(x).mean(0).detach().numpy(), [0.5, -0.5], atol=0.05)


@pytest.mark.parametrize(
    "biases, match",
    [
        ({"fire": [1.0]}, "unknown action key 'fire'.*'move', 'target', 'trigger'"),
        ({"trigger": [1.0, 2.0]}, r"\['trigger'\] has 2 values; the MultiBinary part has 3 outputs"),
    ],
)
def test_action_bias_init_refuses_what_does_not_fit(biases, match):
    model = ModelConfig(hidden_size=16, lstm_size=8, action_bias_init=biases)
    obs_space = spaces.Box(-np.inf, np.inf, (6,), np.float32)
    with pytest.raises(ValueError, match=match):
        ActorCritic(obs_space, DICT_SPACE, model)
    with pytest.raises(ValueError, match="not a Dict"):
        ActorCritic(obs_space, BOX, model)
