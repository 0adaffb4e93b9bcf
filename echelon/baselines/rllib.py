"""RLlib's PPO with an LSTM on Echelon, configured as the equivalent of one of our runs.

Used as RLlib is used, no patches: the env goes in through RLlib's own PettingZoo wrapper
(``ParallelPettingZooEnv``) around :class:`~echelon.env.EchelonParallelEnv`, RLlib's new API
stack (EnvRunners, Learner, default ``RLModule``) builds and trains the model, and the only user
code is what RLlib asks its users to write:

- an action-space declaration RLlib can train with an LSTM (:class:`RLlibActionSpace`: the same
  independent factors, regrouped, because RLlib has no ``MultiBinary`` distribution and its
  multi-distribution breaks on ``Discrete`` parts under an LSTM's time rank);
- a callback that records the learning team's per-agent return and win rate in our metric's
  definition (``episode/return_mean``, ``episode/win_rate``), since RLlib sums the agents' returns
  and knows nothing of winners.

:func:`build_ppo_config` maps one :class:`~echelon.config.TrainConfig` onto ``PPOConfig``: one
shared policy for the learning team (the other team is the heuristic inside the env, as in our
runs), ``rollout.num_envs`` envs per env runner, ``ray.num_workers`` env runners (at least 1),
fragments of ``rollout.fragment_len`` steps, a train batch of as many agent steps as one of our
updates, the same epochs and minibatch size, an LSTM of ``model.lstm_size`` cells unrolled over
``ppo.bptt_len`` steps after an encoder layer of ``model.hidden_size``, and the same PPO
coefficients (lr, gamma, lambda, clip, entropy, value-loss weight, global grad-norm clip).

Left at RLlib's defaults, having no direct counterpart: ours normalises observations and returns
and clips the value loss in normalised units (RLlib: no normalisers, ``vf_clip_param`` 10 in
return units); our encoder is a set encoder over contacts and squad mates (RLlib's default: an
MLP of ``model.hidden_size``); parameter counts are within 5% (57.9k vs 60.7k at hidden/LSTM 64).
"""

from __future__ import annotations

import dataclasses
from collections import deque
from typing import Any, Optional

import gymnasium as gym
import numpy as np
from pettingzoo import ParallelEnv

from echelon.config import EnvConfig, RewardConfig, TrainConfig

ENV_NAME = "echelon_pz"
POLICY_ID = "learning_team"
# Per-match values logged by OutcomeCallback (lists under result["env_runners"]).
RETURN_MEAN = "echelon/return_mean"
WIN_RATE = "echelon/win_rate"


class RLlibActionSpace(ParallelEnv):
    """Declares Echelon's action space in a form RLlib 2.60 can train with an LSTM.

    Echelon's per-agent action is ``Dict(move: Box(4), trigger: MultiBinary(5), target:
    Discrete(1 + MAX_CONTACTS), ewar: Discrete(3), sort: Discrete(3), hostile_only: Discrete(2),
    comm: Box(COMM_DIM))``. RLlib has no distribution for ``MultiBinary``, and its
    ``TorchMultiDistribution`` squeezes the time rank of ``Discrete`` components once an LSTM adds
    one (the log-probs come out ``[B, B]``), so this wrapper declares
    ``Dict(move: Box(4), comm: Box(COMM_DIM), discrete: MultiDiscrete([2] * 5 + [1 + MAX_CONTACTS, 3, 3, 2]))``:
    the same independent factors (Gaussians for the boxes, one categorical per trigger bit and per
    discrete choice), and splits ``discrete`` back into Echelon's keys on ``step``.
    """

    DISCRETE_KEYS = ("target", "ewar", "sort", "hostile_only")

    def __init__(self, env: ParallelEnv) -> None:
        self.env = env
        self.metadata = env.metadata
        self.possible_agents = list(env.possible_agents)
        self.render_mode = getattr(env, "render_mode", None)
        space = env.action_space(self.possible_agents[0])
        self._n_trigger = space["trigger"].n
        nvec = [2] * self._n_trigger + [space[k].n for k in self.DISCRETE_KEYS]
        declared = gym.spaces.Dict({"move": space["move"], "comm": space["comm"],
                                    "discrete": gym.spaces.MultiDiscrete(nvec)})
        self.action_spaces = {a: declared for a in self.possible_agents}
        self.observation_spaces = {a: env.observation_space(a) for a in self.possible_agents}

    @property
    def agents(self) -> list[str]:
        return self.env.agents

    def observation_space(self, agent: str) -> gym.Space:
        return self.observation_spaces[agent]

    def action_space(self, agent: str) -> gym.Space:
        return self.action_spaces[agent]

    def to_echelon(self, action: dict) -> dict:
        """One agent's declared action -> Echelon's action dict (``trigger [5]``, scalar choices)."""
        d = np.asarray(action["discrete"])
        out = {"move": action["move"], "comm": action["comm"], "trigger": d[: self._n_trigger]}
        for i, key in enumerate(self.DISCRETE_KEYS):
            out[key] = d[self._n_trigger + i]
        return out

    def reset(self, seed: Optional[int] = None, options: Optional[dict] = None) -> tuple[dict, dict]:
        return self.env.reset(seed=seed, options=options)

    def step(self, actions: dict) -> tuple[dict, dict, dict, dict, dict]:
        return self.env.step({a: self.to_echelon(act) for a, act in actions.items()})

    def render(self) -> Any:
        return self.env.render()

    def close(self) -> None:
        self.env.close()


def env_config_to_dict(env: EnvConfig) -> dict:
    """``EnvConfig`` as the plain dict RLlib passes to the env creator (picklable, printable)."""
    return dataclasses.asdict(env)


def env_config_from_dict(data: dict) -> EnvConfig:
    return EnvConfig(**{**data, "rewards": RewardConfig(**data["rewards"])})


def make_env(env_config: dict) -> Any:
    """RLlib's env creator: Echelon's PettingZoo env in RLlib's ``ParallelPettingZooEnv``."""
    from ray.rllib.env.wrappers.pettingzoo_env import ParallelPettingZooEnv

    from echelon.env import EchelonParallelEnv

    cfg = env_config_from_dict(dict(env_config))
    return ParallelPettingZooEnv(RLlibActionSpace(EchelonParallelEnv(cfg, render_mode=None)))


def register_echelon_env() -> str:
    """Register :func:`make_env` with RLlib (Tune's registry) under :data:`ENV_NAME`; returns the name."""
    from ray.tune.registry import register_env

    register_env(ENV_NAME, make_env)
    return ENV_NAME


def team_return(agent_totals: dict, paid: set, winner: Optional[str], outcome_reward: float, team_size: int) -> float:
    """Our ``episode/return_mean`` for one match, from what the PettingZoo face handed out.

    Args:
        agent_totals: ``{agent: sum of the rewards it received}``.
        paid: agents present at the match's last step (their last reward carried the outcome).
        winner: ``"blue" | "red" | "draw"``.
        outcome_reward: ``env.rewards.outcome``.
        team_size: learning agents in a match.

    Returns the mean over the ``team_size`` agents of their match reward totals, the outcome
    included for every agent: ENV_SPEC pays it "alive or dead", and the vec env's episode return
    counts it, but an agent that already left the PettingZoo face cannot receive it, so it is
    added here for those.
    """
    sign = {"blue": 1.0, "red": -1.0}.get(winner or "", 0.0)
    unpaid = team_size - len(paid)
    return (sum(agent_totals.values()) + unpaid * sign * outcome_reward) / team_size


def episode_outcome(chunks: list, outcome_reward: float, team_size: int) -> tuple[float, Optional[str]]:
    """``(return, winner)`` of one finished match from RLlib's episode chunks (:func:`team_return`).

    ``winner`` (``"blue" | "red" | "draw"``) comes from the last step's ``infos[agent]["outcome"]``.
    """
    totals: dict[str, float] = {}
    paid: set[str] = set()
    winner: Optional[str] = None
    for chunk in chunks:
        for aid, ep in chunk.agent_episodes.items():
            totals[aid] = totals.get(aid, 0.0) + float(ep.get_return())
            if len(ep) == 0:
                continue
            outcome = (ep.get_infos(-1) or {}).get("outcome")
            if outcome is not None:
                paid.add(aid)
                winner = outcome.get("winner") if isinstance(outcome, dict) else outcome
    return team_return(totals, paid, winner, outcome_reward, team_size), winner


def outcome_callback(outcome_reward: float, team_size: int) -> type:
    """An ``RLlibCallback`` class logging every finished match's return (:data:`RETURN_MEAN`) and
    win (:data:`WIN_RATE`, 1.0 / 0.0).

    Logged as RLlib ``item_series``: each training result carries the lists of the matches that
    ended since the previous one. The caller keeps the last ``metrics.window`` of them
    (:class:`MatchWindow`), the same window our metrics hub averages over; RLlib's own windowed
    means (``log_value(window=...)``) are reset every iteration, i.e. over 10-30 matches here.
    """
    from ray.rllib.callbacks.callbacks import RLlibCallback

    class OutcomeCallback(RLlibCallback):
        def on_episode_end(self, *, episode: Any, prev_episode_chunks: Optional[list] = None,
                           metrics_logger: Any = None, **kwargs: Any) -> None:
            ret, winner = episode_outcome([episode, *(prev_episode_chunks or [])], outcome_reward, team_size)
            metrics_logger.log_value(RETURN_MEAN, ret, reduce="item_series")
            if winner is not None:
                metrics_logger.log_value(WIN_RATE, float(winner == "blue"), reduce="item_series")

    return OutcomeCallback


class MatchWindow:
    """Mean return and win rate over the last ``size`` matches, fed with each result's lists."""

    def __init__(self, size: int) -> None:
        self.returns: deque = deque(maxlen=size)
        self.wins: deque = deque(maxlen=size)

    def add(self, env_runner_results: dict) -> tuple[Optional[float], Optional[float]]:
        """Take one result's ``result["env_runners"]``; returns ``(return_mean, win_rate)`` (None before any match)."""
        self.returns.extend(env_runner_results.get(RETURN_MEAN) or [])
        self.wins.extend(env_runner_results.get(WIN_RATE) or [])
        ret = float(np.mean(self.returns)) if self.returns else None
        win = float(np.mean(self.wins)) if self.wins else None
        return ret, win


def batch_sizes(cfg: TrainConfig) -> tuple[int, int]:
    """``(train batch, minibatch)`` in agent steps, equal to one of our updates.

    One update of ours trains on ``fragments_per_update`` fragments of ``fragment_len`` steps x
    ``num_envs`` matches, each match step one agent step per learning agent, cut into
    ``ppo.num_minibatches`` minibatches. RLlib's minibatch counts module (agent) steps and must
    not exceed the train batch, so the train batch is counted in agent steps too
    (``count_steps_by="agent_steps"``).
    """
    workers = max(1, cfg.ray.num_workers)
    fragments = cfg.ray.fragments_per_update or workers
    agent_steps = fragments * cfg.rollout.fragment_len * cfg.rollout.num_envs * cfg.env.mechs_per_team
    return agent_steps, max(1, agent_steps // cfg.ppo.num_minibatches)


def build_ppo_config(cfg: TrainConfig) -> Any:
    """RLlib ``PPOConfig`` equivalent to ``cfg`` (see the module docstring for the mapping)."""
    from ray.rllib.algorithms.ppo import PPOConfig
    from ray.rllib.core.rl_module.default_model_config import DefaultModelConfig

    if cfg.env.blue != "policy" or cfg.env.red != "heuristic":
        raise ValueError("the RLlib baseline trains blue against the heuristic red team (env.blue=policy, "
                         f"env.red=heuristic), got blue={cfg.env.blue!r} red={cfg.env.red!r}")
    train_batch, minibatch = batch_sizes(cfg)
    ppo = cfg.ppo
    register_echelon_env()
    return (
        PPOConfig()
        .environment(ENV_NAME, env_config=env_config_to_dict(cfg.env))
        .framework("torch")
        .env_runners(
            num_env_runners=max(1, cfg.ray.num_workers),
            num_envs_per_env_runner=cfg.rollout.num_envs,
            num_cpus_per_env_runner=cfg.ray.num_cpus_per_worker,
            rollout_fragment_length=cfg.rollout.fragment_len,
            batch_mode="truncate_episodes",
        )
        # One learner in the algorithm's process, as our learner is one actor; a GPU when asked.
        .learners(num_learners=0, num_gpus_per_learner=1 if cfg.learner.device == "cuda" else 0)
        .multi_agent(policies={POLICY_ID}, policy_mapping_fn=lambda agent_id, episode, **kw: POLICY_ID,
                     count_steps_by="agent_steps")
        .rl_module(model_config=DefaultModelConfig(
            fcnet_hiddens=[cfg.model.hidden_size],
            use_lstm=cfg.model.lstm,
            lstm_cell_size=cfg.model.lstm_size,
            max_seq_len=ppo.bptt_len,
            vf_share_layers=True,
        ))
        .training(
            train_batch_size_per_learner=train_batch,
            minibatch_size=minibatch,
            num_epochs=ppo.epochs,
            lr=ppo.lr,
            gamma=ppo.gamma,
            lambda_=ppo.gae_lambda,
            clip_param=ppo.clip_coef,
            entropy_coeff=ppo.ent_coef,
            vf_loss_coeff=ppo.vf_coef,
            grad_clip=ppo.max_grad_norm,
            grad_clip_by="global_norm",
            use_kl_loss=False,  # ours has no KL penalty (target_kl, when set, stops epochs early)
        )
        .callbacks(outcome_callback(cfg.env.rewards.outcome, cfg.env.mechs_per_team))
        .reporting(metrics_num_episodes_for_smoothing=cfg.metrics.window)
        .debugging(seed=cfg.seed)
    )


def num_parameters(algo: Any) -> int:
    """Trainable parameters of the learning team's RLModule."""
    module = algo.get_module(POLICY_ID)
    return int(sum(int(np.prod(p.shape)) for p in module.parameters() if p.requires_grad))
