"""Fill the git-ignored ``wheels/`` folder with what the GPU machine lacks to run kagdigits.

The GPU machine (see docs/development.md, "The GPU check") has torch, numpy, scikit-learn,
pandas, matplotlib, pytest and many more, but not skorch, mlxtend, kaggle, dask or fastapi,
and no network. This script, run on a machine with the package registry, walks the
requirements of the packages kagdigits and its tests import (as installed in the Python
that runs it, e.g. /work/main/.venv), leaves out those the GPU machine has
(:data:`ON_GPU`), and downloads each remaining one at the version installed here, as a
wheel for CPython 3.12 on x86-64 Linux (the GPU machine's Python), without dependencies
(they are walked here). ``tests/bench/gpu_check.sh`` installs them there with
``pip install --no-index --no-deps --target``.

    /work/main/.venv/bin/python tests/bench/fill_wheels.py          # into ./wheels
    /work/main/.venv/bin/python tests/bench/fill_wheels.py --list   # only print the pins
"""

import argparse
import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path

#: What kagdigits, its serve extra and its test suite import (their requirements follow).
ROOTS = ["skorch", "kaggle", "six", "mlxtend", "dask", "distributed", "fastapi", "starlette",
         "uvicorn", "python-multipart", "h11", "anyio", "filelock", "tqdm", "matplotlib",
         "pytest", "hypothesis", "sybil", "pillow", "safetensors"]
#: Packages the GPU machine's image holds (its list as read on 2026-11-17, lower case):
#: never carried, so the machine's own versions (built for its CUDA) stay in use.
ON_GPU = set("""
absl-py accelerate aiofiles aiohappyeyeballs aiohttp aiosignal annotated-doc anyio attrs
botorch build certifi charset-normalizer chex click cloudpickle cmake colorama contourpy
coverage cycler cython einops filelock flatbuffers fonttools fsspec grpcio h11 h5py
httpcore httpx huggingface-hub hypothesis idna imageio iniconfig jinja2 joblib kiwisolver
markdown markdown-it-py markupsafe matplotlib mdurl ml-dtypes mpmath msgpack multidict
networkx numpy onnx onnx-ir onnxruntime onnxscript packaging pandas pillow pip pluggy
protobuf psutil pyarrow pygments pyparsing pytest python-dateutil pyyaml regex requests
rich safetensors scikit-learn scipy setuptools six sortedcontainers sympy tabulate
threadpoolctl toolz torch torchvision tqdm triton typing-extensions urllib3 wheel zipp
""".split())
#: pip's platform tags for CPython 3.12 wheels on x86-64 Linux (pure wheels match anyway).
PLATFORMS = ["manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_17_x86_64",
             "manylinux2014_x86_64", "manylinux1_x86_64"]


def normal(name):
    return re.sub(r"[-_.]+", "-", name).lower()


def requirements(name):
    """The names ``name`` requires (not those of its extras, except dask's distributed)."""
    needed = []
    for line in metadata.requires(name) or []:
        if "extra ==" in line and not line.startswith("distributed"):
            continue
        needed.append(normal(re.split(r"[ ;<>=!~\[(]", line, maxsplit=1)[0]))
    return needed


def closure(roots):
    """``{name: version}`` of ``roots`` and everything they require, as installed here,
    less :data:`ON_GPU`."""
    pins, todo = {}, [normal(r) for r in roots]
    while todo:
        name = todo.pop()
        if name in pins or name in ON_GPU:
            continue
        try:
            pins[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue  # an optional need this Python lacks too
        todo.extend(requirements(name))
    return dict(sorted(pins.items()))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dest", type=Path, default=Path("wheels"))
    parser.add_argument("--list", action="store_true", help="print the pins, download nothing")
    args = parser.parse_args(argv)
    pins = closure(ROOTS)
    print("\n".join(f"{name}=={version}" for name, version in pins.items()))
    if args.list:
        return
    args.dest.mkdir(exist_ok=True)
    platform = [arg for p in PLATFORMS for arg in ("--platform", p)]
    for name, version in pins.items():
        subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
                        "--only-binary=:all:", "--python-version", "3.12",
                        "--implementation", "cp", *platform, "-d", str(args.dest),
                        f"{name}=={version}"], check=True)
    print(f"{len(pins)} wheels in {args.dest}/")


if __name__ == "__main__":
    main()
