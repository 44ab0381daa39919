"""Shared fixtures: the lme4 reference fits in tests/reference (see its README) and a cache of our fits.

``MIXEDMODELS_REFERENCE`` overrides the folder (same layout: ``fits/``, optionally ``data/``).
The data sets the fits were computed on are the package's built-in ones (byte-identical copies).
"""

from __future__ import annotations

import json
import os
import warnings
from functools import lru_cache
from pathlib import Path

import pytest

import mixedmodels.datasets
from mixedmodels import lmer
from mixedmodels.datasets import read_csv_with_schema

REFERENCE = Path(os.environ.get("MIXEDMODELS_REFERENCE", Path(__file__).resolve().parent / "reference"))
PACKAGE_DATA = Path(mixedmodels.datasets.__file__).resolve().parent / "data"


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


def reference_data_path(dataset: str) -> Path:
    """The CSV file of a reference data set (``"sleepstudy.csv"``): the override's ``data/`` if it
    has one, otherwise the package's built-in copy (``.csv.gz`` for InstEval)."""
    for folder in (REFERENCE / "data", PACKAGE_DATA):
        for path in (folder / dataset, folder / f"{dataset}.gz"):
            if path.exists():
                return path
    raise FileNotFoundError(f"reference data set {dataset!r} is neither in {REFERENCE / 'data'} nor in {PACKAGE_DATA}")


@lru_cache(maxsize=None)
def reference_data(dataset: str):
    return read_csv_with_schema(reference_data_path(dataset))


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
