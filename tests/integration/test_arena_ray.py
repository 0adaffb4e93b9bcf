"""Arena training on one real local Ray instance (started once for the module).

A league file holding the heuristic and two checkpoints of freshly initialised policies (seeds 1
and 2): a real rollout worker actor draws red's opponent per env copy and fetches each
checkpoint's weights once from the object store; the rows those opponents drive never reach the
loss (garbage spliced into them changes neither the learner's loss nor its gradients nor the
update); a short arena run through the Orchestrator snapshots into the league and logs league/.
"""

import dataclasses
import shutil

import gymnasium as gym
import numpy as np
import pytest
import torch

from echelon.actors.league_link import LeagueLink
from echelon.actors.orchestrator import Orchestrator
from echelon.actors.rollout_worker import RolloutWorker
from echelon.actors.worker_set import WorkerSet
from echelon.checkpoint import Counters, TrainingState, build_payload, save_checkpoint
from echelon.config import config_to_dict, load_config
from echelon.env.vec_env import EchelonVecEnv
from echelon.league.glicko2 import ANCHOR_RD
from echelon.league.league import League
from echelon.league.signature import env_signature
from echelon.metrics import names as N
from echelon.model.loading import load_policy
from echelon.ppo.learner import Learner
from echelon.ppo.loss import segment_loss

from helpers_ray import SMOKE, assert_valid_log, read_log, updates_of

ray = pytest.importorskip("ray")

pytestmark = [pytest.mark.ray, pytest.mark.timeout(300)]

# 6 s matches (24 decisions): a 32-step fragment ends a match in every copy, so snapshots have
# results to rate. No curriculum: league heuristics play at their entries' fire probabilities.
ARENA = ["ray.address=local", "env.episode_seconds=6.0", "ray.curriculum_fire_prob_start=null",
         "curriculum.stages=[]",
         "league.sampling=uniform", "league.heuristic_fraction=0.2"]
TIMING = ("learn_s", "learner_prepare_s", "learner_forward_s", "learner_backward_s", "update_s")


@pytest.fixture(scope="module")
def local_ray():
    ctx = ray.init(address="local", num_cpus=2, include_dashboard=False, logging_level="warning")
    yield ctx
    ray.shutdown()


@pytest.fixture(scope="module")
def league_file(tmp_path_factory):
    """A league of heuristic@1.0 and candidates c1, c2 (fresh policies, seeds 1 and 2)."""
    home = tmp_path_factory.mktemp("league")
    cfg = load_config(SMOKE, ARENA)
    env = EchelonVecEnv(cfg.env, 1)
    league = League.create(home / "league.json", env_signature(cfg), [1.0])
    for seed in (1, 2):
        torch.manual_seed(seed)
        learner = Learner(cfg, env.single_observation_space, env.single_action_space)
        state = TrainingState(learner=learner.state_dict(), counters=Counters(), config=config_to_dict(cfg),
                              run_id=f"init{seed}")
        league.add_candidate(f"c{seed}", save_checkpoint(home / f"init{seed}", 0, build_payload(state)))
    league.save()
    return home / "league.json"


def _cfg(league_path, *extra):
    return load_config(SMOKE, [*ARENA, f"league.path={league_path}", *extra])


def _garbage(frag, rows, seed, action_space):
    """``frag`` with random finite obs, actions, rewards, log-probs, values, flags and start
    states in ``rows`` (every step); everything else shared."""
    rng = np.random.default_rng(seed)

    def junk(a):
        a = np.array(a, copy=True)
        if a.dtype.kind == "f" and a.ndim >= 2 and a.shape[1] == frag.R:
            a[:, rows] = rng.normal(0.0, 5.0, a[:, rows].shape)
        return a

    def junk_action(space, a):
        # Random actions of the right kind (a log-probability must exist for them).
        a = np.array(a, copy=True)
        if isinstance(space, gym.spaces.Discrete):
            a[:, rows] = rng.integers(0, space.n, a[:, rows].shape)
        elif isinstance(space, gym.spaces.MultiBinary):
            a[:, rows] = rng.integers(0, 2, a[:, rows].shape)
        else:
            a[:, rows] = rng.uniform(-1.0, 1.0, a[:, rows].shape)
        return a

    flags = {k: np.array(getattr(frag, k), copy=True) for k in ("terminated", "truncated", "episode_start")}
    for a in flags.values():
        a[:, rows] = rng.random(a[:, rows].shape) < 0.2
    h, c = np.array(frag.state0.h, copy=True), np.array(frag.state0.c, copy=True)
    h[rows], c[rows] = rng.normal(size=h[rows].shape), rng.normal(size=c[rows].shape)
    last_obs, last_values = np.array(frag.last_obs, copy=True), np.array(frag.last_values, copy=True)
    last_obs[rows], last_values[rows] = rng.normal(size=last_obs[rows].shape), rng.normal(size=len(rows))
    return dataclasses.replace(
        frag, obs=junk(frag.obs), logprobs=junk(frag.logprobs), values=junk(frag.values),
        rewards=junk(frag.rewards), final_values=junk(frag.final_values),
        actions={k: junk_action(action_space[k], v) for k, v in frag.actions.items()}, **flags,
        state0=type(frag.state0)(h, c), last_obs=last_obs, last_values=last_values)


def _loss_and_grads(learner, frag):
    """The PPO loss over every segment of ``frag`` and its gradient, from the learner's state."""
    buf = learner._prepare([frag])
    learner.policy.zero_grad(set_to_none=True)
    loss, stats = segment_loss(learner.policy, buf.minibatch(torch.arange(buf.S)), learner.cfg.ppo,
                               learner.cfg.ppo.burn_in)
    loss.backward()
    grads = {n: p.grad.clone() for n, p in learner.policy.named_parameters() if p.grad is not None}
    return float(loss.detach()), {k: float(v) for k, v in stats.items()}, grads


def _twin_learners(cfg, spaces, n):
    first = Learner(cfg, *spaces)
    out = [first]
    for _ in range(n - 1):
        twin = Learner(cfg, *spaces)
        twin.load_state_dict(first.state_dict())
        out.append(twin)
    return out


def test_red_plays_league_opponents_per_copy_and_their_rows_never_reach_the_loss(local_ray, league_file, tmp_path):
    cfg = _cfg(league_file, "rollout.num_envs=8")
    worker = ray.remote(RolloutWorker).options(num_cpus=1).remote(cfg, 0)
    try:
        spaces = ray.get(worker.spaces.remote())
        workers = WorkerSet([worker])
        LeagueLink(cfg, tmp_path / "run", "t0", workers)  # publishes the first opponent set
        learner = Learner(cfg, *spaces)
        ray.get([worker.set_weights.remote(0, ray.put(learner.get_weights()[1])),
                 worker.set_league.remote(workers.league[1])])
        header_ref, frag_ref = worker.sample.options(num_returns=2).remote()
        header, frag, report = ray.get(header_ref), ray.get(frag_ref), ray.get(worker.arena_report.remote())
    finally:
        ray.kill(worker, no_restart=True)

    # Within this one fragment, red played both league checkpoints across the 8 copies, and each
    # checkpoint's weights crossed the object store once.
    in_fragment = {o for played in report["played"] for o in played}
    assert {"c1", "c2"} <= in_fragment, report
    assert report["fetches"] == {"c1": 1, "c2": 1}
    assert header.matches and {m[0] for m in header.matches} <= {"c1", "c2", "heuristic@1.0"}

    # No self-play here: every red row is an opponent's, invalid at every step; blue rows learn.
    env = EchelonVecEnv(dataclasses.replace(cfg.env, red="policy"), 8)
    red = np.asarray(env.row_team) == 1
    assert frag.R == env.num_rows and not frag.valid[:, red].any() and frag.valid[:, ~red].any()

    opponent_rows = np.nonzero(red)[0]
    spliced = _garbage(frag, opponent_rows, 1, spaces[1])
    assert not np.array_equal(spliced.obs, frag.obs)
    a, b, control = _twin_learners(cfg, spaces, 3)
    loss_a, stats_a, grads_a = _loss_and_grads(a, frag)
    loss_b, stats_b, grads_b = _loss_and_grads(b, spliced)
    assert loss_a == loss_b and stats_a == stats_b
    assert grads_a.keys() == grads_b.keys() and all(torch.equal(grads_a[k], grads_b[k]) for k in grads_a)
    # The control: the same garbage in learning (blue) rows does change the loss.
    loss_c, _, _ = _loss_and_grads(control, _garbage(frag, np.nonzero(~red)[0][:5], 1, spaces[1]))
    assert loss_c != loss_a

    # A whole update (epochs, minibatches, normalisers, Adam) from the same state: same stats, same weights.
    a, b = _twin_learners(cfg, spaces, 2)
    torch.manual_seed(0)
    up_a = a.update([frag])
    torch.manual_seed(0)
    up_b = b.update([spliced])
    assert {k: v for k, v in up_a.items() if k not in TIMING} == {k: v for k, v in up_b.items() if k not in TIMING}
    wa, wb = a.get_weights()[1], b.get_weights()[1]
    assert all(torch.equal(wa[k], wb[k]) for k in wa)


def test_arena_run_snapshots_into_the_league_and_logs_league_metrics(local_ray, league_file, tmp_path):
    # The run rewrites its league: play a copy (with its checkpoints) and keep the module's pristine.
    path = shutil.copytree(league_file.parent, tmp_path / "league") / league_file.name
    # With an imitation prior that fades at 256 env steps (update 2 of 4): the driver stops asking
    # the worker for the teacher's actions once it has, so the last updates train without it.
    cfg = _cfg(path, "league.snapshot_every=2", "learner.total_env_steps=512", "learner.checkpoint_every=4",
               "ppo.bc_coef=0.5", "ppo.bc_env_steps=256")
    run_dir = tmp_path / "run"
    result = Orchestrator(cfg, run_dir).run()
    assert result.stopped_by == "done" and result.counters["update"] == 4

    ups = updates_of(read_log(run_dir))
    assert [r[N.TRAIN_UPDATE] for r in ups] == [1, 2, 3, 4]
    assert ups[0][N.TRAIN_BC_COEF] == 0.5 and np.isfinite(ups[0][N.TRAIN_BC_LOSS])
    assert N.TRAIN_BC_LOSS not in ups[-1] and N.TRAIN_BC_COEF not in ups[-1]
    for r in ups:
        assert r[N.LEAGUE_POOL_SIZE] >= 2  # c1, c2 (the learner's own snapshot is kept out)
        if r[N.LEAGUE_WINDOW_MATCHES]:
            mix = [r[k] for k in (N.LEAGUE_MIX_HEURISTIC, N.LEAGUE_MIX_CANDIDATE, N.LEAGUE_MIX_COMMANDER,
                                  N.LEAGUE_MIX_SELF)]
            assert sum(mix) == pytest.approx(1.0) and r[N.LEAGUE_MIX_SELF] == 0.0
    assert N.LEAGUE_RATING not in ups[0]  # no snapshot yet
    assert all(N.LEAGUE_RATING in r and N.LEAGUE_RD in r for r in ups[1:])
    assert ups[-1][N.LEAGUE_WINDOW_MATCHES] > 0
    assert ups[1][N.LEAGUE_RD] < 350.0  # the first snapshot was rated on the matches before it

    league = League.load(path)
    run_id = ups[0][N.RUN_ID]
    snaps = [league.get(f"{run_id}:{u}") for u in (2, 4)]
    assert league.periods == 2
    for update, entry in zip((2, 4), snaps, strict=True):
        assert entry.kind in ("candidate", "commander") and entry.games > 0
        assert entry.meta == {"run_id": run_id, "update": update, "env_steps": 128 * update}
        ckpt = league.checkpoint_path(entry)
        assert ckpt == (run_dir / "league" / "checkpoints" / f"ckpt_{update:08d}.pt").resolve()
        assert load_policy(ckpt).info["update"] == update  # a policy arena.py / eval_policy can play
    assert ups[-1][N.LEAGUE_RATING] == pytest.approx(snaps[1].rating)
    heuristic = league.get("heuristic@1.0")  # the anchor: its games count, its rating stays
    assert heuristic.games > 0 and (heuristic.rating, heuristic.rd) == (1500.0, ANCHOR_RD)
    assert_valid_log(run_dir)


def test_snapshots_of_a_replayed_update_get_their_own_entry_and_a_resume_finds_the_newest(local_ray, league_file,
                                                                                         tmp_path):
    # A run resumed from a checkpoint older than its last snapshot replays that update: the entry
    # already in the league keeps its file and rating, the replay gets its own.
    home = shutil.copytree(league_file.parent, tmp_path / "league")
    cfg = _cfg(home / league_file.name)
    spaces = EchelonVecEnv(cfg.env, 1)
    model = Learner(cfg, spaces.single_observation_space, spaces.single_action_space).get_weights()[1]
    run_dir = tmp_path / "run"
    link = LeagueLink(cfg, run_dir, "rr", WorkerSet([]))
    assert link.current is None and link.workers.league[0] == 1
    first = link.snapshot(2, 256, model)
    again = LeagueLink(cfg, run_dir, "rr", WorkerSet([]))  # the resumed driver
    assert again.current == first == "rr:2"
    replay = again.snapshot(2, 256, model)
    assert replay == "rr:2~1"
    league = League.load(home / league_file.name)
    paths = {league.checkpoint_path(league.get(i)) for i in (first, replay)}
    assert paths == {(run_dir / "league" / "checkpoints" / "ckpt_00000002.pt").resolve(),
                     (run_dir / "league" / "replay1" / "checkpoints" / "ckpt_00000002.pt").resolve()}
    assert LeagueLink(cfg, run_dir, "rr", WorkerSet([])).current == "rr:2~1"
    # Its opponent set leaves the learner's own newest snapshot out of the pool.
    assert "rr:2~1" not in again.sampler.ids and "rr:2" in again.sampler.ids
