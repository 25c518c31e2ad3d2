"""A griffe extension for the API reference: Sphinx roles and docs paths in the docstrings.

The docstrings are numpydoc, whose cross-references (``:class:`kagdigits.nets.LeNet5```,
``:func:`~kagdigits.models.device.auto_precision```, ...) mkdocstrings would show as they are
written. This shows each as the code it names (``~`` keeps the last name only, as in Sphinx),
linked when the API page documents that object (a ``::: name`` line of docs/api.md; a bare
name is looked up in the docstring's own module). A docs page named by its path
(``docs/benchmarks/accuracy.md``) becomes a link to that page of the site.
"""

import re
from pathlib import Path

import griffe

ROLE = re.compile(r":(?:py:)?(?:class|func|meth|attr|data|mod|obj|exc|const):`(~?)([^`]+)`")
PAGE = re.compile(r"(?<![\w/`\[])docs/([\w/-]+)\.md\b")
API_PAGE = Path(__file__).parents[1] / "api.md"
#: The objects the API page documents (mkdocstrings' identifiers, which autorefs links to).
DOCUMENTED = frozenset(re.findall(r"^::: (\S+)", API_PAGE.read_text(encoding="utf-8"), re.M))


def _module_of(obj):
    while obj is not None and not obj.is_module:
        obj = obj.parent
    return obj.path if obj is not None else ""


def _role(match, module):
    short, target = match.groups()
    code = f"`{target.rsplit('.', 1)[-1] if short else target}`"
    for identifier in (target, f"{module}.{target}"):
        if identifier in DOCUMENTED:
            return f"[{code}][{identifier}]"
    return code


def _page(match):
    # the API reference is the site's api/ page: its neighbours are one folder up
    return f"[{match[0]}](../{match[1]}/)"


class SphinxRoles(griffe.Extension):
    def on_object(self, *, obj, **kwargs):
        if obj.docstring is not None:
            module = _module_of(obj)
            text = ROLE.sub(lambda m: _role(m, module), obj.docstring.value)
            obj.docstring.value = PAGE.sub(_page, text)
