"""Ensembles of registered models as one scikit-learn classifier, shaped like scikit-learn's
bagging: members made with their seeds, grouped into stacks (one network each,
:mod:`kagdigits.models.stacked_classifier`), the groups run through joblib, the members'
probabilities averaged. Optional: test-time augmentation and pseudo-labelling.
"""

import numpy as np
import torch
from joblib import Parallel, delayed, effective_n_jobs
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.utils.validation import check_is_fitted, column_or_1d, validate_data
from skorch.dataset import ValidSplit
from skorch.history import History

from kagdigits.errors import InputError
from kagdigits.models.augment import tta_augment, tta_views
from kagdigits.models.constraints import (
    BOOLEAN,
    CALLABLE,
    DICT,
    NONE,
    Integer,
    Number,
    Options,
    kind,
)
from kagdigits.models.device import PRECISIONS
from kagdigits.models.ensemble_progress import UnitProgress, member_summary, members_bar
from kagdigits.models.estimate import duration, fit_seconds, time_training_steps
from kagdigits.models.grouping import chunks, stack_key, stack_size
from kagdigits.models.inputs import to_images, warn_if_unlike_training
from kagdigits.models.params import validate_params
from kagdigits.models.stacked import StackedModule
from kagdigits.models.stacked_classifier import StackedClassifier
from kagdigits.nets import count_params
from kagdigits.registry import get_model_class, register_model

#: The members' recipe of the best-known public digit-recognizer solution (C. Deotte, "25
#: Million Images! [0.99757] MNIST", Kaggle 2018; docs/benchmarks/accuracy.md).
RECIPE = {"augment": "affine", "augment__rotation": 10, "augment__zoom": 0.1,
          "augment__shift": 0.1, "criterion__label_smoothing": 0.0, "lr": 1e-3,
          "lr_schedule": "exponential", "lr_decay": 0.95, "patience": None, "batch_size": 64,
          "max_epochs": 45, "ema": None}


def _spec(value):
    return isinstance(value, str) or hasattr(value, "get_params")


MEMBER = kind("a model name, an unfitted estimator or a non-empty list of them",
              lambda v: _spec(v) or (isinstance(v, list | tuple) and v and all(map(_spec, v))))
N_JOBS = kind("an integer other than 0 (joblib's n_jobs)",
              lambda v: Integer(1).accepts(v) or Integer(-(2 ** 31)).accepts(v) and v < 0)


@register_model("ensemble", kind="ensemble")
class EnsembleClassifier(ClassifierMixin, BaseEstimator):
    """Ensemble of registered models (default: 15 Kaggle CNNs trained with Deotte's recipe,
    :data:`RECIPE`): their mean probabilities.

    Parameters
    ----------
    member : str, estimator or list of them, default="kagglecnn"
        The members' model: a registered name or an unfitted estimator to clone; a list
        is taken in turn (``["kagglecnn", "lenet5"]``, 4 members: k, l, k, l).
    n_members : int, default=15
    member_params : dict or None, default=None
        Parameters set on every member after the recipe, e.g. ``{"lr": 2e-3}``.
    recipe : bool, default=True
        Members named by ``member`` train with :data:`RECIPE` over their model's defaults.
    max_epochs : int or None, default=None
        The members' ``max_epochs`` (``None``: the recipe's, or each model's own).
    n_jobs : int or None, default=None
        Stacks (or lone members) trained at once by joblib, each in its own worker (-1:
        one per core); inside ``joblib.parallel_config(backend="dask")``, on Dask workers.
    stack_size : int, "auto" or None, default="auto"
        Members with one :func:`~kagdigits.models.grouping.stack_key` train as one stacked
        network (:class:`~kagdigits.models.stacked_classifier.StackedClassifier`) of at most
        ``stack_size`` members and what fits in memory (``"auto"``: only that); ``None``:
        one at a time, each exactly a lone fit. Members that cannot stack train alone.
    stack_vectorize : bool or "auto", default="auto"
        Stacks run by ``vmap`` (``"auto"``: on CUDA) or a loop over the members.
    device : str, default="auto"
    random_state : int, default=0
        Member ``i`` is seeded ``random_state + i``, its validation split too.
    tta : int, default=0
        Average each member's probabilities over ``tta`` augmented copies too.
    tta_params : dict or None, default=None
        :class:`~kagdigits.models.augment.Augment` parameters of those copies.
    pseudo_threshold : float or None, default=None
        Pseudo-labelling: rows labelled -1 that the members predict with at least this
        probability join a second round of members with their predicted labels.
    member_callbacks : callable, MemberCallbacks or None, default=None
        ``member_callbacks(index)``: ``(name, callback)`` pairs added to lone member
        ``index`` (a stack gets those of its first member); a :class:`MemberCallbacks`
        also checkpoints stacks, saves finished members and restores them.
    verbose : int, default=1
        1: a bar over the members and a line per member; 2: also the epoch tables.

    Attributes
    ----------
    members_ : list of fitted estimators
    classes_ : ndarray
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        When fitted on a DataFrame with string column names.
    n_pseudo_labelled_ : int
    """

    _parameter_constraints = {
        "member": [MEMBER], "n_members": [Integer(1)], "member_params": [DICT, NONE],
        "recipe": [BOOLEAN], "max_epochs": [Integer(1), NONE], "n_jobs": [N_JOBS, NONE],
        "stack_size": [Integer(1), Options(("auto",)), NONE],
        "stack_vectorize": [BOOLEAN, Options(("auto",))], "random_state": [Integer(0)],
        "tta": [Integer(0)], "tta_params": [DICT, NONE], "pseudo_threshold": [Number(0), NONE],
        "member_callbacks": [CALLABLE, NONE], "verbose": [Integer(0), BOOLEAN],
    }

    def __init__(self, member="kagglecnn", n_members=15, member_params=None, recipe=True,
                 max_epochs=None, n_jobs=None, stack_size="auto", stack_vectorize="auto",
                 device="auto", random_state=0, tta=0, tta_params=None, pseudo_threshold=None,
                 member_callbacks=None, verbose=1):
        self.member = member
        self.n_members = n_members
        self.member_params = member_params
        self.recipe = recipe
        self.max_epochs = max_epochs
        self.n_jobs = n_jobs
        self.stack_size = stack_size
        self.stack_vectorize = stack_vectorize
        self.device = device
        self.random_state = random_state
        self.tta = tta
        self.tta_params = tta_params
        self.pseudo_threshold = pseudo_threshold
        self.member_callbacks = member_callbacks
        self.verbose = verbose

    def new_members(self):
        """The ``n_members`` unfitted members: model, recipe, seed, device, epochs, split."""
        validate_params(self)
        specs = self.member if isinstance(self.member, list | tuple) else [self.member]
        members = []
        for i in range(self.n_members):
            spec, seed = specs[i % len(specs)], self.random_state + i
            member = get_model_class(spec)() if isinstance(spec, str) else clone(spec)
            member.set_params(random_state=seed, device=self.device,
                              verbose=max(self.verbose - 1, 0))
            member.set_params(**(RECIPE if self.recipe and isinstance(spec, str) else {}))
            if self.max_epochs is not None:
                member.set_params(max_epochs=self.max_epochs)
            member.set_params(**(self.member_params or {}))
            split = member.train_split
            if isinstance(split, ValidSplit):
                member.set_params(train_split=type(split)(
                    split.cv, stratified=split.stratified, random_state=seed))
            members.append(member)
        return members

    def initialize(self):
        """Check the parameters and that each kind of member can be built; ``self``."""
        tta_augment(self.tta_params)
        specs = self.member if isinstance(self.member, list | tuple) else [self.member]
        for member in self.new_members()[:len(specs)]:
            member.initialize()
        return self

    def _units(self, members, todo, X, saved):
        """What trains together, as ``(stacked, positions)``: the ``saved`` stacks, stacks
        of one key (``stack_size`` and memory, ``n_jobs`` per key; a stack of one member
        too, so that a member trains the same in any stack), the others alone."""
        units, by_key = [(True, unit) for unit in saved], {}
        for i in (i for i in todo if not any(i in unit for unit in saved)):
            key = None if self.stack_size is None else stack_key(members[i])
            by_key.setdefault(("alone", i) if key is None else key, []).append(i)
        parts = 1 if self.n_jobs is None else effective_n_jobs(self.n_jobs)
        limit = None if self.stack_size in ("auto", None) else self.stack_size
        for key, positions in by_key.items():
            stacked = key[0] != "alone"
            size = stack_size(members[positions[0]], X, limit) if stacked else 1
            units.extend((stacked, chunk) for chunk in chunks(positions, size, parts))
        return sorted(units, key=lambda unit: unit[1])

    def _estimator(self, members, stacked, unit, store, first, watcher):
        """What trains ``unit``: a stack or a lone member, with its callbacks and ``watcher``."""
        lead = members[unit[0]]
        if not stacked:
            added = [*store(first + unit[0]), ("progress", watcher)]
            return lead.set_params(callbacks=[*(lead.callbacks or []), *added])
        added = [*store.stack_callbacks([first + i for i in unit]), ("progress", watcher)]
        return StackedClassifier([members[i] for i in unit], self.stack_vectorize,
                                 callbacks=[*(lead.callbacks or []), *added])

    def _fit_members(self, X, y, first=0):
        """The trained members: those ``member_callbacks`` restores, the others trained
        here or by joblib, each handed to ``member_callbacks.finished`` when done."""
        members, n = self.new_members(), self.n_members
        store = self.member_callbacks
        store = store if isinstance(store, MemberCallbacks) else MemberCallbacks(store)
        saved = [[i - first for i in unit] for unit in store.saved_stacks()
                 if all(first <= i < first + n for i in unit)]
        todo = [i for i, m in enumerate(members) if any(i in unit for unit in saved)
                or store.restored(first + i, m) is None]
        if self.verbose and len(todo) < n:
            print(f"Resuming: {n - len(todo)} of {n} members were trained already; "
                  f"training the other {len(todo)}.", flush=True)
        units = self._units(members, todo, X, saved) if todo else []
        bar = members_bar(len(todo), self.verbose and self.n_jobs is None)
        watchers = [UnitProgress(f"members {', '.join(str(first + i + 1) for i in unit)}/{n}",
                                 bar) for _, unit in units]
        jobs = [self._estimator(members, stacked, unit, store, first, watcher)
                for (stacked, unit), watcher in zip(units, watchers, strict=True)]
        fits = (Parallel(n_jobs=self.n_jobs, return_as="generator")(
            delayed(_fit)(job, X, y) for job in jobs) if self.n_jobs is not None
            else (_fit(job, X, y) for job in jobs))
        try:
            for (_, unit), fitted in zip(units, fits, strict=True):
                for i, member in zip(unit, fitted, strict=True):
                    members[i] = member
                    store.finished(first + i, member)
                    if self.verbose:
                        (bar.write if bar else print)(member_summary(i + 1, n, member))
                store.stack_finished([first + i for i in unit])
                if bar is not None:
                    bar.update(len(unit))
        finally:
            for watcher in watchers:
                watcher.bar = None  # the fitted members pickle
            if bar is not None:
                bar.close()
        return members

    def estimated_cost(self, X, y=None, fits=1):
        """One line: how long :meth:`fit` on ``X`` may take here, the members grouped as
        ``fit`` groups them (each kind of stack or member timed once)."""
        members, steps, seconds = self.new_members(), {}, 0.0
        units = self._units(members, range(len(members)), X, [])
        for stacked, unit in units:
            group = [members[i] for i in unit]
            key = (stack_key(group[0]) if stacked else type(group[0]), len(unit))
            if key not in steps:
                probe = StackedClassifier(group, self.stack_vectorize) if stacked else group[0]
                steps[key] = time_training_steps(probe, X, y)
            seconds += max(fit_seconds(m, len(X), steps[key]) for m in group)
        n_stacks = sum(stacked for stacked, _ in units)
        way = ("one after another" if not n_stacks else "as one stack" if n_stacks == 1
               else f"in {n_stacks} stacks one after another")
        at_once = ("" if self.n_jobs in (None, 1)
                   else f"; n_jobs={self.n_jobs} trains several at once")
        stops = any(m.stops_early for m in members)
        return (f"Ensemble: {len(members)} members x {'up to ' if stops else ''}"
                f"{members[0].max_epochs} epochs on {len(X):,} rows, about {duration(seconds)} "
                f"{way} on {next(iter(steps.values())).hardware}{at_once}"
                f"{' (early stopping can end members sooner)' if stops else ''}."
                f"{f' ({fits} such fits)' if fits > 1 else ''}")

    def _inputs(self, X, reset):
        """``X`` checked by scikit-learn (feature names and count learnt or compared), as a
        NumPy array the members take (images keep their N-D shape)."""
        shape = X.shape[1:] if getattr(X, "ndim", 2) > 2 else None
        flat = np.asarray(X).reshape(len(X), -1) if shape is not None else X
        try:
            flat = validate_data(self, flat, reset=reset, dtype="numeric", ensure_min_samples=1)
        except ValueError as exc:
            raise InputError(" ".join(str(exc).split())) from None
        return flat if shape is None else flat.reshape(len(flat), *shape)

    def fit(self, X, y):
        """Train the members on ``X`` and labels ``y`` (-1: unlabelled); ``self``."""
        validate_params(self)
        tta_augment(self.tta_params)
        if y is None:
            raise InputError(f"{type(self).__name__} requires y to be passed, but the target "
                             "y is None")
        X, y = self._inputs(X, reset=True), column_or_1d(y, warn=True)
        if len(X) != len(y):
            raise InputError(f"X has {len(X)} rows but y has {len(y)} labels; pass one label "
                             "per row")
        unlabelled = y == -1 if y.dtype.kind in "iuf" else np.zeros(len(y), dtype=bool)
        if unlabelled.any() and self.pseudo_threshold is None:
            raise InputError(f"y has {unlabelled.sum()} unlabelled rows (-1); set "
                             "pseudo_threshold to pseudo-label them, or drop them")
        X_labelled, y_labelled = X[~unlabelled], y[~unlabelled]
        self.members_ = self._fit_members(X_labelled, y_labelled)
        self.classes_ = self.members_[0].classes_
        self.n_pseudo_labelled_ = 0
        if unlabelled.any():
            proba = self._proba(X[unlabelled])
            confident = proba.max(axis=1) >= self.pseudo_threshold
            self.n_pseudo_labelled_ = int(confident.sum())
            if self.verbose:
                print(f"Pseudo-labelling: {self.n_pseudo_labelled_} of {unlabelled.sum()} "
                      f"unlabelled rows predicted with p >= {self.pseudo_threshold}; "
                      "training new members with them", flush=True)
            X_all = np.concatenate([X_labelled, X[unlabelled][confident]])
            y_all = np.concatenate([y_labelled, self.classes_[proba[confident].argmax(axis=1)]])
            self.members_ = self._fit_members(X_all, y_all.astype(y_labelled.dtype),
                                              first=self.n_members)
        return self

    def networks(self):
        """The one-network estimators this ensemble is made of: ``members_``, or before
        ``fit`` those it would train."""
        return list(getattr(self, "members_", None) or self.new_members())

    def hardware_summary(self):
        """What the members train on, e.g. ``cpu, bf16 autocast, channels_last`` (the first
        member's choice; they share device and settings)."""
        members = getattr(self, "members_", None) or self.new_members()[:1]
        return members[0].hardware_summary()

    def predict_proba(self, X):
        """The mean of the members' class probabilities (over the TTA copies too); image
        members of one architecture predict in one pass, as a stack."""
        check_is_fitted(self, "members_")
        return self._proba(self._inputs(X, reset=False))

    def _proba(self, X):
        one_pass = self.stack_size is not None and all(
            len(getattr(m, "input_shape_", ())) == 3 and not m.tta
            and m.predict_nonlinearity == "auto" for m in self.members_)
        if one_pass:
            X = to_images(X, shape=self.members_[0].input_shape_)
        views = list(tta_views(to_images(X, shape=self.members_[0].input_shape_), self.tta,
                               self.tta_params, self.random_state)) if self.tta else [X]
        bar = members_bar(len(views) * len(self.members_), self.verbose >= 2,
                          desc="ensemble predict")
        total = 0
        for view in views:
            total = total + (_stacked_proba(self.members_, view) if one_pass
                             else sum(m.predict_proba(view) for m in self.members_))
            if bar is not None:
                bar.update(len(self.members_))
        if bar is not None:
            bar.close()
        return total / (len(views) * len(self.members_))

    def predict(self, X):
        """The label with the highest mean probability; warns when the images look unlike
        training digits (see :meth:`DigitClassifier.predict`)."""
        warn_if_unlike_training(X)
        proba = self.predict_proba(X)
        return self.classes_[proba.argmax(axis=1)]

    @property
    def history(self):
        """The members' training histories one after another (rows carry ``member``)."""
        check_is_fitted(self, "members_")
        return History([{**row, "member": i} for i, member in enumerate(self.members_)
                        for row in member.history])

    #: skorch's name for the same (``net.history_``).
    history_ = history


def _fit(estimator, X, y):
    """Train ``estimator`` (a stack or a lone member); the fitted members."""
    estimator.fit(X, y)
    return estimator.unstack() if isinstance(estimator, StackedClassifier) else [estimator]


def _stacked_proba(members, X):
    """The sum of the fitted image ``members``' probabilities for images ``X``, each group
    of one architecture and format run as one :class:`StackedModule`."""
    groups = {}
    for m in members:
        chosen = m.hardware()
        shapes = tuple((k, tuple(v.shape)) for k, v in m.module_.state_dict().items())
        key = (type(m.module_), shapes, chosen.precision, chosen.channels_last, str(m.device))
        groups.setdefault(key, []).append(m)
    stacks = [StackedModule([m.module_.eval() for m in group], torch.device(key[4]).type == "cuda",
                            key[3], PRECISIONS[key[2]]).eval() for key, group in groups.items()]
    lead = members[0]
    size = lead.get_params_for("iterator_valid").get("batch_size", lead.batch_size)
    X, total = torch.as_tensor(X).to(lead.device), []
    with torch.no_grad():
        for batch in X.split(size):
            total.append(sum(torch.softmax(s(batch, shared=True), -1).sum(0) for s in stacks))
    return torch.cat(total).cpu().numpy()


class MemberCallbacks:
    """What ``member_callbacks`` may be: a callable ``(index) -> [(name, callback), ...]``
    (``function``), and as this class (subclass it:
    :class:`kagdigits.runs.checkpoints.MemberCheckpoints`), also a store of checkpoints
    and trained members."""

    def __init__(self, function=None):
        self.function = function

    def __call__(self, index):
        """Callbacks added to lone member ``index`` (0-based, on through pseudo-labelling)."""
        return [] if self.function is None else list(self.function(index))

    def stack_callbacks(self, indices):
        """Callbacks added to the stack of members ``indices``: its first member's here."""
        return self(indices[0])

    def saved_stacks(self):
        """Lists of member indices whose stack has a checkpoint to resume (none here)."""
        return []

    def restored(self, index, member):
        """``member`` filled in with its trained state to skip training it, or ``None``."""
        return None

    def finished(self, index, member):
        """Called in this process with each trained ``member``, wherever it trained."""

    def stack_finished(self, indices):
        """Called once all members ``indices`` of what trained together are finished."""


def n_parameters(estimator):
    """Trainable parameters of a fitted net, or of all members of a fitted ensemble."""
    return sum(count_params(net.module_) for net in estimator.networks())
