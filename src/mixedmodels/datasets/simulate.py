"""Simulators that rebuild the lecture's data sets with numpy, any seed and any parameters.

Each returns a pandas DataFrame whose grouping columns are categoricals (levels "1", "2", … in
order), so they fit as R factors. The defaults are the designs of the shipped ``seed_clusters``,
``seed_rats`` and ``seed_petri`` data, which R drew (see their descriptions);
numpy's generator is not R's, so the same seed gives other numbers than the shipped files.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

__all__ = ["simulate_clusters", "simulate_litters", "simulate_petri"]

PETRI_MEANS = {"Control": 100.0, "AntibioticA": 80.0, "AntibioticB": 60.0}


def _positive_int(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer, not {value!r}")
    return int(value)


def _non_negative(value, name: str) -> float:
    value = float(value)
    if not np.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number >= 0, not {value!r}")
    return value


def _factor(codes: np.ndarray, n_levels: int) -> pd.Categorical:
    """Level j (0-based) labelled "j+1", as R's ``factor(1:n)``."""
    return pd.Categorical.from_codes(codes, categories=[str(j + 1) for j in range(n_levels)])


def simulate_clusters(n_clusters: int = 10, n_per_cluster: int = 10, tau: float = 100.0, sigma: float = 2.0,
                      seed=123) -> pd.DataFrame:
    """The lecture's clustered data: y_ij = u_j + e_ij, u_j ~ N(0, τ²), e_ij ~ N(0, σ²).

    Parameters
    ----------
    n_clusters, n_per_cluster : int
        Balanced design, ``n_clusters * n_per_cluster`` rows.
    tau, sigma : float
        Between-cluster and residual standard deviations (ICC = τ² / (τ² + σ²)).
    seed : int, numpy Generator or None
        Passed to :func:`numpy.random.default_rng`.

    Returns
    -------
    DataFrame
        Columns ``y`` (float) and ``cluster`` (categorical "1" … "n_clusters").
    """
    n_clusters = _positive_int(n_clusters, "n_clusters")
    n_per_cluster = _positive_int(n_per_cluster, "n_per_cluster")
    tau, sigma = _non_negative(tau, "tau"), _non_negative(sigma, "sigma")
    rng = np.random.default_rng(seed)
    codes = np.repeat(np.arange(n_clusters), n_per_cluster)
    effects = rng.normal(0.0, tau, n_clusters)
    y = effects[codes] + rng.normal(0.0, sigma, len(codes))
    return pd.DataFrame({"y": y, "cluster": _factor(codes, n_clusters)})


def simulate_litters(n_litters: int = 15, litter_size: tuple[int, int] = (4, 8), intercept: float = 250.0,
                     litter_sd: float = 1.0, food_slope: float = 2.0, slope_sd: float = 0.0, food_sd: float = 0.2,
                     sigma: float = 4.5, age_weeks: tuple[int, int] = (8, 12), seed=2024) -> pd.DataFrame:
    """The lecture's rat body weights by litter.

    BodyWeight_ij = intercept + u_j + (food_slope + v_j) · FoodIntake_ij + e_ij, with litter
    effects u_j ~ N(0, litter_sd²), litter slopes v_j ~ N(0, slope_sd²) (0 by default, as in the
    lecture), FoodIntake ~ N(0, food_sd²) (centred, rounded to 0.001), e ~ N(0, sigma²), BodyWeight
    rounded to 0.01 g. Age (whole weeks, uniform in ``age_weeks``) and ActivityLevel
    (N(50, 10²), rounded to 0.1) are unrelated to the body weight.

    Parameters
    ----------
    n_litters : int
    litter_size : (int, int)
        Smallest and largest number of animals per litter; each litter's size is uniform on it.
    intercept, litter_sd, food_slope, slope_sd, food_sd, sigma : float
    age_weeks : (int, int)
        Range of ages in weeks (inclusive).
    seed : int, numpy Generator or None

    Returns
    -------
    DataFrame
        Columns LitterID (categorical "1" … "n_litters"), Age (int), BodyWeight, FoodIntake,
        ActivityLevel (float), one row per animal, litters in order.
    """
    n_litters = _positive_int(n_litters, "n_litters")
    smallest, largest = (_positive_int(v, "litter_size") for v in litter_size)
    young, old = (int(v) for v in age_weeks)
    if smallest > largest or young > old:
        raise ValueError("litter_size and age_weeks must be (low, high) with low <= high")
    litter_sd, slope_sd = _non_negative(litter_sd, "litter_sd"), _non_negative(slope_sd, "slope_sd")
    food_sd, sigma = _non_negative(food_sd, "food_sd"), _non_negative(sigma, "sigma")
    rng = np.random.default_rng(seed)
    sizes = rng.integers(smallest, largest + 1, n_litters)
    codes = np.repeat(np.arange(n_litters), sizes)
    n = len(codes)
    u = rng.normal(0.0, litter_sd, n_litters)
    v = rng.normal(0.0, slope_sd, n_litters)
    food = np.round(rng.normal(0.0, food_sd, n), 3)
    weight = intercept + u[codes] + (food_slope + v[codes]) * food + rng.normal(0.0, sigma, n)
    return pd.DataFrame({
        "LitterID": _factor(codes, n_litters),
        "Age": rng.integers(young, old + 1, n),
        "BodyWeight": np.round(weight, 2),
        "FoodIntake": food,
        "ActivityLevel": np.round(rng.normal(50.0, 10.0, n), 1),
    })


def simulate_petri(n_dishes: int = 10, n_counts: int = 5, means: Mapping[str, float] = PETRI_MEANS,
                   dish_sd: float = 8.0, sigma: float = 5.0, seed=42) -> pd.DataFrame:
    """The lecture's mixed ANOVA: colony counts in petri dishes under treatments.

    y_gdk = round(μ_g + u_d + e_gdk), u_d ~ N(0, dish_sd²) per dish, e ~ N(0, sigma²): ``n_dishes``
    dishes per treatment group, ``n_counts`` counts per dish.

    Parameters
    ----------
    n_dishes, n_counts : int
    means : mapping of group name to mean
        In level order; the first is the reference level (default Control 100, AntibioticA 80,
        AntibioticB 60).
    dish_sd, sigma : float
    seed : int, numpy Generator or None

    Returns
    -------
    DataFrame
        Columns y (int colony count), group (categorical in the order of ``means``), dish_id
        (categorical "1" … str(n_groups · n_dishes); dishes numbered group by group).
    """
    n_dishes = _positive_int(n_dishes, "n_dishes")
    n_counts = _positive_int(n_counts, "n_counts")
    if not isinstance(means, Mapping) or not means:
        raise ValueError("means must be a non-empty mapping of group name to mean")
    dish_sd, sigma = _non_negative(dish_sd, "dish_sd"), _non_negative(sigma, "sigma")
    groups, mu = [str(g) for g in means], np.array([float(m) for m in means.values()])
    rng = np.random.default_rng(seed)
    n_all = len(groups) * n_dishes
    dish = np.repeat(np.arange(n_all), n_counts)
    group = dish // n_dishes
    effects = rng.normal(0.0, dish_sd, n_all)
    y = np.round(mu[group] + effects[dish] + rng.normal(0.0, sigma, len(dish))).astype(np.int64)
    return pd.DataFrame({"y": y, "group": pd.Categorical.from_codes(group, categories=groups),
                         "dish_id": _factor(dish, n_all)})
