"""The kernel folder that ``kagdigits submission --on kaggle`` pushes: its
``kernel-metadata.json`` and the script Kaggle runs.

The script carries its wheels in its own text (base64): the client sends only the code
file's text (``SaveKernel``'s ``text``), and a kernel with the internet off can install
nothing else. At the kernel's start it installs them with ``pip --no-deps --no-index``,
says in one line when the image's torch or scikit-learn are outside kagdigits' ranges,
then runs the same ``kagdigits submission`` as a local run would, on the competition's
files (``$KAGDIGITS_INPUT``, default ``/kaggle/input/digit-recognizer``), in
``$KAGDIGITS_WORKING`` (default ``/kaggle/working``, the kernel's output). Last it writes
:data:`MANIFEST` there: the command's exit code, its last line (the path of the
submission, or its one-line error) and where the submission and model are.
"""

import base64
import json
from pathlib import Path

from kagdigits.files.atomic import atomic_write
from kagdigits.kaggle.api import COMPETITION

SCRIPT = "kagdigits_kernel.py"
METADATA = "kernel-metadata.json"
#: What the kernel writes beside its outputs for the local side to read.
MANIFEST = "kagdigits-kernel.json"

_TEMPLATE = '''"""kagdigits on Kaggle, written by `kagdigits submission --on kaggle` (run {run}).

Installs the kagdigits wheel built from the checkout that pushed this kernel (and the
pure-Python packages it needs), with no internet, then runs `kagdigits` with COMMAND (below)
on the competition's files; the outputs stay in the working folder.
"""
import base64
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

WHEELS = {wheels}
COMMAND = {command}
RANGES = {ranges}
MANIFEST = {manifest!r}
INPUT = Path(os.environ.get("KAGDIGITS_INPUT", "/kaggle/input/{competition}"))
WORKING = Path(os.environ.get("KAGDIGITS_WORKING", "/kaggle/working"))


def say(line):
    print(line, flush=True)


def check_ranges():
    """One line when the image's torch or scikit-learn are outside kagdigits' ranges."""
    from importlib import metadata
    try:
        from packaging.specifiers import SpecifierSet
    except ImportError:
        from pip._vendor.packaging.specifiers import SpecifierSet
    outside = []
    for name, spec in RANGES.items():
        try:
            version = metadata.version(name)
        except metadata.PackageNotFoundError:
            outside.append(f"{{name}} missing (kagdigits needs {{name}}{{spec}})")
            continue
        if not SpecifierSet(spec).contains(version, prereleases=True):
            outside.append(f"{{name}} {{version}} (kagdigits needs {{name}}{{spec}})")
    if outside:
        say("kagdigits kernel: warning: this Kaggle image has " + ", ".join(outside)
            + "; the run may fail or differ from a local one")


def install():
    folder = Path(tempfile.mkdtemp(prefix="kagdigits-wheels-"))
    paths = []
    for name, text in WHEELS.items():
        (folder / name).write_bytes(base64.b64decode(text))
        paths.append(str(folder / name))
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-index",
                    "--quiet", "--disable-pip-version-check", *paths], check=True)


def run():
    """Run the command, its output streamed to the log; (exit code, last line, summary)."""
    argv = [*COMMAND, "--train", str(INPUT / "train.csv"), "--test", str(INPUT / "test.csv")]
    code = "import sys; from kagdigits.cli.main import main; sys.exit(main(sys.argv[1:]))"
    process = subprocess.Popen([sys.executable, "-u", "-c", code, *argv], cwd=WORKING,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               errors="replace")
    last, summary = "", None
    for line in process.stdout:
        sys.stdout.write(line)
        sys.stdout.flush()
        if line.strip():
            last = line.strip()
        if line.startswith("Summary:"):
            summary = line.strip()
    return process.wait(), last, summary


def main():
    WORKING.mkdir(parents=True, exist_ok=True)
    if not (INPUT / "train.csv").is_file():
        last = (f"kagdigits kernel: error: {{INPUT / 'train.csv'}} is missing: the competition's "
                "data are not attached; accept the rules at "
                "https://www.kaggle.com/competitions/{competition}/rules and push again")
        say(last)
        code, summary = 2, None
    else:
        install()
        check_ranges()
        code, last, summary = run()
    working = WORKING.resolve()
    found = (working / last).resolve() if code == 0 and last else None
    if found is not None and not (found.is_file() and found.is_relative_to(working)):
        found = None
    models = sorted(working.glob("runs/*/model.kd"), key=lambda p: p.stat().st_mtime)
    manifest = {{
        "exit_code": code, "last_line": last, "summary": summary,
        "submission": str(found.relative_to(working)) if found else None,
        "model": str(models[-1].relative_to(working)) if models else None}}
    (WORKING / MANIFEST).write_text(json.dumps(manifest, indent=1))
    return code


if __name__ == "__main__":
    sys.exit(main())
'''


def remote_command(config, proba=False):
    """The ``kagdigits submission`` arguments the kernel runs for ``config`` (a
    :class:`~kagdigits.runs.config.RunConfig`); the data files are added in the kernel."""
    command = ["submission", "--model", config.model, "--device", config.device,
               "--seed", str(config.seed)]
    if config.epochs is not None:
        command += ["--epochs", str(config.epochs)]
    for name, value in config.params.items():
        command += ["--set", f"{name}={value!r}"]
    return [*command, "--proba"] if proba else command


def script_text(run_id, command, wheels, ranges):
    """The kernel's script: ``wheels`` (paths) embedded, ``command`` run on Kaggle's files."""
    embedded = {Path(w).name: base64.b64encode(Path(w).read_bytes()).decode("ascii")
                for w in wheels}
    body = "{\n" + "".join(f"    {name!r}: {text!r},\n" for name, text in embedded.items()) + "}"
    return _TEMPLATE.format(run=run_id, wheels=body,
                            command=repr(command), ranges=repr(ranges), manifest=MANIFEST,
                            competition=COMPETITION)


def kernel_metadata(kernel_id, title, accelerator=None):
    """``kernel-metadata.json`` of a private script kernel with the GPU on, the internet off
    and the competition's data attached (``accelerator``: its ``machine_shape``)."""
    metadata = {"id": kernel_id, "title": title, "code_file": SCRIPT, "language": "python",
                "kernel_type": "script", "is_private": "true", "enable_gpu": "true",
                "enable_tpu": "false", "enable_internet": "false", "dataset_sources": [],
                "competition_sources": [COMPETITION], "kernel_sources": [],
                "model_sources": []}
    if accelerator:
        metadata["machine_shape"] = accelerator
    return metadata


def write_kernel_folder(folder, metadata, script):
    """Write ``kernel-metadata.json`` and the script into the new folder ``folder``."""
    folder = Path(folder)
    folder.mkdir(parents=True)
    with atomic_write(folder / METADATA) as f:
        json.dump(metadata, f, indent=1)
    with atomic_write(folder / SCRIPT, encoding="utf-8") as f:
        f.write(script)
    return folder
