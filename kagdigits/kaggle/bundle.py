"""The wheels a Kaggle kernel installs, built here so that it needs no internet: this
checkout's kagdigits, and the pure-Python packages it imports that Kaggle's image may lack.

kagdigits itself is built from the checkout it runs from (``pip wheel --no-deps``, from a
clean copy of the package, so that nothing stale in a ``build/`` folder slips in); a
kagdigits installed without a checkout is carried as installed. The other packages are
carried as they are installed here (the versions this machine tested with): a pure-Python
package's installed files are its wheel's files, so the wheel is written back from them
(its ``RECORD``), offline.
"""

import base64
import csv
import hashlib
import io
import shutil
import subprocess
import sys
import tempfile
import zipfile
from importlib import metadata
from pathlib import Path

from kagdigits.errors import KagdigitsError

#: Pure-Python packages ``kagdigits submission`` imports that Kaggle's image may lack
#: (it has torch, torchvision, numpy, pandas, scikit-learn, scipy and tqdm). skorch is
#: pinned by kagdigits (pyproject.toml); tabulate is skorch's.
CARRIED = ("skorch", "tabulate")
#: Written by the installer, not part of a wheel.
_INSTALL_ONLY = {"INSTALLER", "REQUESTED", "direct_url.json", "RECORD"}


def checkout_root():
    """The source checkout kagdigits runs from (the folder with its ``pyproject.toml``), or
    ``None`` when it is installed without one."""
    import kagdigits

    root = Path(kagdigits.__file__).resolve().parent.parent
    project = root / "pyproject.toml"
    if project.is_file() and 'name = "kagdigits"' in project.read_text(encoding="utf-8"):
        return root
    return None


def _pip_wheel(source, dest, isolated):
    command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet",
               "--disable-pip-version-check", "-w", str(dest), str(source)]
    if not isolated:
        command[4:4] = ["--no-build-isolation", "--no-index"]
    return subprocess.run(command, capture_output=True, text=True)


def build_checkout_wheel(root, dest):
    """Build the wheel of the checkout ``root`` into the folder ``dest``; return its path.

    Builds offline with this environment's setuptools when it is recent enough, else lets
    pip fetch the build requirements (``pyproject.toml``'s ``build-system``).
    """
    with tempfile.TemporaryDirectory(prefix="kagdigits-wheel-") as tmp:
        source = Path(tmp) / "src"
        source.mkdir()
        for name in ("pyproject.toml", "README.md", "LICENSE"):
            if (root / name).is_file():
                shutil.copy2(root / name, source / name)
        shutil.copytree(root / "kagdigits", source / "kagdigits",
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        built = Path(tmp) / "dist"
        done = _pip_wheel(source, built, isolated=False)
        if done.returncode != 0:
            done = _pip_wheel(source, built, isolated=True)
        wheels = sorted(built.glob("kagdigits-*.whl"))
        if done.returncode != 0 or not wheels:
            said = (done.stderr or done.stdout).strip().splitlines() or ["no output"]
            raise KagdigitsError(f"could not build the kagdigits wheel of {root} (pip: "
                                 f"{said[-1][:200]}); install setuptools>=77 in this "
                                 "environment (python -m pip install 'setuptools>=77') and retry")
        Path(dest).mkdir(parents=True, exist_ok=True)
        return Path(shutil.copy2(wheels[-1], Path(dest) / wheels[-1].name))


def _record_line(name, data):
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return [name, f"sha256={digest}", str(len(data))]


def installed_wheel(name, dest):
    """Write the wheel of the installed pure-Python distribution ``name`` into ``dest``
    from its installed files; return its path.

    Raises
    ------
    KagdigitsError
        ``name`` is not installed, or is not pure Python (its files depend on this machine).
    """
    try:
        dist = metadata.distribution(name)
    except metadata.PackageNotFoundError:
        raise KagdigitsError(f"{name} is not installed here, so it cannot be carried to the "
                             f"Kaggle kernel; install it (python -m pip install {name}) and "
                             "retry") from None
    wheel_info = dist.read_text("WHEEL") or ""
    tags = [line.split(":", 1)[1].strip() for line in wheel_info.splitlines()
            if line.startswith("Tag:")]
    if "Root-Is-Purelib: true" not in wheel_info or not tags or any(
            not t.endswith("-none-any") for t in tags):
        raise KagdigitsError(f"{name} {dist.version} is not installed as a pure-Python wheel, "
                             "so it cannot be carried to the Kaggle kernel; reinstall it from "
                             f"its wheel (python -m pip install --force-reinstall {name})")
    files = [f for f in dist.files or [] if not str(f).startswith("..")
             and "__pycache__" not in f.parts and f.suffix != ".pyc"]
    info_dir = next(f.parts[0] for f in files if f.parts[0].endswith(".dist-info"))
    path = Path(dest) / f"{info_dir.removesuffix('.dist-info')}-{tags[0]}.whl"
    Path(dest).mkdir(parents=True, exist_ok=True)
    records = []
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as wheel:
        for file in files:
            inside = file.as_posix()
            if file.parts[0] == info_dir and file.name in _INSTALL_ONLY:
                continue
            data = Path(dist.locate_file(file)).read_bytes()
            wheel.writestr(inside, data)
            records.append(_record_line(inside, data))
        text = io.StringIO()
        csv.writer(text, lineterminator="\n").writerows([*records, [f"{info_dir}/RECORD", "", ""]])
        wheel.writestr(f"{info_dir}/RECORD", text.getvalue())
    return path


def build_wheels(dest):
    """Every wheel the kernel installs, written into ``dest``: kagdigits (this checkout's,
    or the installed one) first, then :data:`CARRIED`."""
    root = checkout_root()
    first = build_checkout_wheel(root, dest) if root else installed_wheel("kagdigits", dest)
    return [first, *(installed_wheel(name, dest) for name in CARRIED)]


def version_ranges(wheel, names=("torch", "scikit-learn")):
    """``{name: specifier}`` of the requirements ``names`` in the kagdigits ``wheel``'s
    metadata (e.g. ``{"torch": ">=2.4"}``): the ranges the kernel checks its image against."""
    from packaging.requirements import Requirement

    with zipfile.ZipFile(wheel) as archive:
        meta = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        text = archive.read(meta).decode("utf-8")
    ranges = {}
    for line in text.splitlines():
        if line.startswith("Requires-Dist:"):
            requirement = Requirement(line.split(":", 1)[1].strip())
            if requirement.name in names and not requirement.marker:
                ranges[requirement.name] = str(requirement.specifier)
    return ranges
