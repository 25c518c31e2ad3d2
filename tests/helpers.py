"""Helpers the test modules share (fixtures live in conftest.py files)."""

#: One epoch on the CPU, quiet, without a validation split: the tests' tiny estimator settings.
TINY = dict(max_epochs=1, train_split=None, verbose=0, device="cpu")


def one_line(exc_info):
    """The message of a raised error, checked to be one line."""
    message = str(exc_info.value)
    assert "\n" not in message and "Traceback" not in message
    return message


def tiny_net(**params):
    """A one-epoch LeNet-5 on the CPU, quiet, without a validation split; ``params`` on top."""
    from kagdigits import LeNet5Classifier

    return LeNet5Classifier(**{**TINY, "batch_size": 32, **params})


def small_ensemble(**params):
    """Two one-epoch LeNet-5 members (batch 32) on the CPU, quiet, without the recipe;
    ``params`` on top."""
    from kagdigits import EnsembleClassifier

    settings = dict(member="lenet5", n_members=2, max_epochs=1, member_params={"batch_size": 32},
                    recipe=False, device="cpu", verbose=0)
    return EnsembleClassifier(**{**settings, **params})


def run_cli(capsys, *argv):
    """``kagdigits argv`` in this process: its exit code, stdout and stderr."""
    from kagdigits.cli.main import main

    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err
