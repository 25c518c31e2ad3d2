"""scikit-learn's estimator checks, with an honest list of the ones an image classifier fails.

Most generic checks fit 2- to 10-feature tabular data; a convolutional net on images can
only take rows it can read as images (784 = 1x28x28, 3072 = 3x32x32, or any C x H x H), so
those checks fail by design, with the clear ``ValueError`` the user would see.
"""

from sklearn.utils.estimator_checks import parametrize_with_checks

from kagdigits import LeNet5Classifier

NOT_IMAGES = "generic tabular data (2-10 features) is not images: a clear ValueError says so"
WRONG_CHANNELS = ("12-feature rows read as 3x2x2 images; LeNet5 is built for 1 channel "
                  "(module__in_chans=3 would fit them)")
EXPECTED_FAILED_CHECKS = {
    "check_fit_score_takes_y": WRONG_CHANNELS,
    "check_estimators_overwrite_params": NOT_IMAGES,
    "check_dont_overwrite_parameters": WRONG_CHANNELS,
    "check_estimators_fit_returns_self": NOT_IMAGES,
    "check_readonly_memmap_input": NOT_IMAGES,
    "check_n_features_in_after_fitting": "n_features_in_ is not tracked (skorch does not)",
    "check_estimators_dtypes": NOT_IMAGES,
    "check_complex_data": "complex input is refused, but with our message, not sklearn's",
    "check_dtype_object": "object input is refused, but with our message, not sklearn's",
    "check_estimators_empty_data_messages": "refused with our own message",
    "check_pipeline_consistency": WRONG_CHANNELS,
    "check_estimators_nan_inf": WRONG_CHANNELS,
    "check_estimator_sparse_tag": "sparse input is not supported",
    "check_estimator_sparse_array": "sparse input is not supported",
    "check_estimator_sparse_matrix": "sparse input is not supported",
    "check_estimators_pickle": WRONG_CHANNELS,
    "check_f_contiguous_array_estimator": WRONG_CHANNELS,
    "check_classifier_data_not_an_array": NOT_IMAGES,
    "check_classifiers_one_label": "a net with a fixed number of outputs trains on one class",
    "check_classifiers_one_label_sample_weights": NOT_IMAGES,
    "check_classifiers_classes": NOT_IMAGES,
    "check_estimators_partial_fit_n_features": NOT_IMAGES,
    "check_classifiers_train": NOT_IMAGES,
    "check_classifiers_regression_target": "continuous targets are refused with our message",
    "check_supervised_y_2d": WRONG_CHANNELS,
    "check_methods_sample_order_invariance": WRONG_CHANNELS,
    "check_methods_subset_invariance": WRONG_CHANNELS,
    "check_fit2d_1sample": NOT_IMAGES,
    "check_dict_unchanged": WRONG_CHANNELS,
    "check_fit_idempotent": NOT_IMAGES,
    "check_fit_check_is_fitted": NOT_IMAGES,
    "check_n_features_in": NOT_IMAGES,
    "check_fit2d_predict1d": WRONG_CHANNELS,
    "check_requires_y_none": "y=None is refused with our message",
    "check_no_attributes_set_in_init": "skorch sets history_, initialized_ in __init__",
    "check_set_params": "skorch's set_params acts on some values (e.g. history) at once",
}


@parametrize_with_checks(
    [LeNet5Classifier(max_epochs=1, batch_size=16, train_split=None, verbose=0)],
    expected_failed_checks=lambda estimator: EXPECTED_FAILED_CHECKS)
def test_sklearn_compatible(estimator, check):
    check(estimator)
