"""Ctrl-C under `make submission` and `make resume` as a terminal sends it (issue 44, item 1):
to the whole foreground process group, make included. The run is kept, kagdigits' last line
says how to continue, make then reports "Interrupt", and `make resume` continues the run."""

import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from kagdigits.runs.layout import saved_epochs
from kagdigits.runs.listing import list_runs

MAKEFILE = Path(__file__).parents[2] / "Makefile"
MAKE = shutil.which("make")
EPOCH_ROW = re.compile(r"^ +(\d+) +\d")  # a row of the epoch table
#: A terminal's environment: under `make test` the outer make's level and flags would make
#: the inner make print "make[1]: ..." where a user's terminal shows "make: ...".
TERMINAL_ENV = {k: v for k, v in os.environ.items()
                if k not in ("MAKELEVEL", "MAKEFLAGS", "MFLAGS")}


def ctrl_c_after_an_epoch(target, folder, args):
    """Run ``make <target>`` in its own process group (as a shell with job control, ``set -m``,
    runs a foreground job), send SIGINT to the group once an epoch ended, as Ctrl-C in a
    terminal does; the epoch seen, make's exit status and everything printed."""
    stamp = folder / "installed"  # the install is this interpreter's: make installs nothing
    stamp.touch()
    (folder / "pyproject.toml").touch()
    os.utime(folder / "pyproject.toml", (1000, 1000))  # older than the stamp
    process = subprocess.Popen(
        [MAKE, "-f", str(MAKEFILE), target, f"STAMP={stamp}", f"BIN={Path(sys.executable).parent}",
         "DEVICE=cpu", f"ARGS={args}"],
        cwd=folder, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        process_group=0, env={**TERMINAL_ENV, "PYTHONUNBUFFERED": "1"})
    lines, epoch = [], None
    try:
        for line in process.stdout:
            lines.append(line)
            if match := EPOCH_ROW.match(line):
                epoch = int(match[1])
                os.killpg(process.pid, signal.SIGINT)
                break
        rest, _ = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    return epoch, process.returncode, "".join(lines) + rest


@pytest.mark.slow
@pytest.mark.skipif(MAKE is None, reason="needs GNU make")
def test_ctrl_c_under_make_keeps_the_run_and_make_resume_continues_it(tiny_kaggle_files,
                                                                       tmp_path):
    train, test = tiny_kaggle_files
    epoch, code, out = ctrl_c_after_an_epoch(
        "submission", tmp_path, f"--train {train} --test {test} --epochs 1000")
    assert epoch == 1, out
    [run] = list_runs(tmp_path / "runs")
    assert run.state == "unfinished" and saved_epochs(run.path) >= 1
    kagdigits_lines = [line for line in out.splitlines() if not line.startswith("make: ")]
    assert kagdigits_lines[-1].startswith("kagdigits submission: interrupted: training stopped "
                                          "by Ctrl-C after ")
    assert kagdigits_lines[-1].endswith(f"resume with: {Path(sys.executable).parent}/kagdigits "
                                        f"submission --resume {run.path.name}")
    # make got the signal too: it waited for kagdigits, then reported it and died of it
    assert re.fullmatch(r"make: \*\*\* \[\S*Makefile:\d+: submission\] Interrupt",
                        out.splitlines()[-1])
    assert code == -signal.SIGINT  # a shell shows 130

    saved = saved_epochs(run.path)
    epoch, code, out = ctrl_c_after_an_epoch("resume", tmp_path, "")
    assert f"Continuing after epoch {saved} of 1000." in out
    assert epoch == saved + 1 and code == -signal.SIGINT, out
    assert saved_epochs(run.path) > saved
    assert re.fullmatch(r"make: \*\*\* \[\S*Makefile:\d+: resume\] Interrupt",
                        out.splitlines()[-1])
