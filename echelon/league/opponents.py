"""Who drives red in arena training when it is not the learner: league checkpoints and the heuristic.

:class:`OpponentPool` holds the league checkpoints a rollout worker has been asked to play as CPU
policies, each loaded once per id (its weights fetched from Ray's object store the first time the
id is drawn) and each with its own LSTM state per env row, reset at every match start.

:class:`ScriptedRed` runs the env's own :class:`~echelon.env.heuristic.HeuristicController` for
the red mechs of chosen env copies and writes its decisions into the batched action dict as
external actions. It shares the env's per-match heuristic keys, so a copy played this way is the
same match, draw for draw, as one built with ``env.red: heuristic`` at that fire probability
(tested): the heuristic's behaviour and the game rules are untouched.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

import numpy as np
import torch

from echelon.config import config_from_dict
from echelon.env.heuristic import HeuristicController
from echelon.model.actor_critic import ActorCritic, LSTMState, build_policy
from echelon.model.distributions import to_env_action
from echelon.model.loading import check_policy_fits


def policy_payload(config: dict, model_state: dict) -> dict:
    """What the driver puts in the object store for one league checkpoint: the run config it was
    trained with (``config_to_dict``, which picks the network's shape) and its ``state_dict``
    (CPU tensors, normaliser buffers included)."""
    return {"config": config, "model": model_state}


def _fetch(source: Any) -> Any:
    """An ObjectRef's value (one transfer from the object store), or ``source`` itself."""
    import ray

    return ray.get(source) if isinstance(source, ray.ObjectRef) else source


class OpponentPool:
    """League checkpoints as CPU policies, keyed by league entry id.

    Args:
        obs_space, action_space: one row's spaces (every loaded policy must take and give these).
        num_rows: ``R`` rows of the env; each policy keeps an LSTM state ``[R, H]`` (float32,
            NumPy) of which it reads and writes only the rows it drives.
        fetch: turns a weights source into a :func:`policy_payload` dict (default: ``ray.get`` for
            an ObjectRef, the value itself otherwise).
    """

    def __init__(self, obs_space: Any, action_space: Any, num_rows: int,
                 fetch: Optional[Callable[[Any], Any]] = None) -> None:
        self.obs_space, self.action_space, self.num_rows = obs_space, action_space, int(num_rows)
        self.fetch = fetch or _fetch
        self.policies: dict[str, ActorCritic] = {}
        self.states: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self.fetches: dict[str, int] = {}  # weights transfers per id (1 each: loaded once)

    def load(self, entry_id: str, source: Any) -> None:
        """Build entry ``entry_id``'s policy from ``source`` unless it is loaded already."""
        if entry_id in self.policies:
            return
        payload = self.fetch(source)
        self.fetches[entry_id] = self.fetches.get(entry_id, 0) + 1
        cfg = config_from_dict(payload["config"])
        with torch.inference_mode(False):
            policy = build_policy(cfg, self.obs_space, self.action_space)
            policy.load_state_dict(payload["model"])
        check_policy_fits(policy, self.obs_space, self.action_space, who=f"league opponent {entry_id!r}")
        self.policies[entry_id] = policy.cpu().eval()
        H = policy.state_size
        self.states[entry_id] = (np.zeros((self.num_rows, H), np.float32), np.zeros((self.num_rows, H), np.float32))

    def keep_only(self, keep: set[str]) -> None:
        """Forget the policies not in ``keep`` (opponents that left the pool and play no match)."""
        for entry_id in [k for k in self.policies if k not in keep]:
            del self.policies[entry_id], self.states[entry_id]

    @torch.no_grad()
    def act(self, entry_id: str, rows: np.ndarray, obs: np.ndarray, episode_start: np.ndarray,
            env_action: dict[str, np.ndarray]) -> None:
        """Sample ``entry_id``'s actions for ``rows [k]`` (int) and write them into ``env_action``.

        ``obs [R, D]`` float32, ``episode_start [R]`` bool (the state of a row that starts a match
        is zeroed first, as in training); ``env_action`` is the batched env action dict, changed in
        place on ``rows`` only. The opponent samples from its distribution (a stochastic policy,
        as it was trained), drawing from torch's global generator.
        """
        policy = self.policies[entry_id]
        h, c = self.states[entry_id]
        state = LSTMState(torch.from_numpy(h[rows]), torch.from_numpy(c[rows]))
        x = torch.from_numpy(np.ascontiguousarray(obs[rows], dtype=np.float32))
        action, _, _, new = policy.act(x, state, torch.from_numpy(np.ascontiguousarray(episode_start[rows])))
        h[rows], c[rows] = new.h.numpy(), new.c.numpy()
        for key, value in to_env_action(self.action_space, action).items():
            env_action[key][rows] = value


class ScriptedRed:
    """The env's heuristic for the red mechs of some copies of an ``EchelonVecEnv``, as actions.

    ``env`` must have red as policy rows (``env.red: policy``). :meth:`write` runs one
    :class:`HeuristicController` over the red mechs of every copy (it writes the sim's action
    arrays, which ``env.step`` then overwrites for every policy mech from the action dict) and
    copies its decisions for the chosen copies into the action dict.
    """

    def __init__(self, env: Any) -> None:
        sim = env.sim
        self.sim = sim
        self.A = env.agents_per_env
        red = sim.team == 1
        self.ctrl = HeuristicController(sim, red, 1.0)
        # The env's own per-match keys (seeded at reset, reseeded when a match restarts, in place):
        # the same random draws a red heuristic team built into the env would make.
        self.ctrl.key = env.heuristic.key
        cols = np.nonzero(sim.team[env.controlled] == 1)[0]
        self.cols = cols  # red columns within a copy's rows
        self.mechs = env.controlled[cols]  # their mech indices

    def rows_of(self, copies: np.ndarray) -> np.ndarray:
        """Red rows ``[k * n_red]`` of ``copies [k]``, copy-major."""
        return (np.asarray(copies, np.int64)[:, None] * self.A + self.cols[None]).reshape(-1)

    def write(self, copies: np.ndarray, fire_prob: float, env_action: dict[str, np.ndarray]) -> None:
        """Heuristic actions at ``fire_prob`` for the red rows of ``copies [k]`` into ``env_action``.

        ``env_action["move"]`` and ``["comm"]`` become float64 (the heuristic's own precision, so
        the sim receives exactly the numbers a built-in heuristic team would set).
        """
        sim, copies = self.sim, np.asarray(copies, np.int64)
        self.ctrl.fire_prob = float(fire_prob)
        self.ctrl.act()
        rows = self.rows_of(copies)
        e = np.repeat(copies, len(self.mechs))
        m = np.tile(self.mechs, len(copies))
        for key in ("move", "comm"):
            if env_action[key].dtype != np.float64:
                env_action[key] = env_action[key].astype(np.float64)
        env_action["move"][rows] = sim.act_move[e, m]
        env_action["comm"][rows] = sim.act_comm[e, m]
        env_action["trigger"][rows] = sim.act_trigger[e, m]
        env_action["target"][rows] = sim.act_target[e, m]
        env_action["ewar"][rows] = sim.act_ewar[e, m]
        env_action["sort"][rows] = sim.act_sort[e, m]
        env_action["hostile_only"][rows] = sim.act_hostile[e, m]
