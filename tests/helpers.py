"""Helpers the test modules share (fixtures live in conftest.py files)."""


def one_line(exc_info):
    """The message of a raised error, checked to be one line."""
    message = str(exc_info.value)
    assert "\n" not in message and "Traceback" not in message
    return message


def tiny_net(**params):
    """A one-epoch LeNet-5 on the CPU, quiet, without a validation split; ``params`` on top."""
    from kagdigits import LeNet5Classifier

    return LeNet5Classifier(**{"max_epochs": 1, "batch_size": 32, "train_split": None,
                               "device": "cpu", "verbose": 0, **params})
