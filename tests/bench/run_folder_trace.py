"""What a ``kagdigits fit --resume`` asks of the run folder: which functions of
``kagdigits/runs/`` ``cli/training.py`` calls, and how many times ``run.json`` is read,
for ``--resume <run-id>`` and ``--resume latest`` of a run stopped by Ctrl-C after epoch 1
of 2 (200 demo digits, one thread). Run it from a checkout (it imports that checkout's
kagdigits, so the same script traces an older one too)::

    python tests/bench/run_folder_trace.py
"""

import contextlib
import io
import os
import re
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, os.getcwd())

import torch  # noqa: E402

from kagdigits.cli.main import main  # noqa: E402
from kagdigits.files.demo import demo_arrays  # noqa: E402
from kagdigits.files.kaggle_csv import write_kaggle_csv  # noqa: E402
from tests.runs.test_resume import CtrlCAfterEpoch  # noqa: E402

FIT = ["fit", "--train", "train.csv", "--epochs", "2", "--device", "cpu", "--save", "m.kd",
       "--force"]


def stopped_run():
    """A run stopped after epoch 1; its id."""
    err = io.StringIO()
    with contextlib.redirect_stdout(CtrlCAfterEpoch(1)), contextlib.redirect_stderr(err):
        main(FIT)
    return re.search(r"--resume (\S+)", err.getvalue()).group(1)


def traced(argv):
    """``(exit code, calls, run.json reads)`` of ``kagdigits argv``."""
    calls, reads, read_text = [], [], Path.read_text

    def counting(self, *args, **kwargs):
        if self.name == "run.json":
            reads.append(self)
        return read_text(self, *args, **kwargs)

    def profile(frame, event, arg):
        caller = frame.f_back.f_code if event == "call" and frame.f_back else None
        if caller and caller.co_filename.endswith(os.path.join("cli", "training.py")) \
                and f"{os.sep}kagdigits{os.sep}runs{os.sep}" in frame.f_code.co_filename:
            calls.append(f"{caller.co_name} -> runs/{Path(frame.f_code.co_filename).name}:"
                         f"{frame.f_code.co_name}")

    Path.read_text = counting
    sys.setprofile(profile)
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            code = main(argv)
    finally:
        sys.setprofile(None)
        Path.read_text = read_text
    return code, calls, reads


def main_():
    torch.set_num_threads(1)
    os.chdir(tempfile.mkdtemp())
    X, y, _, _ = demo_arrays()
    write_kaggle_csv("train.csv", X[:200], y[:200])
    for label in ("<run-id>", "latest"):
        run_id = stopped_run()
        code, calls, reads = traced(["fit", "--resume", run_id if label != "latest" else label,
                                     "--save", "m.kd", "--force"])
        print(f"fit --resume {label}: exit {code}; run.json read {len(reads)} times; "
              f"{len(set(calls))} functions of kagdigits/runs/ called from cli/training.py:")
        for call in dict.fromkeys(calls):
            print(f"  {call}")


if __name__ == "__main__":
    main_()
