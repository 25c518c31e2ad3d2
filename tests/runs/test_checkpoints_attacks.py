"""Damaged run folders: a damaged or hand-edited checkpoint is one line naming the file;
leftovers are removed; a full disk names the path and the resume.

Part of the attacks on every input kagdigits reads (issue 14): each case asserts that the
attack is refused in one line (or handled) and that nothing runs, hangs or is lost.
"""

import errno

import pytest

from tests.helpers import one_line, tiny_net

# -- damaged run folders (defects 8, 13) --

@pytest.fixture
def one_epoch_run(tmp_path, digits):
    """A run folder checkpointed after epoch 1 of 2 (as if stopped there)."""
    from kagdigits.runs.fitting import fit_run

    X, y = digits[0][:64], digits[1][:64]
    fit_run(tiny_net(), X, y, tmp_path / "run")
    return tmp_path / "run", X, y


DAMAGE = {
    "truncated": lambda data: data[:len(data) // 2],
    "empty": lambda data: b"",
    "garbage": lambda data: b"\x80\x04garbage" * 10,
    "zeros": lambda data: bytes(len(data)),
}


@pytest.mark.parametrize("damage", DAMAGE)
@pytest.mark.parametrize("name", ["tensors.safetensors", "optimizer.pt", "history.json",
                                  "state.json"])
def test_a_damaged_checkpoint_file_is_one_line_naming_it(one_epoch_run, name, damage):
    from kagdigits.runs.checkpoints import CheckpointError
    from kagdigits.runs.fitting import fit_run
    from kagdigits.runs.layout import latest_epoch_dir

    run, X, y = one_epoch_run
    path = latest_epoch_dir(run) / name
    path.write_bytes(DAMAGE[damage](path.read_bytes()))
    with pytest.raises(CheckpointError) as info:
        fit_run(tiny_net(max_epochs=2), X, y, run, resume=True)
    message = one_line(info)
    assert message.startswith(f"{path}: the checkpoint is damaged")
    assert "start the run again" in message


@pytest.mark.parametrize("edit", [
    lambda s: {k: v for k, v in s.items() if k != "net"},
    lambda s: {**s, "callbacks": 5},
    lambda s: {**s, "net": {"plain": 3}},
    lambda s: [s],
])
def test_a_hand_edited_state_json_is_one_line(one_epoch_run, edit):
    import json

    from kagdigits.runs.checkpoints import CheckpointError
    from kagdigits.runs.fitting import fit_run
    from kagdigits.runs.layout import latest_epoch_dir

    run, X, y = one_epoch_run
    path = latest_epoch_dir(run) / "state.json"
    path.write_text(json.dumps(edit(json.loads(path.read_text()))))
    with pytest.raises(CheckpointError, match="state.json: the checkpoint is damaged") as info:
        fit_run(tiny_net(max_epochs=2), X, y, run, resume=True)
    one_line(info)


def test_history_of_another_shape_is_one_line(one_epoch_run):
    from kagdigits.runs.checkpoints import CheckpointError
    from kagdigits.runs.fitting import fit_run
    from kagdigits.runs.layout import latest_epoch_dir

    run, X, y = one_epoch_run
    (latest_epoch_dir(run) / "history.json").write_text('{"epoch": 1}')
    with pytest.raises(CheckpointError, match="history.json: the checkpoint is damaged"):
        fit_run(tiny_net(max_epochs=2), X, y, run, resume=True)


def test_tensors_of_another_model_are_one_line(one_epoch_run):
    from kagdigits.runs.checkpoints import CheckpointError
    from kagdigits.runs.fitting import fit_run

    run, X, y = one_epoch_run
    with pytest.raises(CheckpointError, match="tensors.safetensors: the checkpoint is damaged"):
        fit_run(tiny_net(max_epochs=2, module__batchnorm=True), X, y, run,
                resume=True)


def test_leftover_temporary_folders_are_removed_on_resume(one_epoch_run):
    from kagdigits.runs.fitting import fit_run
    from kagdigits.runs.layout import latest_epoch_dir

    run, X, y = one_epoch_run
    killed = run / ".epoch-0002.k1ll3d.tmp"  # what kill -9 mid-save leaves
    killed.mkdir()
    (killed / "tensors.safetensors").write_bytes(b"\0" * 4096)
    (run / ".best.safetensors.x1.tmp").write_bytes(b"\0" * 10)
    fit_run(tiny_net(max_epochs=2), X, y, run, resume=True)
    assert not list(run.glob(".*.tmp")) and latest_epoch_dir(run).name == "epoch-0002"


def test_restored_seconds_count_the_epochs_before_the_resume(one_epoch_run):
    import json

    from kagdigits.runs.fitting import fit_run, restored_seconds
    from kagdigits.runs.layout import latest_epoch_dir

    run, X, y = one_epoch_run
    first = json.loads((latest_epoch_dir(run) / "history.json").read_text())[0]["dur"]
    resumed = fit_run(tiny_net(max_epochs=2), X, y, run, resume=True)
    assert restored_seconds(resumed) == pytest.approx(first) and first > 0
    assert restored_seconds(fit_run(tiny_net(), X, y, run.parent / "fresh")) == 0


def test_a_full_disk_while_checkpointing_names_the_path_and_the_resume(tmp_path, digits,
                                                                        monkeypatch):
    from kagdigits.runs import checkpoints
    from kagdigits.runs.fitting import fit_run
    from kagdigits.runs.layout import latest_epoch_dir

    write = checkpoints.write_tensors

    def full_disk_at_epoch_2(path, *args, **kwargs):
        if "epoch-0002" in str(path):
            raise OSError(errno.ENOSPC, "No space left on device")
        return write(path, *args, **kwargs)

    monkeypatch.setattr(checkpoints, "write_tensors", full_disk_at_epoch_2)
    X, y = digits[0][:64], digits[1][:64]
    with pytest.raises(checkpoints.CheckpointSaveError) as info:
        fit_run(tiny_net(max_epochs=3), X, y, tmp_path / "run",
                            resume_hint="resume with: kagdigits fit --resume run")
    message = one_line(info)
    assert str(tmp_path / "run" / "epoch-0002") in message and "No space left" in message
    assert message.endswith("resume with: kagdigits fit --resume run")
    assert latest_epoch_dir(tmp_path / "run").name == "epoch-0001"
    assert not list((tmp_path / "run").glob(".*.tmp"))
