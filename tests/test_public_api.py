"""The top-level API (issue 44, item 3): saving and loading are importable from ``kagdigits``,
and importing ``kagdigits`` stays cheap (the exports load on first use)."""

import subprocess
import sys

import numpy as np

import kagdigits
from kagdigits.runs import persist


def test_save_and_load_are_top_level(lenet5, digits, tmp_path):
    from kagdigits import load_model, save_model

    assert (save_model, load_model) == (persist.save_model, persist.load_model)
    assert {"save_model", "load_model"} <= set(kagdigits.__all__) & set(dir(kagdigits))
    loaded = load_model(save_model(lenet5, tmp_path / "lenet5.kd"), device="cpu")
    np.testing.assert_array_equal(loaded.predict_proba(digits[0]), lenet5.predict_proba(digits[0]))


def test_importing_kagdigits_imports_neither_torch_nor_the_model_files():
    code = ("import sys, kagdigits; "
            "print(sorted(m for m in ('torch', 'kagdigits.runs.persist') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"
