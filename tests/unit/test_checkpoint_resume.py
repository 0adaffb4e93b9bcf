"""Checkpoint fallback (corrupt / truncated newest file) and RNG state round trip."""

import random
import warnings

import numpy as np
import pytest
import torch

from echelon.checkpoint import (
    CheckpointError,
    capture_rng_state,
    find_latest_checkpoint,
    list_checkpoints,
    restore_rng_state,
    save_checkpoint,
)


def test_rng_state_round_trip_through_a_checkpoint(tmp_path):
    save_checkpoint(tmp_path, 1, {"rng": capture_rng_state()})
    expected = (random.random(), float(np.random.rand()), float(torch.rand(1)))
    _, payload, _ = find_latest_checkpoint(tmp_path)
    restore_rng_state(payload["rng"])
    assert (random.random(), float(np.random.rand()), float(torch.rand(1))) == expected


def test_truncated_newest_falls_back_with_a_warning_and_touches_nothing(tmp_path):
    for u in (2, 4, 6):
        save_checkpoint(tmp_path, u, {"update": u}, keep=3)
    newest = list_checkpoints(tmp_path)[-1]
    data = newest.read_bytes()
    newest.write_bytes(data[: len(data) // 2])
    before = {p.name: p.read_bytes() for p in list_checkpoints(tmp_path)}
    with pytest.warns(RuntimeWarning, match="corrupt or truncated"):
        path, payload, skipped = find_latest_checkpoint(tmp_path)
    assert payload == {"update": 4} and path.name == "ckpt_00000004.pt"
    assert [p.name for p, _ in skipped] == ["ckpt_00000006.pt"]
    assert {p.name: p.read_bytes() for p in list_checkpoints(tmp_path)} == before


def test_no_usable_checkpoint_is_a_clear_error(tmp_path):
    with pytest.raises(CheckpointError, match="no checkpoints under"):
        find_latest_checkpoint(tmp_path)
    save_checkpoint(tmp_path, 1, {"update": 1})
    list_checkpoints(tmp_path)[0].write_bytes(b"not a zip")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        with pytest.raises(CheckpointError, match="no usable checkpoint"):
            find_latest_checkpoint(tmp_path)
