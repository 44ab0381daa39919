"""Shared fixtures: the lme4 reference fits in ../shared/reference and a cache of our fits."""

from __future__ import annotations

import json
import os
import warnings
from functools import lru_cache
from pathlib import Path

import pytest

from mixedmodels import lmer
from mixedmodels.datasets import read_csv_with_schema

REFERENCE = Path(os.environ.get("MIXEDMODELS_REFERENCE", Path(__file__).resolve().parents[2] / "shared" / "reference"))


def reference_ids(kind: str = "lmm") -> list[str]:
    """Ids of the reference fits: ``"lmm"`` (lmer fits) or ``"glmm"``."""
    ids = []
    for path in sorted((REFERENCE / "fits").glob("*.json")):
        record = json.loads(path.read_text())
        if "family" not in record:
            continue
        if (record["family"] is None) == (kind == "lmm"):
            ids.append(record["id"])
    return ids


@lru_cache(maxsize=None)
def reference(model_id: str) -> dict:
    return json.loads((REFERENCE / "fits" / f"{model_id}.json").read_text())


@lru_cache(maxsize=None)
def reference_data(dataset: str):
    return read_csv_with_schema(REFERENCE / "data" / dataset)


@lru_cache(maxsize=None)
def fitted(model_id: str):
    """Our lmer fit of a reference model (cached for the session; warnings silenced)."""
    record = reference(model_id)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return lmer(record["formula"], reference_data(record["dataset"]), reml=record["REML"],
                    data_name=record["data_object"])


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    if not REFERENCE.exists():
        pytest.fail(f"reference fits not found at {REFERENCE}; set MIXEDMODELS_REFERENCE")
    return REFERENCE
