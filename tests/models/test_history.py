"""Reading a training history: the best validation accuracy, the one helper the summary
line, the ensemble member line, the run listing and the ledger share."""

from skorch.history import History

from kagdigits.models.history import best_score


def test_the_best_score_skips_epochs_without_one():
    history = History([{"epoch": 1, "valid_acc": 0.5}, {"epoch": 2, "valid_acc": None},
                       {"epoch": 3, "valid_acc": 0.75}, {"epoch": 4}])
    assert best_score(history) == 0.75
    assert best_score(history.to_list()) == 0.75  # run.json's plain list too
    assert best_score(history, key="epoch") == 4


def test_no_validation_score_is_none_not_zero():
    assert best_score(History([{"epoch": 1, "train_loss": 0.3}])) is None
    assert best_score([]) is None
