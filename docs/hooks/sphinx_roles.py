"""A griffe extension for the API reference: Sphinx roles in the docstrings as inline code.

The docstrings are numpydoc, whose cross-references (``:class:`kagdigits.nets.LeNet5```,
``:func:`~kagdigits.models.device.auto_precision```, ...) mkdocstrings would show as they are
written; this shows each as the code it names (``~`` keeps the last name only, as in Sphinx).
"""

import re

import griffe

ROLE = re.compile(r":(?:py:)?(?:class|func|meth|attr|data|mod|obj|exc|const):`(~?)([^`]+)`")


def _code(match):
    short, target = match.groups()
    return f"`{target.rsplit('.', 1)[-1] if short else target}`"


class SphinxRoles(griffe.Extension):
    def on_object(self, *, obj, **kwargs):
        if obj.docstring is not None:
            obj.docstring.value = ROLE.sub(_code, obj.docstring.value)
