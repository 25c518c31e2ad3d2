"""How often one fit decides its hardware and checks its parameters.

Counts the calls of what decides the device, precision and memory format
(:mod:`kagdigits.models.device`) and the parameter checks run
(:func:`kagdigits.models.params.validate_params`) during one ``LeNet5Classifier`` fit of
2 epochs on the demo rows (``device="auto"``, one thread), then during one
``predict_proba`` of 1,000 rows. Every kagdigits module's reference to those functions
is counted, so the same script counts an older checkout too::

    python tests/bench/decisions.py
    PYTHONPATH=/path/to/other/checkout python tests/bench/decisions.py
"""

import collections
import sys
import warnings

import torch

import kagdigits
from kagdigits.files.demo import demo_arrays
from kagdigits.models import LeNet5Classifier
from kagdigits.models import device as device_module
from kagdigits.models import params as params_module

DECIDERS = ("resolve_device", "auto_precision", "auto_channels_last", "has_convolutions",
            "cpu_has_native_bf16")


def count_calls():
    """Wrap every kagdigits module attribute that is one of the counted functions; the
    counter they add to."""
    counts = collections.Counter()
    targets = {getattr(device_module, name): name for name in DECIDERS}
    # the parameter check itself (older checkouts check in validate_params, every call)
    check = getattr(params_module, "check_params", params_module.validate_params)
    targets[check] = "parameter checks"

    def counted(function, name):
        def wrapper(*args, **kwargs):
            counts[name] += 1
            return function(*args, **kwargs)
        return wrapper

    wrappers = {function: counted(function, name) for function, name in targets.items()}
    for module in list(sys.modules.values()):
        if getattr(module, "__name__", "").startswith("kagdigits"):
            for attr, value in list(vars(module).items()):
                if callable(value) and value in wrappers:
                    setattr(module, attr, wrappers[value])
    return counts


def main():
    warnings.filterwarnings("ignore")
    torch.set_num_threads(1)
    print(f"kagdigits from {kagdigits.__file__}")
    counts = count_calls()
    X, y, X_test, _ = demo_arrays()
    clf = LeNet5Classifier(max_epochs=2, device="auto", verbose=0, n_threads=1).fit(X, y)
    batches = sum(len(epoch["batches"]) for epoch in clf.history)
    print(f"fit, 2 epochs, {batches} batches: {dict(sorted(counts.items()))}")
    counts.clear()
    clf.predict_proba(X_test)
    print(f"predict_proba, {len(X_test):,} rows: {dict(sorted(counts.items()))}")


if __name__ == "__main__":
    main()
