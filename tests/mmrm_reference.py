"""The R mmrm reference fits in tests/reference/mmrm, and our fits of the same models (cached)."""

from __future__ import annotations

import json
import warnings
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from mixedmodels.datasets import read_csv_with_schema
from mixedmodels.mmrm.criterion import MmrmCriterion
from mixedmodels.mmrm.data import build_mmrm_data
from mixedmodels.mmrm.ddf import resolve_methods
from mixedmodels.mmrm.fit import fit_at, mmrm
from mixedmodels.mmrm.formula import parse_mmrm_formula

FOLDER = Path(__file__).resolve().parent / "reference" / "mmrm"
IDS = sorted(p.stem for p in (FOLDER / "fits").glob("*.json"))


@lru_cache(maxsize=None)
def reference(model_id: str) -> dict:
    return json.loads((FOLDER / "fits" / f"{model_id}.json").read_text())


@lru_cache(maxsize=None)
def fev_data() -> pd.DataFrame:
    return read_csv_with_schema(FOLDER / "data" / "fev_data.csv")


def methods(ref: dict) -> tuple[str, str | None]:
    """Our method and vcov arguments for a reference file."""
    method = ref["method"].lower()
    vcov = None if ref["vcov_method"] == "Asymptotic" else ref["vcov_method"].lower()
    return method, vcov


@lru_cache(maxsize=None)
def our_fit(model_id: str):
    ref = reference(model_id)
    method, vcov = methods(ref)
    return mmrm(ref["formula"], fev_data(), reml=ref["REML"], method=method, vcov=vcov)


@lru_cache(maxsize=None)
def fit_at_r_theta(model_id: str):
    """Our fit object evaluated at R's θ: every formula apart from the optimiser."""
    ref = reference(model_id)
    parsed = parse_mmrm_formula(ref["formula"])
    criterion = MmrmCriterion(build_mmrm_data(parsed, fev_data()), parsed.structure, ref["REML"])
    method, vcov = resolve_methods(*methods(ref), ref["REML"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # R's θ is not exactly stationary: the gradient warning is expected
        return fit_at(criterion, np.array(ref["theta"]), method, vcov)


def reference_table(ref: dict) -> pd.DataFrame:
    return pd.DataFrame(ref["coef_table"]).set_index("term")


def reference_cov(ref: dict) -> dict:
    return {g: np.array(v["values"]) for g, v in ref["cov"].items()}


def our_cov(fit) -> dict:
    cov = fit.cov
    return {g: c.to_numpy() for g, c in cov.items()} if isinstance(cov, dict) else {"all": cov.to_numpy()}
