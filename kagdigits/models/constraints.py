"""The kinds of value a parameter takes, for the ``_parameter_constraints`` that estimator
and augmentation classes declare (scikit-learn's shape: ``{name: [kind, ...]}``, a value
must be of one of the kinds), checked by :func:`kagdigits.models.params.validate_params`.

Each kind has ``accepts(value)`` and a ``str()`` that reads in a message: "expected an
integer >= 1, got 'abc'". scikit-learn's own constraint objects word their messages
differently (and are private), so these few are kept here.
"""

import math
import numbers
from dataclasses import dataclass

#: The largest finite float32: every number parameter reaches torch as one.
FLOAT32_MAX = 3.4028234663852886e38
#: Sizes no machine runs, refused before any data are read: rows in a batch (MNIST has
#: 70,000 in all), epochs, test-time augmented copies of each image.
MAX_BATCH = 2**20
MAX_EPOCHS = 100_000
MAX_TTA = 100


@dataclass(frozen=True)
class Integer:
    """A whole number (not a bool) of at least ``low`` and, if given, at most ``high``."""

    low: int
    high: int | None = None

    def accepts(self, value):
        return (isinstance(value, numbers.Integral) and not isinstance(value, bool)
                and value >= self.low and (self.high is None or value <= self.high))

    def __str__(self):
        if self.high is None:
            return f"an integer >= {self.low}"
        return f"an integer in [{self.low}, {self.high}]"


@dataclass(frozen=True)
class Number:
    """A finite real number (not a bool) between ``low`` and ``high``; without ``high``, at
    most the largest float32 (:data:`FLOAT32_MAX`), since torch computes in float32.
    ``open`` ends (``"low"``, ``"high"``) exclude the bound itself."""

    low: float
    high: float | None = None
    open: tuple = ()

    def accepts(self, value):
        if not isinstance(value, numbers.Real) or isinstance(value, bool):
            return False
        above = value > self.low if "low" in self.open else value >= self.low
        below = (value <= FLOAT32_MAX if self.high is None
                 else value < self.high if "high" in self.open else value <= self.high)
        return math.isfinite(value) and above and below

    def __str__(self):
        if self.high is None:
            return (f"a number {'>' if 'low' in self.open else '>='} {self.low:g} that a "
                    f"float32 holds (at most {FLOAT32_MAX:.4g})")
        left = "(" if "low" in self.open else "["
        right = ")" if "high" in self.open else "]"
        return f"a number in {left}{self.low:g}, {self.high:g}{right}"


@dataclass(frozen=True)
class Options:
    """One of ``values`` (strings)."""

    values: tuple

    def accepts(self, value):
        return isinstance(value, str) and value in self.values

    def __str__(self):
        return "one of " + ", ".join(map(repr, self.values))


class _Kind:
    """Values passing ``test``, described as ``text``."""

    def __init__(self, text, test):
        self.text, self.test = text, test

    def accepts(self, value):
        return self.test(value)

    def __str__(self):
        return self.text


BOOLEAN = _Kind("True or False", lambda v: isinstance(v, bool) or type(v).__name__ == "bool_")
CALLABLE = _Kind("a callable", callable)
CLASS = _Kind("a class", lambda v: isinstance(v, type))
NONE = _Kind("None", lambda v: v is None)
DICT = _Kind("a dict", lambda v: isinstance(v, dict))


#: A dropout probability (``module__dropout`` and the like).
PROBABILITY = Number(0, 1, open=("high",))


def kind(text, test):
    """A kind of value described as ``text`` (in "expected <text>, got ..."): those ``test``
    accepts."""
    return _Kind(text, test)
