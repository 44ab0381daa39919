"""A griffe extension: the docstrings' Sphinx roles as Markdown code spans.

The docstrings are numpydoc with Sphinx cross-reference roles (``:func:`mixedmodels.lmer```,
``:mod:`.profile```, ``:class:`~x.Y```). mkdocstrings renders Markdown, where a role would show as
literal text; this extension turns each role into the code span of its target (``~`` and a
leading ``.`` dropped, as Sphinx displays them) when griffe loads an object.
"""

from __future__ import annotations

import re

import griffe

ROLE = re.compile(r":(?:py:)?(?:func|meth|class|mod|attr|data|obj|exc|const):`~?\.?([^`]+)`")


class SphinxRoles(griffe.Extension):
    """Rewrite ``:role:`target``` as ```target``` in every docstring griffe loads."""

    def on_object(self, *, obj: griffe.Object, **kwargs) -> None:
        if obj.docstring is not None:
            obj.docstring.value = ROLE.sub(r"`\1`", obj.docstring.value)
