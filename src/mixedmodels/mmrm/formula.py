"""R ``mmrm`` formula syntax: fixed effects plus exactly one covariance term.

``"FEV1 ~ RACE + SEX + ARMCD * AVISIT + us(AVISIT | USUBJID)"`` splits into the response
``FEV1``, the fixed right-hand side ``RACE + SEX + ARMCD * AVISIT`` (coded by
:mod:`mixedmodels.design.fixed` with R's contrasts and names) and the covariance term: its
structure (``us``, ``toep``, ...), the visit factor and the subject; ``us(AVISIT | ARMCD / USUBJID)``
adds a grouping factor with one covariance matrix per level. The spatial structures take one or more
numeric coordinates in place of the visit factor: ``sp_exp(VISITN, VISITN2 | USUBJID)``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import FormulaError
from .structures import SPATIAL_STRUCTURES, STRUCTURES

__all__ = ["MmrmFormula", "parse_mmrm_formula"]

_ALL_STRUCTURES = (*STRUCTURES, *SPATIAL_STRUCTURES)
_COV_CALL = re.compile(r"(?<![A-Za-z0-9_.])(" + "|".join(sorted(_ALL_STRUCTURES, key=len, reverse=True)) + r")\s*\(")
_NAME = re.compile(r"`[^`]+`|[A-Za-z_.][A-Za-z0-9_.]*")


@dataclass(frozen=True)
class MmrmFormula:
    """An mmrm formula in its parts.

    Attributes
    ----------
    formula : str            the formula as given
    response : str           left-hand side
    fixed : str              fixed right-hand side ("1" when only the covariance term is given)
    structure : str          mmrm's abbreviation, e.g. "us"
    visit : str or None      column name of the visit factor (None for a spatial structure)
    subject : str            column name of the subject identifier
    group : str or None      column whose levels get a covariance matrix each
    coordinates : tuple of str   the numeric coordinate columns of a spatial structure (else empty)
    """

    formula: str
    response: str
    fixed: str
    structure: str
    visit: str | None
    subject: str
    group: str | None
    coordinates: tuple = ()

    @property
    def spatial(self) -> bool:
        """A spatial structure (sp_exp, sp_gau): the covariance depends on the distances of the coordinates."""
        return self.structure in SPATIAL_STRUCTURES

    @property
    def covariance_term(self) -> str:
        group = f"{self.group} / " if self.group else ""
        time = ", ".join(self.coordinates) if self.spatial else self.visit
        return f"{self.structure}({time} | {group}{self.subject})"


def _closing(text: str, start: int) -> int:
    """Index of the parenthesis that closes the one opened at ``text[start - 1]``."""
    depth = 1
    for i in range(start, len(text)):
        depth += {"(": 1, ")": -1}.get(text[i], 0)
        if depth == 0:
            return i
    raise FormulaError(f"unbalanced parentheses in {text!r}")


def _name(text: str, what: str, formula: str) -> str:
    text = text.strip()
    if not _NAME.fullmatch(text):
        raise FormulaError(f"the {what} in the covariance term of {formula!r} must be a column name, not {text!r}")
    return text.strip("`")


def _remove_term(rhs: str, start: int, end: int) -> str:
    """The right-hand side without ``rhs[start:end]`` and the ``+`` that joined it."""
    before, after = rhs[:start].rstrip(), rhs[end:].lstrip()
    if after and not after.startswith("+"):
        raise FormulaError(f"the covariance term must be added to the fixed effects with '+': {rhs!r}")
    if before.endswith("+"):
        return f"{before[:-1].rstrip()} {after}".strip()
    if after.startswith("+") and not before:
        return after[1:].strip()
    if before or after:
        raise FormulaError(f"the covariance term must be added to the fixed effects with '+': {rhs!r}")
    return ""


def parse_mmrm_formula(formula: str) -> MmrmFormula:
    """Split an mmrm formula into response, fixed part and covariance term.

    Raises
    ------
    FormulaError
        No ``~``, no covariance term or more than one, a malformed term (``us(AVISIT)``), several
        visit variables for a structure that is not spatial.
    """
    if not isinstance(formula, str) or formula.count("~") != 1:
        raise FormulaError(f"formula must be a string 'response ~ terms + us(visit | subject)', got {formula!r}")
    lhs, rhs = (part.strip() for part in formula.split("~"))
    if not lhs:
        raise FormulaError(f"formula {formula!r} has no response")
    calls = list(_COV_CALL.finditer(rhs))
    if len(calls) != 1:
        found = "no" if not calls else f"{len(calls)}"
        raise FormulaError(
            f"an mmrm formula needs exactly one covariance term such as us(AVISIT | USUBJID); {found} found in "
            f"{formula!r} (structures: {', '.join(_ALL_STRUCTURES)})")
    call = calls[0]
    close = _closing(rhs, call.end())
    inner = rhs[call.end():close]
    if inner.count("|") != 1:
        raise FormulaError(f"the covariance term {rhs[call.start():close + 1]!r} must read "
                           f"{call.group(1)}(visit | subject) or {call.group(1)}(visit | group / subject)")
    visit_text, right = inner.split("|")
    group = None
    if "/" in right:
        group_text, subject_text = right.split("/", 1)
        group = _name(group_text, "group", formula)
    else:
        subject_text = right
    fixed = _remove_term(rhs, call.start(), close + 1) or "1"
    structure = call.group(1)
    times = [_name(t, "visit", formula) for t in visit_text.split(",")]
    coordinates = ()
    if structure in SPATIAL_STRUCTURES:
        visit, coordinates = None, tuple(times)
    elif len(times) > 1:
        raise FormulaError(f"{structure}() takes one visit variable, not {len(times)} ({', '.join(times)}); "
                           f"several coordinates are for the spatial structures ({', '.join(SPATIAL_STRUCTURES)})")
    else:
        visit = times[0]
    return MmrmFormula(formula=formula, response=lhs, fixed=fixed, structure=structure, visit=visit,
                       subject=_name(subject_text, "subject", formula), group=group, coordinates=coordinates)
