"""Ensembles of registered models as one scikit-learn classifier.

Each member is trained with its own seed and its own stratified validation split
(so each holds out different rows), and the ensemble predicts the mean
of the members' probabilities -- the recipe of the best-known Kaggle
digit-recognizer solutions (15 small CNNs, each on its own random 10% validation
split). Optional: test-time augmentation and pseudo-labelling.
"""

import numpy as np
from joblib import Parallel, delayed, effective_n_jobs
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.utils.validation import check_is_fitted
from skorch.dataset import ValidSplit
from skorch.history import History

from kagdigits.errors import InputError
from kagdigits.models.augment import tta_augment, tta_views
from kagdigits.models.estimate import duration, fit_seconds, time_training_steps
from kagdigits.models.inputs import to_images, warn_if_unlike_training
from kagdigits.models.progress import fit_in_turn, member_progress, member_summary, progress
from kagdigits.models.stacking import (
    chunks,
    fit_stack,
    predicts_stacked,
    stack_key,
    stack_size_for,
    stacked_proba,
)
from kagdigits.nets import count_params
from kagdigits.registry import get_model_class, register_model

#: The members' training recipe of the best-known public digit-recognizer solution
#: (C. Deotte, "25 Million Images! [0.99757] MNIST", Kaggle 2018: 15 such CNNs, 99.745% on
#: MNIST's test set over 100 runs): augmentation of +-10 degrees, +-10% zoom and shift,
#: Adam at lr 1e-3 x0.95 per epoch, batch 64, 45 epochs with no early stopping (the 10%
#: validation split only reports), no weight average. Deotte's split was random, these are
#: stratified. Demo set, 5-fold CV, 5 members: 0.9914, against 0.9894 for 30 epochs with
#: early stopping (patience 5), the recipe here until 2026-12-04 (docs/benchmarks/accuracy.md).
RECIPE = {"augment": "affine", "augment__rotation": 10, "augment__zoom": 0.1,
          "augment__shift": 0.1, "criterion__label_smoothing": 0.0, "lr": 1e-3,
          "lr_schedule": "exponential", "lr_decay": 0.95, "patience": None, "batch_size": 64,
          "max_epochs": 45, "ema": None}


@register_model("ensemble", kind="ensemble")
class EnsembleClassifier(ClassifierMixin, BaseEstimator):
    """Ensemble of registered models (default: 15 Kaggle CNNs trained with Deotte's recipe,
    :data:`RECIPE`): their mean probabilities.

    Parameters
    ----------
    member : str, estimator or list of them, default="kagglecnn"
        The members' model: a registered name (see ``kagdigits.list_models()``) or an
        unfitted estimator to clone. A list mixes models, taken in turn
        (``["kagglecnn", "lenet5"]`` with ``n_members=4``: kagglecnn, lenet5,
        kagglecnn, lenet5).
    n_members : int, default=15
    member_params : dict or None, default=None
        Parameters set on every member after the recipe, key by key, e.g.
        ``{"lr": 2e-3, "augment__rotation": 15}``.
    recipe : bool, default=True
        Train the members named by ``member`` with :data:`RECIPE` (Deotte's augmentation,
        schedule, batch and epochs) over their model's defaults; ``False``: the model's own
        defaults. A ``member`` given as an estimator keeps its own settings.
    max_epochs : int or None, default=None
        The members' ``max_epochs`` (``None``: the recipe's 45, or each model's own).
    n_jobs : int or None, default=None
        Stacks (or, with ``stack_size=None``, members) trained at once by joblib
        (``None``: one at a time in this process; -1: one per CPU core), each in its own
        worker: the members of one architecture are cut into ``n_jobs`` stacks. Inside
        ``joblib.parallel_config(backend="dask")`` they train on Dask workers, with the
        same results as here.
    stack_size : int, "auto" or None, default="auto"
        Members of one architecture (same model and network settings) train as one
        stacked network in one process (:mod:`kagdigits.models.stacking`), each with
        its own weights, optimizer, batch order, augmentation and held-out rows, and
        predict in one pass. A stack holds at most ``stack_size`` members and at most
        as many as fit in memory (half the free GPU memory, or half the host's available
        memory, over a per-member estimate: weights x 6 and a batch's activations x 3);
        ``"auto"``: only that bound. ``None``: members train one at a time as separate
        estimators (as before 2026-12; each member then equals a lone fit bit for bit).
        Members that cannot be stacked (``compile=True``, fp16, a custom iterator or loss,
        ``tta`` of their own) train alone either way.
    device : str, default="auto"
        The members' device.
    random_state : int, default=0
        Member ``i`` gets ``random_state + i`` as its seed, and its validation split
        (when it is a ``skorch.dataset.ValidSplit``, as by default) is drawn with
        that seed too, so every member holds out different rows.
    tta : int, default=0
        Test-time augmentation: each member's probabilities are averaged over the
        images and ``tta`` randomly augmented copies of them (0: off).
    tta_params : dict or None, default=None
        Parameters of the :class:`kagdigits.models.augment.Augment` that makes those
        copies (``None``: :data:`kagdigits.models.augment.TTA_PARAMS`, +-5 degrees, +-5% zoom
        and shift).
    pseudo_threshold : float or None, default=None
        Pseudo-labelling, off by default. Rows whose label is -1 in ``y`` (the
        unlabelled convention of ``sklearn.semi_supervised``), e.g. the test set,
        are used in a second round: the members trained on the labelled rows
        predict them, those predicted with a probability of at least this are
        added with their predicted labels, and new members are trained on the
        lot. Risk: confident mistakes become training labels and get reinforced,
        and validation accuracy becomes optimistic since pseudo-labelled rows land
        in the validation splits; check the gain on held-out labelled data.
    member_callbacks : callable, MemberCallbacks or None, default=None
        ``member_callbacks(index)`` returns a list of ``(name, callback)`` added to the
        callbacks of member ``index`` (0-based, counting on through the second round
        of pseudo-labelling); e.g. a checkpoint per member
        (:class:`kagdigits.runs.checkpoints.MemberCheckpoints`). Not saved in ``.kd`` files.
        A :class:`MemberCallbacks` also gets each trained member handed to its
        ``finished(index, member)`` in this process, however far away it trained
        (joblib, Dask workers), and skips training a member its
        ``restored(index, member)`` fills in and returns.
    verbose : int, default=1
        1: a progress bar over the members (with the training member's epoch), or over a
        stack's epochs, and a line per finished member; 2: also the members' epoch tables
        and a bar over the members while predicting; 0: silent.

    Attributes
    ----------
    members_ : list of fitted estimators
    classes_ : ndarray
        The sorted labels seen in ``fit`` (any kind); ``predict`` returns them and
        ``predict_proba``'s columns follow their order.
    n_pseudo_labelled_ : int
        Unlabelled rows used with their predicted labels (0 without pseudo-labelling).
    """

    def __init__(self, member="kagglecnn", n_members=15, member_params=None, recipe=True,
                 max_epochs=None, n_jobs=None, stack_size="auto", device="auto",
                 random_state=0, tta=0, tta_params=None, pseudo_threshold=None,
                 member_callbacks=None, verbose=1):
        self.member = member
        self.n_members = n_members
        self.member_params = member_params
        self.recipe = recipe
        self.max_epochs = max_epochs
        self.n_jobs = n_jobs
        self.stack_size = stack_size
        self.device = device
        self.random_state = random_state
        self.tta = tta
        self.tta_params = tta_params
        self.pseudo_threshold = pseudo_threshold
        self.member_callbacks = member_callbacks
        self.verbose = verbose

    def _templates(self):
        """The member specs as unfitted estimators."""
        specs = self.member if isinstance(self.member, list | tuple) else [self.member]
        if not specs:
            raise InputError("member is an empty list; name at least one model")
        return [get_model_class(spec)() if isinstance(spec, str) else clone(spec)
                for spec in specs]

    def new_members(self, first_index=0):
        """The ``n_members`` unfitted members: model, seed, device, epochs, validation split,
        and the callbacks ``member_callbacks`` adds (members ``first_index`` on)."""
        if not isinstance(self.n_members, int | np.integer) or self.n_members < 1:
            raise InputError(f"n_members must be a whole number >= 1, got {self.n_members!r}")
        templates = self._templates()
        members = []
        specs = self.member if isinstance(self.member, list | tuple) else [self.member]
        for i in range(self.n_members):
            seed = self.random_state + i
            member = clone(templates[i % len(templates)]).set_params(
                random_state=seed, device=self.device, verbose=self.verbose)
            if self.recipe and isinstance(specs[i % len(specs)], str):
                member.set_params(**RECIPE)
            if self.max_epochs is not None:
                member.set_params(max_epochs=self.max_epochs)
            member.set_params(**(self.member_params or {}))
            split = member.train_split
            if isinstance(split, ValidSplit):
                member.set_params(train_split=type(split)(
                    split.cv, stratified=split.stratified, random_state=seed))
            if self.member_callbacks is not None:
                added = self.member_callbacks(first_index + i)
                member.set_params(callbacks=[*(member.callbacks or []), *added])
            members.append(member)
        return members

    def initialize(self):
        """Check that the members can be built (names, parameters); ``self``."""
        tta_augment(self.tta_params)
        n_models = len(self._templates())
        for member in self.new_members()[:n_models]:
            member.initialize()
        return self

    def _fit_members(self, X, y, first_index=0):
        """The trained members: those ``member_callbacks`` restores, the others trained
        here (stacked, or one at a time), or ``n_jobs`` stacks at once; each handed back
        to ``member_callbacks.finished`` when done."""
        members = self.new_members(first_index)
        store = self.member_callbacks
        if not isinstance(store, MemberCallbacks):
            store = MemberCallbacks()  # a plain callable: nothing to restore or hand back
        todo = [i for i, member in enumerate(members)  # restored() fills in member
                if store.restored(first_index + i, member) is None]
        if self.verbose and len(todo) < len(members):
            print(f"Resuming: {len(members) - len(todo)} of {len(members)} members were "
                  f"trained already; training the other {len(todo)}.", flush=True)
        if not todo:
            return members
        groups = self._groups(members, todo, X)
        if self.verbose:
            print(self._cost_line(members, todo, groups, X, y), flush=True)
        if self.n_jobs is None and not any(stacked for stacked, _ in groups):
            fit_in_turn([members[i] for i in todo], X, y, self.verbose,
                        finished=lambda k, member: store.finished(first_index + todo[k],
                                                                  member))
            return members
        labels = [f"member {i + 1}/{len(members)} (seed {m.random_state})"
                  for i, m in enumerate(members)]
        jobs = [([members[i] for i in group], stacked, X, y, self.verbose,
                 [labels[i] for i in group]) for stacked, group in groups]
        if self.n_jobs is None:
            fits = (_fit_group(*job) for job in jobs)
        else:
            fits = Parallel(n_jobs=self.n_jobs, return_as="generator")(
                delayed(_fit_group)(*job) for job in jobs)
        for (_, group), fitted in zip(groups, fits, strict=True):  # in order, as each comes back
            for i, member in zip(group, fitted, strict=True):
                members[i] = member
                store.finished(first_index + i, member)
                if self.verbose:
                    seconds = sum(row.get("dur", 0.0) for row in member.history)
                    print(member_summary(i + 1, len(members), member, seconds), flush=True)
        return members

    def estimated_cost(self, X, y=None):
        """One line: how long :meth:`fit` on ``X`` may take on this machine, the members
        grouped (stacked or not) as ``fit`` will train them (:func:`estimated_cost`)."""
        members = self.new_members()
        todo = list(range(len(members)))
        return self._cost_line(members, todo, self._groups(members, todo, X), X, y)

    def _cost_line(self, members, todo, groups, X, y):
        """:func:`estimated_cost` of the members at positions ``todo``, trained as
        ``groups`` (:meth:`_groups`) say."""
        position = {i: k for k, i in enumerate(todo)}
        stacks = [[position[i] for i in group] for stacked, group in groups if stacked]
        return estimated_cost([members[i] for i in todo], X, self.n_jobs, y, stacks)

    def _groups(self, members, todo, X):
        """The positions in ``todo`` cut into what trains together, as ``(stacked,
        positions)``: stacks of members with one
        :func:`~kagdigits.models.stacking.stack_key` (at most ``stack_size`` and what
        fits in memory; ``n_jobs`` of them per key), and the others one by one, not
        stacked (all of them with ``stack_size=None``)."""
        if self.stack_size is None:
            return [(False, [i]) for i in todo]
        if self.stack_size != "auto" and (not isinstance(self.stack_size, int | np.integer)
                                          or self.stack_size < 1):
            raise InputError(f"stack_size must be a whole number >= 1, 'auto' or None, got "
                             f"{self.stack_size!r}")
        by_key = {}
        for i in todo:
            by_key.setdefault(stack_key(members[i]) or ("alone", i), []).append(i)
        parts = 1 if self.n_jobs is None else effective_n_jobs(self.n_jobs)
        limit = None if self.stack_size == "auto" else int(self.stack_size)
        groups = []
        for key, positions in by_key.items():
            if key[0] == "alone":
                groups.append((False, positions))
                continue
            size = stack_size_for(members[positions[0]], X, limit)
            groups.extend((True, chunk) for chunk in chunks(positions, size, parts))
        return sorted(groups, key=lambda group: group[1])

    def fit(self, X, y):
        """Train the members on images ``X`` and labels ``y`` (-1: unlabelled); ``self``."""
        tta_augment(self.tta_params)  # a clear error before any training
        X, y = to_images(X), np.asarray(y)
        unlabelled = y == -1 if y.dtype.kind in "iuf" else np.zeros(len(y), dtype=bool)
        if unlabelled.any() and self.pseudo_threshold is None:
            raise InputError(f"y has {unlabelled.sum()} unlabelled rows (-1); set "
                             "pseudo_threshold to pseudo-label them, or drop them")
        X_labelled, y_labelled = X[~unlabelled], y[~unlabelled]
        self.members_ = self._fit_members(X_labelled, y_labelled)
        self.classes_ = self.members_[0].classes_  # the members learn the labels (any kind)
        self.n_pseudo_labelled_ = 0
        if unlabelled.any():
            proba = self.predict_proba(X[unlabelled])
            confident = proba.max(axis=1) >= self.pseudo_threshold
            self.n_pseudo_labelled_ = int(confident.sum())
            if self.verbose:
                print(f"Pseudo-labelling: {self.n_pseudo_labelled_} of {unlabelled.sum()} "
                      f"unlabelled rows predicted with p >= {self.pseudo_threshold}; "
                      "training new members with them", flush=True)
            X_all = np.concatenate([X_labelled, X[unlabelled][confident]])
            y_all = np.concatenate([y_labelled, self.classes_[proba[confident].argmax(axis=1)]])
            self.members_ = self._fit_members(X_all, y_all.astype(y_labelled.dtype),
                                              first_index=self.n_members)
        return self

    def networks(self):
        """The one-network estimators this ensemble is made of: its fitted members
        (``members_``), or before ``fit`` those it would train (:meth:`new_members`)."""
        return list(getattr(self, "members_", None) or self.new_members())

    def hardware_summary(self):
        """What the members train on, e.g. ``cpu, bf16 autocast, channels_last`` (the first
        member's choice; they share device and settings)."""
        members = getattr(self, "members_", None) or self.new_members()[:1]
        return members[0].hardware_summary()

    def predict_proba(self, X):
        """The mean of the members' class probabilities (over the TTA copies too).

        Members that can be stacked (and ``stack_size`` not ``None``) predict in one pass:
        ``X`` is checked and copied to the device once, and every batch goes through all
        members (:func:`kagdigits.models.stacking.stacked_proba`)."""
        check_is_fitted(self, "members_")
        one_pass = self.stack_size is not None and predicts_stacked(self.members_)
        if one_pass:
            lead = self.members_[0]
            X = lead._network_input(lead._checked_array(X, reset=False), reset=False,
                                    integers=not self.tta)
        else:
            X = to_images(X, integers=not self.tta)
        total, count = 0, 0
        views = tta_views(X, self.tta, self.tta_params, self.random_state)
        n_pairs = (1 + (self.tta or 0)) * len(self.members_)
        if one_pass:  # all members at once: a bar (verbose >= 2) counts them view by view
            bar = (progress(total=n_pairs, unit="member", desc="ensemble predict")
                   if self.verbose >= 2 else None)
            for view in views:
                total = total + stacked_proba(self.members_, view)
                count += len(self.members_)
                if bar is not None:
                    bar.update(len(self.members_))
            if bar is not None:
                bar.close()
            return total / count
        pairs = ((view, member) for view in views for member in self.members_)
        for view, member in member_progress(pairs, n_pairs, self.verbose):
            total = total + member.predict_proba(view)
            count += 1
        return total / count

    def predict(self, X):
        """The label (a member of ``classes_``) with the highest mean probability; warns when
        the images look unlike training digits (see :meth:`DigitClassifier.predict`)."""
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


def _fit_group(members, stacked, X, y, verbose, labels):
    """Train ``members``: one stack (a bar over it, its members named by ``labels``), or
    (``stacked=False``) one member alone; return them."""
    if not stacked:
        return [member.fit(X, y) for member in members]
    for member in members:
        member.set_params(verbose=max(verbose - 1, 0))
    return fit_stack(members, X, y, verbose=verbose, labels=labels)


class MemberCallbacks:
    """What ``member_callbacks`` may be: a callable ``(index) -> [(name, callback), ...]``
    adding callbacks to member ``index`` (0-based, counting on through pseudo-labelling's
    second round), and, as an instance of this class, a store of trained members.

    Subclass it and override what you need (:class:`kagdigits.runs.checkpoints.MemberCheckpoints`
    checkpoints every member and resumes an interrupted ensemble).
    """

    def __call__(self, index):
        """``(name, callback)`` pairs added to member ``index``'s callbacks (none here)."""
        return []

    def restored(self, index, member):
        """``member`` (unfitted) filled in with a trained state to skip training it, or
        ``None`` to train it (here: always)."""
        return None

    def finished(self, index, member):
        """Called in this process with each trained ``member``, wherever it trained
        (joblib, Dask workers); here: nothing."""


def estimated_cost(members, X, n_jobs=None, y=None, stacks=()):
    """One line: how long training ``members`` on ``X`` one after another may take on this
    machine, from training steps timed after a warm-up (:mod:`kagdigits.models.estimate`;
    each kind of member once; at most ``max_epochs`` each); with ``n_jobs``, that several
    train at once. ``stacks``: lists of positions in ``members`` trained as one stack each,
    timed as stacked steps (each kind and size of stack once)."""
    stacked = {i for stack in stacks for i in stack}
    steps = {}
    for i, m in enumerate(members):
        if i not in stacked and type(m) not in steps:
            steps[type(m)] = time_training_steps(m, X, y)
    seconds = sum(fit_seconds(m, len(X), steps[type(m)]) for i, m in enumerate(members)
                  if i not in stacked)
    for stack in stacks:
        key = (stack_key(members[stack[0]]), len(stack))
        if key not in steps:
            steps[key] = time_training_steps([members[i] for i in stack], X, y)
        seconds += max(fit_seconds(members[i], len(X), steps[key]) for i in stack)
    at_once = "" if n_jobs in (None, 1) else f"; n_jobs={n_jobs} trains several at once"
    stops = any(m.stops_early for m in members)
    way = ("one after another" if not stacks else "as one stack" if len(stacks) == 1
           else f"in {len(stacks)} stacks one after another")
    return (f"Ensemble: {len(members)} members x {'up to ' if stops else ''}"
            f"{members[0].max_epochs} epochs on {len(X):,} rows, about {duration(seconds)} "
            f"{way} on {next(iter(steps.values())).hardware}{at_once}"
            f"{' (early stopping can end members sooner)' if stops else ''}.")


def n_parameters(estimator):
    """Trainable parameters of a fitted net, or of all members of a fitted ensemble."""
    return sum(count_params(net.module_) for net in estimator.networks())
