"""A run killed with SIGKILL mid-epoch and resumed ends where the uninterrupted run ends."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap

import pytest
import torch

from brainuad.training import preset, read_checkpoint, train
from brainuad.training.checkpoint import checkpoint_path
from uad_testing import SUM_RTOL

KIND = "vae-ap"


def _config(every: int):
    return preset("tiny").replace(epochs=3, batch_size=2, checkpoint_every=every)


def _killed_run(cache_root, out, every: int, kill_at: int) -> subprocess.CompletedProcess:
    script = textwrap.dedent(
        f"""
        import os, signal, torch
        torch.set_num_threads(1)
        from brainuad.training import preset, train
        cfg = preset("tiny").replace(epochs=3, batch_size=2, checkpoint_every={every})
        def on_step(step):
            if step == {kill_at}:
                os.kill(os.getpid(), signal.SIGKILL)
        train({str(cache_root)!r}, {KIND!r}, {str(out)!r}, cfg, progress=False, on_step=on_step)
        """
    )
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)


@pytest.mark.parametrize(
    ("every", "kill_at", "resumed_from"),
    [(3, 7, 6), (0, 6, 4)],  # mid-epoch checkpoint / end-of-epoch checkpoint (4 steps an epoch)
)
def test_resume_after_sigkill_matches_uninterrupted_run(
    tiny_cache, tmp_path, every, kill_at, resumed_from
):
    ref = train(tiny_cache.root, KIND, tmp_path / "ref", _config(every), progress=False)
    assert ref.global_step == 12

    run = tmp_path / "killed"
    proc = _killed_run(tiny_cache.root, run, every, kill_at)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    _, state = read_checkpoint(checkpoint_path(run, "last"))
    assert state["position"]["global_step"] == resumed_from

    res = train(tiny_cache.root, KIND, run, None, resume=True, progress=False)
    assert res.global_step == 12 and res.epochs_completed == 3

    ref_t, ref_state = read_checkpoint(checkpoint_path(tmp_path / "ref", "last"))
    got_t, got_state = read_checkpoint(checkpoint_path(run, "last"))
    assert set(ref_t) == set(got_t)
    assert any(k.startswith("optim.") for k in got_t)
    for key, value in ref_t.items():
        # one Adam step moves a weight by ~lr = 1e-3: a resume that replayed a wrong batch or
        # noise draw would be off by far more than this rounding-level tolerance
        torch.testing.assert_close(got_t[key], value, rtol=1e-4, atol=1e-5, msg=key)
    for a, b in zip(ref_state["history"], got_state["history"], strict=True):
        assert a["train_loss"] == pytest.approx(b["train_loss"], rel=SUM_RTOL)
        assert a["val_loss"] == pytest.approx(b["val_loss"], rel=SUM_RTOL)
    assert (run / "log.csv").read_text().count("\n") == 4  # header + 3 epochs


def test_resume_can_extend_a_finished_run(tiny_cache, tmp_path):
    cfg = preset("tiny").replace(epochs=1, batch_size=4)
    first = train(tiny_cache.root, "vae", tmp_path / "run", cfg, progress=False)
    assert first.epochs_completed == 1
    more = train(tiny_cache.root, "vae", tmp_path / "run", cfg.replace(epochs=2), resume=True)
    assert more.epochs_completed == 2 and len(more.history) == 2
    again = train(tiny_cache.root, "vae", tmp_path / "run", None, resume=True, progress=False)
    assert again.global_step == more.global_step  # nothing left to do
