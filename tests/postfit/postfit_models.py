"""The R reference numbers of tests/reference/postfit and cached fits of their models (shared by the
tests of mixedmodels.postfit)."""

from __future__ import annotations

import json
import warnings
from functools import lru_cache
from pathlib import Path

import mixedmodels as mm
from mixedmodels.glmm.families import get_family

REFERENCE_FILE = Path(__file__).resolve().parents[1] / "reference" / "postfit" / "postfit_reference.json"

DATASETS = {"sleepstudy_slope": "sleepstudy", "sleepstudy_uncorr": "sleepstudy", "seed_petri": "seed_petri",
            "cake": "cake", "penicillin": "Penicillin", "cbpp_logit": "cbpp", "cbpp_probit": "cbpp",
            "cbpp_cloglog": "cbpp", "grouseticks": "grouseticks"}


@lru_cache(maxsize=None)
def reference() -> dict:
    return json.loads(REFERENCE_FILE.read_text())


@lru_cache(maxsize=None)
def fit(model_id: str):
    """Our fit of a model of ``reference()["r2"]`` (warnings silenced)."""
    record = reference()["r2"][model_id]
    data = mm.datasets.load(DATASETS[model_id])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if record["family"] is None:
            return mm.lmer(record["formula"], data)
        if record["family"] == "poisson":
            return mm.glmer(record["formula"], data, family="poisson")
        return mm.glmer(record["formula"], data, family=get_family("binomial", record["family"]))
