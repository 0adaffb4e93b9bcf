"""The checkpoint format: digest, fallback past damaged or foreign files, set-aside, write errors, RNGs."""

import logging
import os
import random
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch

from echelon.checkpoint import (
    FORMAT,
    CheckpointError,
    Counters,
    TrainingState,
    build_payload,
    capture_rng_state,
    digest_path,
    find_latest_checkpoint,
    list_checkpoints,
    load_checkpoint,
    parse_payload,
    restore_rng_state,
    save_checkpoint,
    set_aside,
)


def _payload(update: int, **extra) -> dict:
    learner = {"model": {"w": torch.full((4,), float(update))}, "optimizer": {"state": {}}, "counters": {}}
    state = TrainingState(learner=learner, counters=Counters(update=update, env_steps=100 * update),
                          config={"seed": 0}, run_id="abc", trace_id=f"abc:{update}", **extra)
    return build_payload(state)


def test_payload_round_trip_through_a_file(tmp_path):
    rng = capture_rng_state()
    path = save_checkpoint(tmp_path, 3, _payload(3, learner_rng=rng, curriculum=0.5))
    assert digest_path(path).read_text().strip() and path.name == "ckpt_00000003.pt"
    state = parse_payload(load_checkpoint(path))
    assert state.counters == Counters(update=3, env_steps=300)
    assert state.run_id == "abc" and state.trace_id == "abc:3" and state.curriculum == 0.5
    assert torch.equal(state.learner["model"]["w"], torch.full((4,), 3.0))
    assert state.driver_rng is None and torch.equal(state.learner_rng["torch"], rng["torch"])


def test_rng_state_round_trip_through_a_checkpoint(tmp_path):
    save_checkpoint(tmp_path, 1, _payload(1, learner_rng=capture_rng_state()))
    expected = (random.random(), float(np.random.rand()), float(torch.rand(1)))
    restore_rng_state(find_latest_checkpoint(tmp_path).state.learner_rng)
    assert (random.random(), float(np.random.rand()), float(torch.rand(1))) == expected


def _flip_middle(path: Path, nbytes: int = 4096) -> None:
    data = bytearray(path.read_bytes())
    mid = len(data) // 2
    for i in range(mid, min(mid + nbytes, len(data))):
        data[i] ^= 0xFF
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("damage", ["flipped", "truncated", "no_digest", "foreign", "no_learner"])
def test_unusable_newest_falls_back_to_the_previous(tmp_path, caplog, damage):
    for u in (2, 4, 6):
        save_checkpoint(tmp_path, u, _payload(u), keep=3)
    newest = list_checkpoints(tmp_path)[-1]
    reason = {"flipped": "SHA-256", "truncated": "SHA-256", "no_digest": "no digest",
              "foreign": "not an Echelon checkpoint", "no_learner": "lacks learner"}[damage]
    if damage == "flipped":
        _flip_middle(newest)
    elif damage == "truncated":
        newest.write_bytes(newest.read_bytes()[:1000])
    elif damage == "no_digest":
        digest_path(newest).unlink()
    elif damage == "foreign":
        save_checkpoint(tmp_path, 6, {"model": {"w": torch.zeros(2)}})  # loads fine, but not ours
    else:
        bad = _payload(6)
        del bad["learner"]
        save_checkpoint(tmp_path, 6, bad)
    before = {p.name: p.read_bytes() for p in list_checkpoints(tmp_path)}
    path, state, skipped = find_latest_checkpoint(tmp_path)
    assert path.name == "ckpt_00000004.pt" and state.counters.update == 4
    assert [p.name for p, _ in skipped] == ["ckpt_00000006.pt"] and reason in skipped[0][1]
    # Finding touches nothing; set_aside keeps the bytes under a name the list ignores, and says why.
    assert {p.name: p.read_bytes() for p in list_checkpoints(tmp_path)} == before
    with caplog.at_level(logging.WARNING, logger="echelon"):
        moved = set_aside(skipped)
    assert reason in caplog.text
    assert [p.name for p in moved] == ["ckpt_00000006.pt.unusable"]
    assert moved[0].read_bytes() == before["ckpt_00000006.pt"]
    assert [p.name for p in list_checkpoints(tmp_path)] == ["ckpt_00000002.pt", "ckpt_00000004.pt"]


def test_no_usable_checkpoint_is_a_clear_error(tmp_path):
    with pytest.raises(CheckpointError, match="no checkpoints under"):
        find_latest_checkpoint(tmp_path)
    save_checkpoint(tmp_path, 1, _payload(1))
    list_checkpoints(tmp_path)[0].write_bytes(b"not a zip")
    with pytest.raises(CheckpointError, match="no usable checkpoint"):
        find_latest_checkpoint(tmp_path)


def test_parse_payload_names_what_is_missing():
    with pytest.raises(CheckpointError, match=f"format {FORMAT!r}"):
        parse_payload({"learner": {}})
    bad = _payload(1)
    bad["learner"] = {"model": {}}
    with pytest.raises(CheckpointError, match="learner.optimizer, learner.counters"):
        parse_payload(bad)


def test_keep_prunes_files_and_their_digests(tmp_path):
    for u in range(1, 5):
        save_checkpoint(tmp_path, u, _payload(u), keep=2)
    names = sorted(p.name for p in (tmp_path / "checkpoints").iterdir())
    assert names == ["ckpt_00000003.pt", "ckpt_00000003.pt.sha256", "ckpt_00000004.pt", "ckpt_00000004.pt.sha256"]


def test_unwritable_dir_names_the_path_and_the_cause(tmp_path):
    save_checkpoint(tmp_path, 1, _payload(1))
    os.chmod(tmp_path / "checkpoints", 0o500)
    try:
        if os.access(tmp_path / "checkpoints", os.W_OK):
            pytest.skip("running as a user that ignores directory permissions")
        with pytest.raises(CheckpointError, match=r"ckpt_00000002\.pt.*Permission denied \(EACCES\)"):
            save_checkpoint(tmp_path, 2, _payload(2))
    finally:
        os.chmod(tmp_path / "checkpoints", 0o700)


@pytest.fixture
def tiny_tmpfs(tmp_path):
    """A 1 MiB tmpfs (root on Linux), else skipped."""
    mnt = tmp_path / "small"
    mnt.mkdir()
    if shutil.which("mount") is None or os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root and mount(8)")
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mnt)], capture_output=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {proc.stderr.decode().strip()}")
    yield mnt
    subprocess.run(["umount", str(mnt)], check=False)


def test_disk_full_names_enospc_and_keeps_older_checkpoints(tiny_tmpfs):
    first = save_checkpoint(tiny_tmpfs, 1, _payload(1))
    kept = first.read_bytes()
    big = _payload(2)
    big["learner"]["model"]["big"] = torch.zeros(512 * 1024)  # 2 MiB: does not fit
    with pytest.raises(CheckpointError, match=r"ckpt_00000002\.pt.*\(ENOSPC\)"):
        save_checkpoint(tiny_tmpfs, 2, big)
    assert [p.name for p in list_checkpoints(tiny_tmpfs)] == ["ckpt_00000001.pt"]
    assert first.read_bytes() == kept and find_latest_checkpoint(tiny_tmpfs).state.counters.update == 1
    assert not [p for p in (tiny_tmpfs / "checkpoints").iterdir() if p.name.startswith(".tmp")]
