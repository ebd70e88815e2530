"""Progress in a saved notebook: one final line per loop (``UMI_PROGRESS=final``), and narrow noise filters."""

from __future__ import annotations

import logging
import warnings

from umi_lib import progress


def test_final_mode_prints_only_the_final_state(monkeypatch, capsys):
    monkeypatch.setenv("UMI_PROGRESS", "final")
    bar = progress.tqdm(total=3, desc="static x", unit="step")
    for _ in range(3):
        bar.update(1)
        assert capsys.readouterr().out == ""  # nothing while it runs
    bar.close()
    bar.close()
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and out.startswith("static x: 100%") and "3/3" in out
    assert list(progress.tqdm(range(2), desc="it")) == [0, 1] and "it: 100%" in capsys.readouterr().out
    assert list(progress.tqdm(range(2), desc="inner", leave=False)) == [0, 1] and capsys.readouterr().out == ""


def test_off_and_live_modes(monkeypatch, capsys):
    monkeypatch.setenv("UMI_PROGRESS", "off")
    assert list(progress.tqdm(range(3), desc="quiet")) == [0, 1, 2]
    assert capsys.readouterr().out == "" and not progress.trainer_bars()
    monkeypatch.setenv("UMI_PROGRESS", "nonsense")
    assert progress.mode() == "live" and progress.trainer_bars()


def test_only_the_listed_third_party_noise_is_dropped(caplog):
    progress.quiet_known_noise()
    log = logging.getLogger("bitsandbytes.backends.cpu.ops")
    with caplog.at_level(logging.WARNING):
        log.warning("Failed to load CPU gemm_4bit_forward from kernels-community: %s. Please ...", "x")
        log.warning("a real problem")
    assert [r.getMessage() for r in caplog.records] == ["a real problem"]
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("default")
        progress.quiet_known_noise()
        warnings.warn("`is_gradient_checkpointing` is deprecated (v6)", FutureWarning, stacklevel=1)
        warnings.warn("`other_thing` is deprecated", FutureWarning, stacklevel=1)
    assert [str(w.message) for w in seen] == ["`other_thing` is deprecated"]
