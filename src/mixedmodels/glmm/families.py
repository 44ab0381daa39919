"""Exponential families and links of a GLMM (R's ``binomial()``/``poisson()`` family objects).

For a response y with prior weights w (binomial: the number of trials times any user weight),
mean μ = g⁻¹(η) and variance function V(μ):

* IRLS working weight  wᵢ dμ/dη² / V(μᵢ), working residual (yᵢ − μᵢ) / (dμ/dη);
* deviance residual    d_i = 2 wᵢ [ℓ_i(y) − ℓ_i(μ)]   (binomial: 2w[y log(y/μ) + (1−y) log((1−y)/(1−μ))];
                                                      Poisson: 2w[y log(y/μ) − (y − μ)]);
* −2 log p(yᵢ | μᵢ)    R's ``family$aic`` summand (binomial: −2 (w/n) log dbinom(n y, n, μ);
                       Poisson: −2 w log dpois(y, μ)).

Links, with R's clamping at machine ε: logit, probit, cloglog (binomial); log (Poisson).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import special, stats

from ..errors import MixedModelsError

__all__ = ["Family", "Link", "binomial", "poisson", "get_family"]

EPS = np.finfo(float).eps
_PROBIT_THRESH = -stats.norm.ppf(EPS)
_LOGIT_THRESH = -np.log(EPS)


@dataclass(frozen=True)
class Link:
    """A link g: μ ↦ η with inverse and derivative dμ/dη (R's ``make.link``)."""

    name: str

    def link(self, mu: np.ndarray) -> np.ndarray:
        if self.name == "logit":
            return special.logit(mu)
        if self.name == "probit":
            return stats.norm.ppf(mu)
        if self.name == "cloglog":
            return np.log(-np.log1p(-mu))
        return np.log(mu)

    def inverse(self, eta: np.ndarray) -> np.ndarray:
        if self.name == "logit":
            return special.expit(np.clip(eta, -_LOGIT_THRESH, _LOGIT_THRESH))
        if self.name == "probit":
            return special.ndtr(np.clip(eta, -_PROBIT_THRESH, _PROBIT_THRESH))
        if self.name == "cloglog":
            return np.clip(-np.expm1(-np.exp(np.minimum(eta, 700.0))), EPS, 1 - EPS)
        return np.maximum(np.exp(eta), EPS)

    def mu_eta(self, eta: np.ndarray) -> np.ndarray:
        if self.name == "logit":
            mu = special.expit(eta)
            return np.maximum(mu * (1 - mu), EPS)
        if self.name == "probit":
            return np.maximum(stats.norm.pdf(eta), EPS)
        if self.name == "cloglog":
            e = np.exp(np.minimum(eta, 700.0))
            return np.maximum(e * np.exp(-e), EPS)
        return np.maximum(np.exp(eta), EPS)


_LINKS = {"binomial": ("logit", "probit", "cloglog"), "poisson": ("log",)}


@dataclass(frozen=True)
class Family:
    """A GLM family with its link; ``Family("binomial", "probit")``.

    Raises
    ------
    MixedModelsError
        Unknown family or a link the family does not offer.
    """

    name: str
    link_name: str | None = None

    def __post_init__(self):
        if self.name not in _LINKS:
            raise MixedModelsError(f"unknown family {self.name!r}; use one of {sorted(_LINKS)}")
        links = _LINKS[self.name]
        if self.link_name is None:
            object.__setattr__(self, "link_name", links[0])
        if self.link_name not in links:
            raise MixedModelsError(f"link {self.link_name!r} is not available for the {self.name} family; "
                                   f"use one of {list(links)}")

    @property
    def link(self) -> Link:
        return Link(self.link_name)

    def variance(self, mu: np.ndarray) -> np.ndarray:
        return mu * (1 - mu) if self.name == "binomial" else mu

    def start_mu(self, y: np.ndarray, weights: np.ndarray) -> np.ndarray:
        """R's ``family$initialize`` mustart: (w y + ½)/(w + 1) (binomial), y + 0.1 (Poisson)."""
        if self.name == "binomial":
            return (weights * y + 0.5) / (weights + 1)
        return y + 0.1

    def deviance_residuals(self, y: np.ndarray, mu: np.ndarray, weights: np.ndarray) -> np.ndarray:
        """Unsigned deviance contributions d_i (R's ``family$dev.resids``)."""
        if self.name == "binomial":
            return 2 * weights * (special.xlogy(y, y / mu) + special.xlogy(1 - y, (1 - y) / (1 - mu)))
        return 2 * weights * (special.xlogy(y, y / mu) - (y - mu))

    def minus_two_loglik(self, y: np.ndarray, mu: np.ndarray, weights: np.ndarray, trials: np.ndarray) -> np.ndarray:
        """−2 log p(yᵢ | μᵢ) per observation (R's ``family$aic`` summands); ``weights`` = trials × user weight."""
        if self.name == "binomial":
            n = np.round(trials)
            k = np.round(trials * y)
            log_p = special.gammaln(n + 1) - special.gammaln(k + 1) - special.gammaln(n - k + 1) \
                + special.xlogy(k, mu) + special.xlog1py(n - k, -mu)
            return -2 * np.where(trials > 0, weights / np.where(trials > 0, trials, 1), 0.0) * log_p
        return -2 * weights * (special.xlogy(y, mu) - mu - special.gammaln(y + 1))

    def simulate(self, mu: np.ndarray, trials: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Draws of y given μ (binomial: proportions of ``trials``), one column per column of ``mu``."""
        if self.name == "binomial":
            n = np.round(trials).astype(np.int64)[:, None] if mu.ndim == 2 else np.round(trials).astype(np.int64)
            return rng.binomial(n, mu) / np.where(n > 0, n, 1)
        return rng.poisson(mu).astype(float)

    def __str__(self) -> str:
        return f"{self.name}  ( {self.link_name} )"


def binomial(link: str = "logit") -> Family:
    """The binomial family (links logit, probit, cloglog)."""
    return Family("binomial", link)


def poisson(link: str = "log") -> Family:
    """The Poisson family (link log)."""
    return Family("poisson", link)


def get_family(family) -> Family:
    """A :class:`Family` from a Family or a name ("binomial", "poisson")."""
    if isinstance(family, Family):
        return family
    if isinstance(family, str):
        return Family(family.strip().lower())
    raise MixedModelsError(f"family must be 'binomial', 'poisson' or a Family, not {family!r}")
