"""scikit-learn's estimator checks over every registered estimator, with an honest list of
the ones each fails and why.

Most generic checks fit sklearn's made-up tables of 1 to 10 features. The MLP takes
any number of features, so it runs them all; an image network refuses such rows, with
a clear ``ValueError`` naming the widths it takes (784, 1,024, 3,072 or N-D arrays), so
the checks that need to fit those tables fail by design.
"""

from sklearn.utils.estimator_checks import parametrize_with_checks

from kagdigits.models import REGISTRY, EnsembleClassifier

SKORCH_INIT = ("skorch's NeuralNet.__init__ sets history_, initialized_ and virtual_params_ "
               "(a plain NeuralNetClassifier fails it too), and the registered classes pass "
               "their defaults (augment__*, criterion__label_smoothing) through **kwargs")
NOT_IMAGES = ("fits sklearn's generic 1-10 feature tables, which an image network refuses "
              "with a ValueError naming the widths it takes (784, 1024, 3072 or N-D arrays)")
#: The checks that need an estimator to fit a table of a few features.
NEED_TABLES = (
    "check_fit_score_takes_y", "check_estimators_overwrite_params",
    "check_dont_overwrite_parameters", "check_estimators_fit_returns_self",
    "check_readonly_memmap_input", "check_n_features_in_after_fitting",
    "check_positive_only_tag_during_fit", "check_estimators_dtypes", "check_dtype_object",
    "check_pipeline_consistency", "check_estimators_nan_inf", "check_estimators_pickle",
    "check_f_contiguous_array_estimator", "check_classifier_data_not_an_array",
    "check_classifiers_one_label_sample_weights", "check_classifiers_classes",
    "check_estimators_partial_fit_n_features", "check_classifiers_train",
    "check_supervised_y_2d", "check_methods_sample_order_invariance",
    "check_methods_subset_invariance", "check_dict_unchanged", "check_fit_idempotent",
    "check_fit_check_is_fitted", "check_n_features_in", "check_fit2d_predict1d",
)
#: The ensemble converts X to images itself (before its members' scikit-learn checks run),
#: so these get its own messages rather than scikit-learn's words.
ENSEMBLE_OWN_CHECKS = (
    "check_complex_data", "check_estimators_empty_data_messages", "check_estimator_sparse_tag",
    "check_estimator_sparse_array", "check_estimator_sparse_matrix",
    "check_classifiers_one_label", "check_classifiers_regression_target",
    "check_fit2d_1sample", "check_requires_y_none",
)
FAST = dict(max_epochs=1, batch_size=16, train_split=None, verbose=0, device="cpu")


def expected_failures(estimator):
    """Check name -> why ``estimator`` fails it."""
    if isinstance(estimator, EnsembleClassifier):
        own = "the ensemble checks X with its own image rules, not scikit-learn's"
        passing = {"check_classifiers_one_label_sample_weights",  # refused: sample_weight
                   "check_estimators_partial_fit_n_features"}  # it has no partial_fit
        return {**{name: NOT_IMAGES for name in NEED_TABLES if name not in passing},
                "check_dtype_object": own, **dict.fromkeys(ENSEMBLE_OWN_CHECKS, own)}
    if estimator._takes_features():
        return {"check_no_attributes_set_in_init": SKORCH_INIT}
    return {"check_no_attributes_set_in_init": SKORCH_INIT,
            **dict.fromkeys(NEED_TABLES, NOT_IMAGES)}


def estimators():
    """One fast instance of every registered estimator."""
    return [EnsembleClassifier(member="mlp", n_members=1, max_epochs=1, verbose=0,
                               device="cpu") if cls is EnsembleClassifier else cls(**FAST)
            for _, cls in sorted(REGISTRY.items())]


@parametrize_with_checks(estimators(), expected_failed_checks=expected_failures)
def test_sklearn_compatible(estimator, check):
    check(estimator)
