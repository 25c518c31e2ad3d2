"""serve fed nonsense (issue 43): JSON pixels that are blank once scaled and rounded (item 8),
and the private uvicorn surface ``TimedH11Protocol`` relies on, pinned and checked (item 11)."""

import inspect
import re
import tomllib
from pathlib import Path

import pytest

pytest.importorskip("fastapi", reason="the serve extra is not installed: pip install -e .[serve]")

from kagdigits.errors import InputError  # noqa: E402
from kagdigits.serve.preprocess import pixels_from_json  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("pixels, scale", [
    ([1e-300] * 392 + [0] * 392, 1),  # rounds to all zeros
    ([0.3] + [0] * 783, 1),  # one pixel: no stroke
    ([0.001] * 10 + [0] * 774, 1),
    ([200] + [0] * 783, 255),
    ([255, 255, 255] + [0] * 781, 255),
])
def test_json_blank_after_scaling_and_rounding_is_refused(pixels, scale):
    with pytest.raises(InputError, match="blank") as info:
        pixels_from_json({"pixels": pixels, "scale": scale})
    assert "\n" not in str(info.value)


def test_a_faint_real_stroke_is_kept():
    pixels = [0] * 784
    for i in range(5, 23):
        pixels[i * 28 + 14] = 0.5
    image = pixels_from_json({"pixels": pixels, "scale": 1})
    assert (image > 0).sum() == 18


def test_uvicorn_is_pinned_to_the_tested_range():
    from importlib.metadata import version

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    [spec] = [d for d in project["project"]["optional-dependencies"]["serve"]
              if d.startswith("uvicorn")]
    upper = re.search(r"<\s*([0-9.]+)", spec)
    assert upper, f"{spec}: TimedH11Protocol subclasses a private class; pin an upper bound"
    installed = tuple(int(p) for p in version("uvicorn").split(".")[:2])
    assert installed < tuple(int(p) for p in upper[1].split(".")[:2])


def test_the_private_h11_surface_timed_protocol_relies_on_is_there():
    from uvicorn.protocols.http.h11_impl import H11Protocol

    for method in ("connection_made", "data_received", "on_response_complete",
                   "connection_lost"):
        assert callable(getattr(H11Protocol, method))
    init = inspect.getsource(H11Protocol.__init__)
    for attribute in ("self.conn", "self.transport", "self.loop", "self.client"):
        assert attribute in init or attribute in inspect.getsource(H11Protocol), attribute
    assert "config" in inspect.signature(H11Protocol.__init__).parameters
