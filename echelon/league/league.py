"""The league: rated entries in one JSON file, rating periods, promotion, retirement.

File layout (``schema_version`` 1, docs/league.md)::

    {"format": "echelon-league", "schema_version": 1, "created": <s since epoch>,
     "tau": 0.5, "periods": <rating periods recorded>, "env_signature": {...},
     "settings": {<the league: config section it was made with>},
     "entries": [{"id", "kind", "name", "checkpoint", "rating", "rd", "volatility",
                  "games", "created", "meta"}, ...]}

``kind`` is ``candidate`` (a snapshot waiting to prove itself), ``commander`` (in the opponent
pool for good), ``retired`` (out of the pool; kept with its history, never deleted) or
``fixed`` (the heuristic at one fire probability, id ``heuristic@<p>``, no checkpoint: every
rating shares one scale with it). A candidate's ``checkpoint`` is stored relative to the league
file's folder when it lies under it (the league and its snapshots move together), else absolute.
Every save writes a temp file and renames it over the old one.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Optional, Sequence, Union

from echelon.league import glicko2
from echelon.league.signature import signature_differences

log = logging.getLogger(__name__)

FORMAT = "echelon-league"
SCHEMA_VERSION = 1
KINDS = ("candidate", "commander", "retired", "fixed")
SCORES = (0.0, 0.5, 1.0)


class LeagueError(RuntimeError):
    """A league file or request is unusable; the message says what and what to do."""


def fixed_id(fire_prob: float) -> str:
    """Id of the heuristic entry at ``fire_prob``: ``heuristic@1.0``, ``heuristic@0.5``."""
    return f"heuristic@{float(fire_prob)!r}"


@dataclass
class Entry:
    """One rated policy. ``rating``/``rd`` in Glicko rating points; ``created`` seconds since the epoch."""

    id: str
    kind: str
    name: str
    checkpoint: Optional[str] = None
    rating: float = glicko2.START_RATING
    rd: float = glicko2.START_RD
    volatility: float = glicko2.START_VOLATILITY
    games: int = 0
    created: float = 0.0
    meta: dict = field(default_factory=dict)

    @property
    def glicko(self) -> glicko2.Rating:
        return glicko2.Rating(self.rating, self.rd, self.volatility)

    @property
    def conservative(self) -> float:
        return glicko2.conservative(self.rating, self.rd)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Any, where: str) -> "Entry":
        if not isinstance(data, dict):
            raise LeagueError(f"{where} is a {type(data).__name__}, expected an object")
        names = {f.name for f in dataclasses.fields(cls)}
        missing = [k for k in ("id", "kind", "name", "rating", "rd", "volatility", "games") if k not in data]
        unknown = sorted(set(data) - names)
        if missing or unknown:
            raise LeagueError(f"{where} lacks {missing} / has unknown fields {unknown}")
        numbers = {k: data[k] for k in ("rating", "rd", "volatility", "games", "created") if k in data}
        bad = [k for k, v in numbers.items() if isinstance(v, bool) or not isinstance(v, (int, float))]
        if bad or not isinstance(data["id"], str) or not isinstance(data.get("meta", {}), dict):
            raise LeagueError(f"{where} has values of the wrong type (fields {bad or ['id', 'meta']})")
        entry = cls(**data)
        if entry.kind not in KINDS:
            raise LeagueError(f"{where} has kind {entry.kind!r}; expected one of {'|'.join(KINDS)}")
        if not (entry.rd > 0 and entry.volatility > 0 and entry.games >= 0):
            raise LeagueError(f"{where} has rd={entry.rd}, volatility={entry.volatility}, games={entry.games}")
        return entry


def _rank_key(entry: Entry) -> tuple[float, float]:
    # Highest conservative rating first; ties to the older entry.
    return (-entry.conservative, entry.created)


class League:
    """A league in memory; :meth:`save` writes it back to ``path``. Entries keep insertion order."""

    def __init__(self, path: Union[str, Path], env_signature: dict[str, Any], entries: Iterable[Entry] = (),
                 tau: float = glicko2.TAU, periods: int = 0, created: Optional[float] = None,
                 settings: Optional[dict] = None) -> None:
        self.path = Path(path)
        self.env_signature = dict(env_signature)
        self.entries: dict[str, Entry] = {}
        self.tau = float(tau)
        self.periods = int(periods)
        self.created = time.time() if created is None else float(created)
        self.settings = dict(settings or {})
        for entry in entries:
            self.add(entry)

    # ---- file ---------------------------------------------------------------------------------

    @classmethod
    def create(cls, path: Union[str, Path], env_signature: dict[str, Any], fixed_fire_probs: Sequence[float] = (1.0,),
               tau: float = glicko2.TAU, settings: Optional[dict] = None, overwrite: bool = False) -> "League":
        """A new league with one fixed heuristic entry per fire probability, saved to ``path``."""
        path = Path(path)
        if path.exists() and not overwrite:
            raise LeagueError(f"league file {str(path)!r} already exists; pick another path or delete it first")
        league = cls(path, env_signature, tau=tau, settings=settings)
        now = league.created
        for p in fixed_fire_probs:
            league.add(Entry(fixed_id(p), "fixed", f"heuristic, fire probability {float(p)!r}", created=now,
                             rd=glicko2.ANCHOR_RD, meta={"fire_prob": float(p)}))
        league.save()
        return league

    @classmethod
    def load(cls, path: Union[str, Path]) -> "League":
        """Read and check a league file; :class:`LeagueError` for a missing, corrupt or foreign one."""
        path = Path(path)
        redo = "restore it from a copy, or make a new league with scripts/arena.py init"
        if not path.is_file():
            raise LeagueError(f"no league file at {str(path)!r}; make one with scripts/arena.py init "
                              f"--config <run config> {path}")
        try:
            data = json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise LeagueError(f"league file {str(path)!r} is corrupt (not valid JSON: {exc}); {redo}") from None
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            got = data.get("format") if isinstance(data, dict) else type(data).__name__
            raise LeagueError(f"{str(path)!r} is not an Echelon league file (format {got!r}, expected {FORMAT!r})")
        version = data.get("schema_version")
        if version != SCHEMA_VERSION:
            raise LeagueError(f"league file {str(path)!r} has schema_version {version!r}; this code reads "
                              f"schema_version {SCHEMA_VERSION}; use the code that wrote it, or {redo}")
        missing = [k for k in ("env_signature", "entries", "tau", "periods", "created") if k not in data]
        if missing or not isinstance(data["entries"], list) or not isinstance(data["env_signature"], dict):
            raise LeagueError(f"league file {str(path)!r} is corrupt (missing or malformed {missing or 'entries'}); "
                              f"{redo}")
        entries = [Entry.from_dict(e, f"league file {str(path)!r}, entry #{i}") for i, e in enumerate(data["entries"])]
        try:
            return cls(path, data["env_signature"], entries, data["tau"], data["periods"], data["created"],
                       data.get("settings"))
        except LeagueError as exc:
            raise LeagueError(f"league file {str(path)!r} is corrupt ({exc}); {redo}") from None

    def to_dict(self) -> dict[str, Any]:
        return {"format": FORMAT, "schema_version": SCHEMA_VERSION, "created": self.created, "tau": self.tau,
                "periods": self.periods, "env_signature": self.env_signature, "settings": self.settings,
                "entries": [e.to_dict() for e in self.entries.values()]}

    def save(self) -> None:
        """Write the league atomically (temp file in the same folder, fsync, rename)."""
        text = json.dumps(self.to_dict(), indent=1, allow_nan=False) + "\n"
        folder = self.path.parent
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".tmp_{self.path.name}.", dir=folder)
        try:
            with os.fdopen(fd, "w") as fh:
                fh.write(text)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise

    def check_signature(self, signature: dict[str, Any], what: str) -> None:
        """Raise :class:`LeagueError` naming the first differing field (both values) and the rest."""
        diffs = signature_differences(self.env_signature, signature)
        if not diffs:
            return
        key, ours, theirs = diffs[0]
        more = f" (also differs: {', '.join(d[0] for d in diffs[1:])})" if len(diffs) > 1 else ""
        raise LeagueError(
            f"{what} does not fit league {str(self.path)!r}: {key} is {ours!r} in the league but {theirs!r} in "
            f"{what}{more}; add only policies of the league's env, or make a new league for this env with "
            "scripts/arena.py init")

    # ---- entries ------------------------------------------------------------------------------

    def add(self, entry: Entry) -> Entry:
        if entry.id in self.entries:
            raise LeagueError(f"league {str(self.path)!r} already has an entry {entry.id!r}; choose another id")
        if entry.kind not in KINDS:
            raise LeagueError(f"entry {entry.id!r}: kind {entry.kind!r} is not one of {'|'.join(KINDS)}")
        self.entries[entry.id] = entry
        return entry

    def add_candidate(self, entry_id: str, checkpoint: Union[str, Path], name: Optional[str] = None,
                      meta: Optional[dict] = None, created: Optional[float] = None) -> Entry:
        """Add a checkpoint as a new candidate at the start rating (the caller checked its signature)."""
        path = Path(checkpoint).resolve()
        home = self.path.resolve().parent
        stored = str(path.relative_to(home)) if path.is_relative_to(home) else str(path)
        return self.add(Entry(entry_id, "candidate", name or entry_id, stored,
                              created=time.time() if created is None else float(created), meta=dict(meta or {})))

    def get(self, entry_id: str) -> Entry:
        if entry_id not in self.entries:
            raise LeagueError(f"league {str(self.path)!r} has no entry {entry_id!r}; it has {list(self.entries)}")
        return self.entries[entry_id]

    def checkpoint_path(self, entry: Entry) -> Path:
        """The entry's checkpoint as a usable path (relative ones are under the league's folder)."""
        if entry.checkpoint is None:
            raise LeagueError(f"entry {entry.id!r} ({entry.kind}) has no checkpoint")
        path = Path(entry.checkpoint)
        return path if path.is_absolute() else self.path.resolve().parent / path

    def find_by_checkpoint(self, checkpoint: Union[str, Path]) -> Optional[Entry]:
        target = Path(checkpoint).resolve()
        for entry in self.entries.values():
            if entry.checkpoint is not None and self.checkpoint_path(entry).resolve() == target:
                return entry
        return None

    def of_kind(self, *kinds: str) -> list[Entry]:
        return [e for e in self.entries.values() if e.kind in kinds]

    def ranked(self, *kinds: str) -> list[Entry]:
        """Entries of ``kinds`` (all when none given), best conservative rating first."""
        chosen = self.of_kind(*kinds) if kinds else list(self.entries.values())
        return sorted(chosen, key=_rank_key)

    # ---- ratings, promotion, retirement -------------------------------------------------------

    def record_period(self, results: Sequence[tuple[str, str, float]]) -> None:
        """Apply one Glicko-2 rating period: ``results`` is ``[(a_id, b_id, score_for_a)]`` with
        scores 1 (a won), 0.5 (draw) or 0 (a lost). Every entry without a game has its RD grow.
        Fixed entries (the heuristic) are anchors: their games count, their rating never moves.
        Raises :class:`LeagueError` for an unknown id, a self-match or another score; nothing
        changes then. The caller saves."""
        for a, b, score in results:
            for key in (a, b):
                self.get(key)
            if a == b:
                raise LeagueError(f"result ({a!r}, {b!r}, {score}): an entry cannot play itself")
            if float(score) not in SCORES:
                raise LeagueError(f"result ({a!r}, {b!r}, {score}): the score must be 1, 0.5 or 0 (for {a!r})")
        new = glicko2.rate_period({k: e.glicko for k, e in self.entries.items()},
                                  [(a, b, float(s)) for a, b, s in results], self.tau)
        for a, b, _ in results:
            self.entries[a].games += 1
            self.entries[b].games += 1
        for key, rating in new.items():
            entry = self.entries[key]
            if entry.kind == "fixed":
                # The anchors of the scale: were they rated, a run whose early snapshots lose most
                # of their games would lift the heuristic, and a later snapshot with a better
                # record could be rated below an earlier, weaker one (measured in a 15-minute
                # arena run: the update-150 snapshot, 30% against the heuristic, at 1983; the
                # update-800 one, 54%, at 1602).
                continue
            entry.rating, entry.rd, entry.volatility = rating
        self.periods += 1

    def promote(self, top_k: int) -> list[Entry]:
        """Make commanders of the candidates whose conservative rating is in the top ``top_k`` of
        candidates and commanders together; a candidate with no rated game is never promoted (its
        rating says nothing yet). Returns the promoted entries, best first."""
        top = self.ranked("candidate", "commander")[:top_k]
        promoted = [e for e in top if e.kind == "candidate" and e.games > 0]
        for entry in promoted:
            entry.kind = "commander"
        return promoted

    def retire_commanders(self, keep_top: int, min_games: int) -> list[Entry]:
        """Retire the commanders ranked below ``keep_top`` by conservative rating, except those with
        fewer than ``min_games`` games (their rating is still too uncertain to judge). Retired entries
        get ``kind = "retired"`` and stay in the file. Returns them, best first."""
        retired = [e for e in self.ranked("commander")[keep_top:] if e.games >= min_games]
        for entry in retired:
            entry.kind = "retired"
        return retired

    def pool(self, recent_candidates: int) -> list[Entry]:
        """The league opponents: every commander plus the ``recent_candidates`` newest candidates."""
        order = {k: i for i, k in enumerate(self.entries)}
        candidates = sorted(self.of_kind("candidate"), key=lambda e: (e.created, order[e.id]))
        recent = candidates[len(candidates) - recent_candidates:] if recent_candidates > 0 else []
        return self.of_kind("commander") + recent


def resolve_run_league(cfg: Any, run_dir: Union[str, Path]) -> Any:
    """``league.path: run``: the run's own league, ``RUN_DIR/league.json``.

    Made at the first start as ``scripts/arena.py init`` makes one (one heuristic entry per
    ``league.fixed_fire_probs``, the ``league`` section as ``settings``) and found again, its env
    signature checked, by a resumed run. Returns the config (a ``TrainConfig``) with that absolute
    path, which is what the checkpoints record; any other config comes back unchanged. Raises
    :class:`LeagueError` when the run dir's league was made for another env.
    """
    from echelon.config import RUN_LEAGUE, config_to_dict
    from echelon.league.signature import env_signature

    if cfg.league.path != RUN_LEAGUE:
        return cfg
    path = Path(run_dir).absolute() / "league.json"
    if path.exists():
        League.load(path).check_signature(env_signature(cfg), "this run's config")
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        kept = {k: v for k, v in config_to_dict(cfg.league).items() if k != "path"}
        League.create(path, env_signature(cfg), cfg.league.fixed_fire_probs, cfg.league.tau, kept)
        log.info("created this run's league %s (league.path: run)", path)
    return dataclasses.replace(cfg, league=dataclasses.replace(cfg.league, path=str(path)))
