"""The one atomic writer (``weights.files.atomic_write``) and its folder form: all or nothing, no
temporary left behind whatever fails, explicit modes, and a dead writer's leftovers cleaned up."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tt_forge_models.weights import files


def _listing(folder):
    return sorted(p.name for p in folder.iterdir())


def test_a_write_lands_with_mode_0644_and_nothing_beside_it(tmp_path):
    target = tmp_path / "sub" / "w.bin"
    assert files.atomic_write(target, lambda tmp: tmp.write_bytes(b"new")) == target
    assert target.read_bytes() == b"new" and target.stat().st_mode & 0o777 == 0o644
    assert _listing(target.parent) == ["w.bin"]


@pytest.mark.parametrize("error", [OSError("disk full"), ValueError("bad digest"), KeyboardInterrupt()])
def test_a_failing_write_leaves_no_temporary_and_the_old_file_intact(tmp_path, error):
    target = tmp_path / "w.bin"
    target.write_bytes(b"old")
    seen = []

    def write(tmp):
        seen.append(tmp)
        assert tmp.parent == tmp_path and tmp.name.startswith(f".w.bin.{os.getpid()}.") and tmp.suffix == ".tmp"
        tmp.write_bytes(b"half")
        raise error

    with pytest.raises(type(error)):
        files.atomic_write(target, write)
    assert target.read_bytes() == b"old" and _listing(tmp_path) == ["w.bin"] and not seen[0].exists()


def test_a_failing_rename_leaves_no_temporary(tmp_path, monkeypatch):
    def fail(src, dst):
        raise OSError("cross-device")

    monkeypatch.setattr(files.os, "replace", fail)
    with pytest.raises(OSError, match="cross-device"):
        files.atomic_write(tmp_path / "w.bin", lambda tmp: tmp.write_bytes(b"x"))
    assert _listing(tmp_path) == []


def test_every_file_writer_goes_through_it(tmp_path, monkeypatch):
    """save_safetensors, the verified download, the Darknet writer and the export folder."""
    import torch

    from tt_forge_models.darknet.weights_file import write_darknet_weights
    from tt_forge_models.weights import write_export_folder
    from tt_forge_models.yolov4.pytorch.src.yolov4_tiny import YoloV4Tiny

    calls = []
    real = files._temporary

    def spy(path, *, folder=False):
        calls.append(path.name + "/" * folder)
        return real(path, folder=folder)

    monkeypatch.setattr(files, "_temporary", spy)
    model = torch.nn.Linear(2, 2)
    files.save_safetensors(model, tmp_path / "a.safetensors")
    source = tmp_path / "payload"
    source.write_bytes(b"payload")
    with pytest.raises(Exception, match="sha256"):
        files.download_verified(source.as_uri(), tmp_path / "b.bin", sha256="0" * 64)
    write_darknet_weights(YoloV4Tiny(), tmp_path / "c.weights")
    assert calls == ["a.safetensors", "b.bin", "c.weights"]
    assert _listing(tmp_path) == ["a.safetensors", "c.weights", "payload"], "the bad download never landed"
    out = write_export_folder(model, tmp_path / "export", {"model": "m", "variant": "v"})
    assert _listing(out) == ["config.json", "model.safetensors"] and out.stat().st_mode & 0o777 == 0o755
    assert calls[-1] == "export/"


def test_a_failing_folder_write_leaves_nothing_and_keeps_the_old_folder(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "old.txt").write_text("old")

    def write(tmp):
        (tmp / "new.txt").write_text("half")
        raise OSError("disk full")

    with pytest.raises(OSError):
        files.atomic_write_folder(out, write)
    assert _listing(tmp_path) == ["out"] and _listing(out) == ["old.txt"]
    files.atomic_write_folder(out, lambda tmp: (tmp / "new.txt").write_text("new"))
    assert _listing(tmp_path) == ["out"] and _listing(out) == ["new.txt"]


def test_a_killed_writers_temporary_is_removed_by_the_next_write(tmp_path):
    # A process that is gone: its pid names the leftover, as a SIGKILL mid-write would leave it.
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    leftover = tmp_path / f".w.bin.{int(dead.stdout)}.abc123.tmp"
    leftover.write_bytes(b"half")
    live = tmp_path / f".w.bin.{os.getpid()}.def456.tmp"  # ours, maybe still being written
    live.write_bytes(b"busy")
    files.atomic_write(tmp_path / "w.bin", lambda tmp: tmp.write_bytes(b"new"))
    assert _listing(tmp_path) == [live.name, "w.bin"]
