"""From data to the mmrm arrays: NA rows, factor levels, duplicated visits, groups, weights."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mixedmodels.errors import DesignError, FormulaError
from mixedmodels.mmrm.data import build_mmrm_data
from mixedmodels.mmrm.formula import parse_mmrm_formula
from mmrm_reference import fev_data

FORMULA = "FEV1 ~ RACE + SEX + ARMCD * AVISIT + us(AVISIT | USUBJID)"


def _build(formula=FORMULA, data=None, weights=None):
    return build_mmrm_data(parse_mmrm_formula(formula), fev_data() if data is None else data, weights)


def test_missing_rows_dropped_and_counted():
    d = _build()
    assert d.nobs == 537 and d.n_dropped == 263 and d.n_subjects == 197
    assert d.visit_levels == ["VIS1", "VIS2", "VIS3", "VIS4"]
    assert d.fixed.column_names[:4] == ["(Intercept)", "RACEBlack or African American", "RACEWhite", "SEXFemale"]


def test_string_visit_becomes_sorted_factor():
    data = fev_data().assign(AVISIT=lambda x: x["AVISIT"].astype(str))
    assert _build(data=data).visit_levels == ["VIS1", "VIS2", "VIS3", "VIS4"]


def test_categorical_visit_keeps_its_order_and_drops_unused_levels():
    data = fev_data()
    data = data.assign(AVISIT=pd.Categorical(data["AVISIT"].astype(str), categories=["VIS4", "VIS0", "VIS3", "VIS2", "VIS1"]))
    assert _build(data=data).visit_levels == ["VIS4", "VIS3", "VIS2", "VIS1"]


def test_numeric_visit_is_an_error():
    with pytest.raises(DesignError, match="visit variable 'VISITN' must be a factor"):
        _build("FEV1 ~ ARMCD + us(VISITN | USUBJID)")


def test_duplicated_visit_is_an_error_naming_subject_and_visit():
    data = fev_data()
    data = pd.concat([data, data.iloc[[1]]])
    with pytest.raises(DesignError, match="unique for each subject: subject 'PT1' has visit 'VIS2' more than once"):
        _build(data=data)


def test_subjects_without_a_complete_row_are_recorded_not_an_error():
    """As R's mmrm: the subjects whose FEV1 is missing at every visit vanish from the fit (R's numbers), and
    the data record them."""
    d = _build()
    assert d.subjects_dropped == ["PT54", "PT142", "PT199"]
    assert not set(d.subjects_dropped) & set(d.subject_labels)
    data = fev_data().assign(RACE=lambda x: x["RACE"].where(x["USUBJID"] != "PT1"))
    assert _build(data=data).subjects_dropped == ["PT1", "PT54", "PT142", "PT199"]
    assert _build(data=fev_data().dropna(subset=["FEV1"])).subjects_dropped == []


def test_no_complete_row_at_all_is_an_error():
    data = fev_data().assign(FEV1=np.nan)
    with pytest.raises(DesignError, match="no rows left after removing 800 rows.*no subject has a complete row"):
        _build(data=data)


def test_subject_in_two_groups_is_an_error():
    data = fev_data().copy()
    data["ARMCD"] = data["ARMCD"].astype(str)
    data.loc[data.index[1], "ARMCD"] = "PBO" if data.loc[data.index[0], "ARMCD"] == "TRT" else "TRT"
    with pytest.raises(DesignError, match="belongs to more than one level of the group 'ARMCD'"):
        _build("FEV1 ~ AVISIT + us(AVISIT | ARMCD / USUBJID)", data)


def test_group_per_subject():
    d = _build("FEV1 ~ AVISIT + us(AVISIT | ARMCD / USUBJID)")
    assert d.group_levels == ["PBO", "TRT"] and d.group.shape == (d.n_subjects,)


def test_unknown_columns_and_bad_weights():
    with pytest.raises(FormulaError, match="unknown subject column 'ID'"):
        _build("FEV1 ~ ARMCD + us(AVISIT | ID)")
    with pytest.raises(DesignError, match="weights must be positive"):
        _build(weights=np.zeros(800))
    with pytest.raises(DesignError, match="one value per row"):
        _build(weights=np.ones(3))


def test_missing_weight_drops_the_row():
    w = np.ones(800)
    row = int(np.flatnonzero(fev_data()["FEV1"].notna().to_numpy())[0])
    w[row] = np.nan
    assert _build(weights=w).nobs == 536
