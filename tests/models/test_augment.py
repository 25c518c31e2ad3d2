"""Augmentation: the batched transforms, and that estimators augment training batches only."""

import pickle

import numpy as np
import pytest
import torch
from skorch.callbacks import Callback

from kagdigits.errors import InputError, KagdigitsError
from kagdigits.models.augment import Augment
from kagdigits.models.classifiers import LeNet5Classifier
from kagdigits.models.inputs import to_images
from kagdigits.runs.config import RunConfig

STILL = {"rotation": 0, "zoom": 0, "shift": 0}


def blob(n, row=14, col=14, size=28):
    """``n`` copies of a 2x2 bright square at (row, col) on a black (n, 1, size, size) image."""
    x = torch.zeros(n, 1, size, size)
    x[:, :, row - 1:row + 1, col - 1:col + 1] = 1
    return x


def centre_of_mass(x):
    """(row, col) of each image's centre of mass, in pixels."""
    mass = x.sum(dim=(1, 2, 3))
    idx = torch.arange(x.shape[-1], dtype=x.dtype) + 0.5
    rows = (x.sum(dim=(1, 3)) * idx).sum(1) / mass
    cols = (x.sum(dim=(1, 2)) * idx).sum(1) / mass
    return rows, cols


def test_each_image_gets_its_own_random_warp():
    x = blob(64, 10, 10)
    out = Augment()(x)
    assert out.shape == x.shape and out.dtype == x.dtype
    assert not torch.equal(out, x)
    assert len({tuple(row.tolist()) for row in out.flatten(1).round(decimals=3)}) == 64


def test_all_settings_zero_leave_the_batch_unchanged():
    x = torch.rand(8, 1, 28, 28)
    assert torch.equal(Augment(**STILL)(x), x)


def test_shift_moves_images_by_at_most_the_fraction_given():
    x = blob(256)
    rows, cols = centre_of_mass(Augment(rotation=0, zoom=0, shift=0.1)(x))
    moved = torch.stack([rows - 14, cols - 14])
    assert moved.abs().max() <= 0.1 * 28 + 0.05
    assert moved.abs().max() > 0.07 * 28  # the draws reach near the limit
    assert moved.mean(dim=1).abs().max() < 0.5  # and are centred


def test_rotation_and_zoom_turn_about_the_centre():
    x = blob(256, 6, 14)  # 8 px above the centre
    rows, cols = centre_of_mass(Augment(rotation=30, zoom=0.1, shift=0)(x))
    radius = torch.hypot(rows - 14, cols - 14)
    assert ((radius > 8 * 0.88) & (radius < 8 * 1.12)).all()
    angle = torch.rad2deg(torch.atan2(cols - 14, 14 - rows)).abs()
    assert angle.max() <= 30.5 and angle.max() > 20


def test_elastic_distortion_changes_the_image_smoothly():
    x = to_images(np.random.RandomState(0).randint(0, 256, (4, 784)).astype(np.uint8))
    x = torch.from_numpy(x)
    warped = Augment(**STILL, elastic=8, elastic_sigma=3)(x)
    assert not torch.allclose(warped, x)
    assert 0 <= warped.min() and warped.max() <= 1  # bilinear: no values outside the input's


def test_erasing_blanks_one_rectangle_of_2_to_20_percent():
    x = torch.ones(200, 1, 28, 28)
    out = Augment(**STILL, erase=1.0)(x)
    erased = (out == 0).float().mean(dim=(1, 2, 3))
    assert (erased > 0).all() and erased.max() <= 0.2 + 0.05
    rows_hit = (out == 0).any(dim=3).sum(dim=(1, 2))
    cols_hit = (out == 0).any(dim=2).sum(dim=(1, 2))
    assert torch.equal(rows_hit * cols_hit, (out == 0).sum(dim=(1, 2, 3)))  # rectangles
    assert torch.equal(Augment(**STILL, erase=0.0)(x), x)


def test_flip_mirrors_about_half_the_images_when_asked():
    x = torch.rand(400, 1, 28, 28)
    out = Augment(**STILL, flip=0.5)(x)
    mirrored = (out == x.flip(-1)).flatten(1).all(1)
    assert ((out == x).flatten(1).all(1) | mirrored).all()
    assert 150 < int(mirrored.sum()) < 250


def test_a_seeded_generator_repeats_the_draws():
    x = torch.rand(16, 1, 28, 28)
    augment = Augment(elastic=5, erase=0.5)
    first = augment(x, torch.Generator().manual_seed(3))
    assert torch.equal(first, augment(x, torch.Generator().manual_seed(3)))
    assert not torch.equal(first, augment(x, torch.Generator().manual_seed(4)))


def test_non_image_batches_are_refused():
    with pytest.raises(InputError, match="augment=None"):
        Augment()(torch.rand(4, 784))


class RecordBatches(Callback):
    """Keep (training, X) of every batch the net trains or validates on."""

    def initialize(self):
        self.seen_ = []
        return self

    def on_batch_begin(self, net, batch=None, training=None, **kwargs):
        self.seen_.append((training, batch[0].detach().clone()))


def fit_recording(digits, **params):
    X, y = digits[0][:96], digits[1][:96]
    recorder = RecordBatches()
    params = {"device": "cpu", **params}
    clf = LeNet5Classifier(max_epochs=1, batch_size=32, verbose=0, iterator_train__shuffle=False,
                           callbacks=[("record", recorder)], **params).fit(X, y)
    return clf, recorder.seen_, torch.from_numpy(to_images(X))


def test_estimators_augment_training_batches_only(digits):
    clf, seen, images = fit_recording(digits, augment="affine", precision="fp32")
    train = [x for training, x in seen if training]
    valid = [x for training, x in seen if not training]
    train_rows = set(clf.get_split_datasets(digits[0][:96], digits[1][:96])[0].indices)
    original = images[sorted(train_rows)[:len(train[0])]]
    assert train[0].shape == original.shape and not torch.allclose(train[0], original)
    rows = {tuple(r.tolist()) for r in images.flatten(1)}
    assert all(tuple(r.tolist()) in rows for x in valid for r in x.flatten(1))  # untouched
    proba = clf.predict_proba(digits[0][:96])
    assert np.array_equal(proba, clf.predict_proba(digits[0][:96]))  # no randomness
    clf.module_.eval()
    with torch.no_grad():
        expected = torch.softmax(clf.module_(images), dim=1).numpy()
    assert np.allclose(proba, expected, atol=1e-6)


def test_without_augment_training_batches_are_the_rows_themselves(digits):
    clf, seen, images = fit_recording(digits, augment=None, train_split=None)
    train = torch.cat([x for training, x in seen if training])
    assert torch.equal(train, images)


def test_augment_parameters_are_routed_and_kept(digits):
    clf, seen, images = fit_recording(digits, augment="affine", augment__rotation=0,
                                      augment__zoom=0, augment__shift=0, train_split=None)
    assert torch.equal(torch.cat([x for training, x in seen if training]), images)
    twin = pickle.loads(pickle.dumps(clf))
    assert (twin.augment, twin.augment__rotation) == ("affine", 0)


def test_unknown_augmentation_is_a_one_line_error(digits):
    with pytest.raises(InputError, match="unknown augment 'afine' \\(did you mean affine\\?\\); "
                                         "choose one of: affine, a class"):
        LeNet5Classifier(augment="afine", max_epochs=1, verbose=0).fit(*digits)


def test_cli_checks_augment_parameter_names():
    args = RunConfig("fit", model="lenet5", device="cpu", seed=0, epochs=1,
                     params={"augment__rotation": 15})
    assert args.make_estimator().augment__rotation == 15
    args.params = {"augment__rotaton": 15}
    with pytest.raises(KagdigitsError, match="did you mean augment__rotation"):
        args.make_estimator()
    # augment named in the same --set line: its parameters are checked against it
    args.params = {"augment": "affine", "augment__rotaton": 15}
    with pytest.raises(KagdigitsError, match="did you mean augment__rotation"):
        args.make_estimator()


@pytest.mark.cuda
def test_augments_batches_on_the_gpu(digits):
    x = torch.rand(8, 1, 28, 28, device="cuda")
    out = Augment(elastic=8, erase=0.5, flip=0.5)(x)
    assert out.device == x.device and out.shape == x.shape and not torch.equal(out, x)
    clf, seen, images = fit_recording(digits, augment="affine", device="cuda")
    assert all(x.device.type == "cuda" for _, x in seen)
    assert clf.predict_proba(digits[0][:8]).shape == (8, 10)
