"""The family registry of a GLMM: one object per family holds everything the fit needs.

A family is its response check, link g (μ = g⁻¹(η)), variance function V(μ), deviance residuals,
−2 log p(y | μ), simulator, IRLS weights and what it adds to lme4's Laplace criterion. The fitting
code, AGQ, simulate, bootstrap, profile and the plots call only these methods; nothing elsewhere
branches on a family's name.

For a response y with prior weights w (binomial: trials × user weight):

* IRLS working weight  Wᵢ = wᵢ (dμ/dη)² / V(μᵢ), working residual (yᵢ − μᵢ)/(dμ/dη) (Fisher
  scoring, as lme4's PIRLS; :class:`NBinom1` replaces them, see there);
* deviance residual    dᵢ = 2 wᵢ [ℓᵢ(y) − ℓᵢ(μ)] (R's ``family$dev.resids``);
* Laplace data term    Σᵢ −2 log p(yᵢ | μᵢ) = Σ dᵢ + S, S the saturated model's part, for families
  whose dispersion is known (binomial, Poisson, negative binomial at given θ, nbinom1 at given φ).
  Gamma and inverse Gaussian: lme4's ``family$aic`` with the dispersion φ = Σ dᵢ / Σ wᵢ (see
  :class:`Gamma`), and σ̂ = √((Pearson χ² + ‖û‖²)/n) reported as lme4's ``sigma()``.

========================  ==================  ==========================  ==========================
family (string)           V(μ)                links (first = default)     dispersion
========================  ==================  ==========================  ==========================
``binomial``              μ(1 − μ)            logit, probit, cloglog       none
``poisson``               μ                   log, identity, sqrt          none
``negative_binomial``     μ + μ²/θ            log, sqrt, identity          θ (lme4 ``glmer.nb``)
``nbinom1``               μ(1 + φ)            log                          φ (glmmTMB ``nbinom1``)
``Gamma``                 μ²                  inverse, log, identity       φ = Σdᵢ/n (lme4)
``inverse_gaussian``      μ³                  1/mu^2, inverse, identity,   φ = Σdᵢ/n (lme4)
                                              log
========================  ==================  ==========================  ==========================
"""

from __future__ import annotations

import math
import warnings

import numpy as np
from scipy import special

from .._distributions import norm_quantile
from ..errors import MixedModelsError
from ._kernels import log_poisson_rows, logit_binomial_rows
from ._nbinom1 import nbinom1_rows

__all__ = ["Family", "Link", "Binomial", "Poisson", "NegativeBinomial", "NBinom1", "Gamma", "InverseGaussian",
           "binomial", "poisson", "get_family", "FAMILIES", "LINKS"]

EPS = np.finfo(float).eps
_PROBIT_THRESH = -norm_quantile(EPS)
_SQRT_2PI = np.sqrt(2 * np.pi)  # the standard normal density φ(η) = exp(−η²/2)/√(2π), as scipy.stats'
_LOGIT_THRESH = -np.log(EPS)


# ---------------------------------------------------------------------------------------------- links
def _cloglog_inverse(eta):
    return np.clip(-np.expm1(-np.exp(np.minimum(eta, 700.0))), EPS, 1 - EPS)


def _cloglog_mu_eta(eta):
    e = np.exp(np.minimum(eta, 700.0))
    return np.maximum(e * np.exp(-e), EPS)


def _logit_inverse(eta):
    """1/(1 + e^{−η}) with η clamped at ±log(1/ε) (R's ``plogis`` in ``make.link("logit")``)."""
    return 1.0 / (1.0 + np.exp(-np.clip(eta, -_LOGIT_THRESH, _LOGIT_THRESH)))


def _logit_mu_eta(eta):
    """μ(1 − μ) = e^{−|η|}/(1 + e^{−|η|})², at least ε."""
    e = np.exp(-np.abs(eta))
    return np.maximum(e / (1.0 + e) ** 2, EPS)


def xlogx(y: np.ndarray) -> np.ndarray:
    """y log y, 0 at y = 0 (the saturated part of y log(y/μ) = y log y − y log μ)."""
    return y * np.log(np.where(y > 0, y, 1.0))


#: name -> (g(μ), g⁻¹(η), dμ/dη), as R's ``make.link`` (with its clamping at machine ε)
LINKS = {
    "logit": (special.logit, _logit_inverse, _logit_mu_eta),
    "probit": (norm_quantile, lambda eta: special.ndtr(np.clip(eta, -_PROBIT_THRESH, _PROBIT_THRESH)),
               lambda eta: np.maximum(np.exp(-eta**2 / 2.0) / _SQRT_2PI, EPS)),
    "cloglog": (lambda mu: np.log(-np.log1p(-mu)), _cloglog_inverse, _cloglog_mu_eta),
    "log": (np.log, lambda eta: np.maximum(np.exp(eta), EPS), lambda eta: np.maximum(np.exp(eta), EPS)),
    "identity": (lambda mu: np.asarray(mu, float), lambda eta: np.asarray(eta, float),
                 lambda eta: np.ones_like(np.asarray(eta, float))),
    "inverse": (lambda mu: 1.0 / mu, lambda eta: 1.0 / eta, lambda eta: -1.0 / (eta * eta)),
    "sqrt": (np.sqrt, lambda eta: eta * eta, lambda eta: 2.0 * eta),
    "1/mu^2": (lambda mu: 1.0 / (mu * mu), lambda eta: 1.0 / np.sqrt(eta), lambda eta: -1.0 / (2.0 * eta**1.5)),
}


class Link:
    """A link g: μ ↦ η with its inverse and derivative dμ/dη (R's ``make.link``)."""

    def __init__(self, name: str):
        if name not in LINKS:
            raise MixedModelsError(f"unknown link {name!r}; use one of {sorted(LINKS)}")
        self.name = name
        self.link, self.inverse, self.mu_eta = LINKS[name]

    def __eq__(self, other):
        return isinstance(other, Link) and other.name == self.name

    def __hash__(self):
        return hash(self.name)

    def __repr__(self):
        return f"Link({self.name!r})"


# ---------------------------------------------------------------------------------------------- families
class Family:
    """Base class of a GLMM family (see the module docstring); subclasses fill in the formulas.

    Class attributes
    ----------------
    name : registry key ("binomial", "Gamma", ...); links : the links offered, default first;
    has_scale : lme4's ``useSc`` (σ̂ estimated from the Pearson residuals and reported);
    supports_agq : nAGQ > 1 available; estimates_dispersion : "profile" (lme4's ``glmer.nb``:
    a parameter of the optimisation, the fit then reported at its estimate as known), "joint"
    (a parameter of the Laplace optimisation and of Var(β̂), as glmmTMB), or None; newton_links : links for which PIRLS iterates with :meth:`newton` (the
    observed information: quadratic convergence where Fisher scoring converges linearly) and
    factors the Laplace matrix once more at the mode with :meth:`laplace_weights`.
    """

    name = ""
    links: tuple[str, ...] = ()
    has_scale = False
    supports_agq = True
    estimates_dispersion: str | None = None
    newton_links: tuple[str, ...] = ()
    reports_overdispersion = False
    proportion_response = False

    def __init__(self, link: str | None = None):
        if link is None:
            link = self.links[0]
        if not isinstance(link, str) or link not in self.links:
            raise MixedModelsError(f"link {link!r} is not available for the {self.name} family; "
                                   f"use one of {list(self.links)}")
        self.link_name = link
        self.link = Link(link)

    # -- identity -------------------------------------------------------------------------------
    @property
    def label(self) -> str:
        """The family as lme4 prints it (R's ``family$family``)."""
        return self.name

    def __str__(self) -> str:
        return f"{self.label}  ( {self.link_name} )"

    def __repr__(self) -> str:
        return f"{type(self).__name__}(link={self.link_name!r})"

    def __eq__(self, other):
        return type(other) is type(self) and other.__dict__.keys() == self.__dict__.keys() and all(
            other.__dict__[k] == v for k, v in self.__dict__.items())

    def __hash__(self):
        return hash((type(self).__name__, self.link_name))

    @property
    def dispersion(self) -> float | None:
        """The family's own dispersion parameter when it has one (θ, φ), else None."""
        return None

    def with_dispersion(self, value: float) -> "Family":
        """The same family at dispersion parameter ``value`` (families that have one)."""
        raise MixedModelsError(f"the {self.name} family has no dispersion parameter")

    @property
    def n_dispersion(self) -> int:
        """Number of estimated parameters besides θ and β (lme4's ``npar`` counts them)."""
        return int(self.has_scale or (self.estimates_dispersion is not None and self.dispersion is None))

    # -- the model ------------------------------------------------------------------------------
    def response(self, y: np.ndarray, weights: np.ndarray | None):
        """(y, prior weights, trials) from the model response, checked; trials are ones except binomial.

        Raises
        ------
        MixedModelsError
            A response the family cannot have (the message names the family and the values).
        """
        if y.ndim == 2:
            raise MixedModelsError(f"cbind() responses are for the binomial family, not {self.name}")
        self.check_values(y)
        prior = np.ones(len(y)) if weights is None else weights
        return y, prior, np.ones(len(y))

    def check_values(self, y: np.ndarray) -> None:
        """Raise MixedModelsError for response values outside the family's support."""

    def variance(self, mu: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def start_mu(self, y: np.ndarray, weights: np.ndarray) -> np.ndarray:
        """R's ``family$initialize`` mustart."""
        return y

    def deviance_residuals(self, y: np.ndarray, mu: np.ndarray, weights: np.ndarray,
                           saturated_part: np.ndarray | float | None = None) -> np.ndarray:
        """Unsigned deviance contributions dᵢ (R's ``family$dev.resids``).

        ``saturated_part`` is :meth:`saturated_deviance_part` of the same y and weights, when the
        caller evaluates dᵢ for many μ (PIRLS): the terms of dᵢ in y alone are then not recomputed.
        """
        raise NotImplementedError

    def saturated_deviance_part(self, y: np.ndarray, weights: np.ndarray) -> np.ndarray | float:
        """The terms of dᵢ that depend on y alone (see :meth:`deviance_residuals`); 0 when a family
        does not split them off."""
        return 0.0

    def minus_two_loglik(self, y, mu, weights, trials) -> np.ndarray:
        """−2 log p(yᵢ | μᵢ) per observation (R's ``family$aic`` summands) for a known dispersion."""
        raise NotImplementedError

    def saturated(self, y, weights, trials) -> float:
        """S = Σ −2 log p(yᵢ | μᵢ = yᵢ), so that the data term is Σ dᵢ + S."""
        return float(np.sum(self.minus_two_loglik(y, y, weights, trials)))

    def data_term(self, y, mu, weights, dev_sum: float, saturated: float) -> float:
        """The Laplace criterion's data term, lme4's ``aic()``: Σ dᵢ + S (known dispersion), from
        ``dev_sum`` = Σ dᵢ."""
        return float(dev_sum + saturated)

    def irls(self, y, eta, mu, weights):
        """(W, z̃ − η): IRLS working weights and working residual (Fisher scoring, as lme4)."""
        mu_eta = self.link.mu_eta(eta)
        return weights * mu_eta**2 / self.variance(mu), (y - mu) / mu_eta

    def working_state(self, y, eta, offset, weights, saturated_part, out=None):
        """(μ, dᵢ, W, z̃ − o) at η with offset o: everything a PIRLS step needs of the rows, in one
        call (z̃ − o = η − o + (z̃ − η), the working response A(W)'s pass reads); written into the
        four arrays ``out`` when given (PIRLS keeps them between steps).

        ``saturated_part`` is :meth:`saturated_deviance_part`; W and z̃ − η are :meth:`newton`'s
        for a Newton family, else :meth:`irls`'s. Families override it with a compiled version of
        the same formulas where PIRLS spends its time (:mod:`._kernels`).
        """
        mu = self.link.inverse(eta)
        dev = self.deviance_residuals(y, mu, weights, saturated_part)
        w, resid = (self.newton if self.newton_iteration else self.irls)(y, eta, mu, weights)
        return _into(out, (mu, dev, w, (eta - offset) + resid))

    @property
    def newton_iteration(self) -> bool:
        """PIRLS takes Newton steps (the link is among ``newton_links``)."""
        return self.link_name in self.newton_links

    def newton(self, y, eta, mu, weights):
        """(W, z̃ − η) of a Newton step, W = −∂²log p/∂η² (positive), W(z̃ − η) = ∂log p/∂η, for a
        link in ``newton_links``; else the IRLS weights."""
        return self._newton(y, mu, weights) if self.newton_iteration else self.irls(y, eta, mu, weights)

    def _newton(self, y, mu, weights):
        raise NotImplementedError

    def laplace_weights(self, y, eta, mu, weights) -> np.ndarray:
        """The weights of ΛᵀZᵀWZΛ + I in the Laplace log-determinant: lme4's IRLS weights."""
        return self.irls(y, eta, mu, weights)[0]

    def simulate(self, mu: np.ndarray, trials: np.ndarray, rng: np.random.Generator, sigma: float = 1.0) -> np.ndarray:
        """Draws of y given μ (one column per column of ``mu``); ``sigma`` is the fit's σ̂."""
        raise NotImplementedError

    def latent_variance(self, lam: float, sigma: float) -> float:
        """Distribution-specific variance σ²_d of the latent-scale ICC (Nakagawa et al. 2017); ``lam``
        = exp(β̂₀ + Σ v_k/2) for log links."""
        raise MixedModelsError(f"the latent-scale ICC is not available for the {self} family")


def _into(out, values):
    """``values``, copied into the arrays ``out`` when given (:meth:`Family.working_state`)."""
    if out is None:
        return values
    for target, value in zip(out, values):
        target[...] = value
    return tuple(out)


def _check_counts(family: Family, y: np.ndarray) -> None:
    if (y < 0).any():
        row = int(np.flatnonzero(y < 0)[0])
        raise MixedModelsError(f"negative counts in the response of a {family.name} model "
                               f"(first at row {row}: {y[row]:g})")
    if not np.array_equal(y, np.round(y)):
        row = int(np.flatnonzero(y != np.round(y))[0])
        raise MixedModelsError(f"non-integer counts in the response of a {family.name} model "
                               f"(first at row {row}: {y[row]:g})")


def _check_positive(family: Family, y: np.ndarray) -> None:
    if not (y > 0).all():
        row = int(np.flatnonzero(~(y > 0))[0])
        raise MixedModelsError(f"the {family.name} family needs a positive response; row {row} has {y[row]:g}")


def _log_link_only(family: Family, what: str) -> None:
    if family.link_name != "log":
        raise MixedModelsError(f"{what} is available for the log link only, not {family.link_name!r}")


class Binomial(Family):
    """Binomial: V(μ) = μ(1 − μ); a 0/1, cbind(successes, failures) or proportion (with trials as
    weights) response; dᵢ = 2wᵢ[y log(y/μ) + (1−y) log((1−y)/(1−μ))]."""

    name = "binomial"
    links = ("logit", "probit", "cloglog")
    proportion_response = True

    def response(self, y, weights):
        if y.ndim == 2:
            if (y < 0).any():
                raise MixedModelsError("binomial response cbind(successes, failures) has negative counts")
            trials = y.sum(axis=1)
            if not (trials > 0).any():
                raise MixedModelsError("binomial response has no trials: every successes + failures is 0")
            prop = np.divide(y[:, 0], trials, out=np.zeros(len(y)), where=trials > 0)
            return prop, trials if weights is None else trials * weights, trials
        if ((y < 0) | (y > 1)).any():
            raise MixedModelsError("binomial response must be 0/1 or a proportion in [0, 1] (or use "
                                   "cbind(successes, failures)); found values outside [0, 1]")
        if weights is None:
            if not np.isin(y, (0.0, 1.0)).all():
                raise MixedModelsError("binomial response given as proportions needs the number of trials: "
                                       "pass weights= (trials) or use cbind(successes, failures)")
            return y, np.ones(len(y)), np.ones(len(y))
        if not (weights > 0).any():
            raise MixedModelsError("binomial response has no trials: all weights are 0")
        if not np.allclose(weights * y, np.round(weights * y), atol=1e-7):
            warnings.warn("non-integer #successes in a binomial glm!", UserWarning, stacklevel=4)
        return y, weights, weights

    def variance(self, mu):
        return mu * (1 - mu)

    def start_mu(self, y, weights):
        return (weights * y + 0.5) / (weights + 1)

    def working_state(self, y, eta, offset, weights, saturated_part, out=None):
        if self.link_name == "logit":
            return logit_binomial_rows(y, eta, offset, weights, saturated_part, out)
        return super().working_state(y, eta, offset, weights, saturated_part, out)

    def saturated_deviance_part(self, y, weights):
        """2w[y log y + (1 − y) log(1 − y)]."""
        return 2 * weights * (xlogx(y) + xlogx(1 - y))

    def deviance_residuals(self, y, mu, weights, saturated_part=None):
        if saturated_part is None:
            saturated_part = self.saturated_deviance_part(y, weights)
        return saturated_part - 2 * weights * (y * np.log(mu) + (1 - y) * np.log1p(-mu))

    def minus_two_loglik(self, y, mu, weights, trials):
        n = np.round(trials)
        k = np.round(trials * y)
        log_p = special.gammaln(n + 1) - special.gammaln(k + 1) - special.gammaln(n - k + 1) \
            + special.xlogy(k, mu) + special.xlog1py(n - k, -mu)
        return -2 * np.where(trials > 0, weights / np.where(trials > 0, trials, 1), 0.0) * log_p

    def simulate(self, mu, trials, rng, sigma=1.0):
        n = np.round(trials).astype(np.int64)
        n = n[:, None] if mu.ndim == 2 else n
        return rng.binomial(n, mu) / np.where(n > 0, n, 1)

    def latent_variance(self, lam, sigma):
        return {"logit": math.pi**2 / 3, "probit": 1.0, "cloglog": math.pi**2 / 6}[self.link_name]


class Poisson(Family):
    """Poisson: V(μ) = μ; dᵢ = 2wᵢ[y log(y/μ) − (y − μ)]; −2 log p = −2w log dpois(y, μ)."""

    name = "poisson"
    links = ("log", "identity", "sqrt")
    reports_overdispersion = True

    def check_values(self, y):
        _check_counts(self, y)

    def variance(self, mu):
        return mu

    def start_mu(self, y, weights):
        return y + 0.1

    def working_state(self, y, eta, offset, weights, saturated_part, out=None):
        if self.link_name == "log":
            return log_poisson_rows(y, eta, offset, weights, saturated_part, out)
        return super().working_state(y, eta, offset, weights, saturated_part, out)

    def saturated_deviance_part(self, y, weights):
        """2w[y log y − y]."""
        return 2 * weights * (xlogx(y) - y)

    def deviance_residuals(self, y, mu, weights, saturated_part=None):
        if saturated_part is None:
            saturated_part = self.saturated_deviance_part(y, weights)
        return saturated_part + 2 * weights * (mu - y * np.log(mu))

    def minus_two_loglik(self, y, mu, weights, trials):
        return -2 * weights * (special.xlogy(y, mu) - mu - special.gammaln(y + 1))

    def simulate(self, mu, trials, rng, sigma=1.0):
        return rng.poisson(mu).astype(float)

    def latent_variance(self, lam, sigma):
        """Lognormal approximation ln(1 + 1/λ) (log link)."""
        _log_link_only(self, "the latent-scale ICC of a Poisson model")
        return math.log1p(1.0 / lam)


class _CountDispersion(Family):
    """What the negative binomial families share: a positive dispersion parameter (``parameter``:
    its attribute name; None = estimated by the fit), count responses, and R's ``mustart``
    y + (y = 0)/6 (MASS's ``negative.binomial``)."""

    parameter = ""

    def __init__(self, value: float | None = None, link: str | None = None):
        super().__init__(link)
        if value is not None and not (np.isfinite(value) and value > 0):
            raise MixedModelsError(f"the {self.name} {self.parameter} must be a positive number, not {value!r}")
        setattr(self, self.parameter, None if value is None else float(value))

    def __repr__(self):
        return f"{type(self).__name__}({self.parameter}={self.dispersion!r}, link={self.link_name!r})"

    @property
    def dispersion(self):
        return getattr(self, self.parameter)

    def with_dispersion(self, value):
        return type(self)(value, self.link_name)

    def _value(self) -> float:
        if self.dispersion is None:
            raise MixedModelsError(f"the {self.name} {self.parameter} is not known yet (it is estimated by the fit)")
        return self.dispersion

    def check_values(self, y):
        _check_counts(self, y)

    def start_mu(self, y, weights):
        return y + (y == 0) / 6.0


class NegativeBinomial(_CountDispersion):
    """Negative binomial NB2 (MASS's ``negative.binomial(theta)``): V(μ) = μ + μ²/θ,

        dᵢ = 2wᵢ[y log(max(y, 1)/μ) − (y + θ) log((y + θ)/(μ + θ))],
        −2 log p = 2wᵢ[(y + θ) log(μ + θ) − y log μ + log y! − θ log θ + log Γ(θ) − log Γ(θ + y)].

    ``theta=None`` estimates θ as lme4's ``glmer.nb`` does (see :mod:`.negbin`).
    """

    name = "negative_binomial"
    links = ("log", "sqrt", "identity")
    estimates_dispersion = "profile"

    parameter = "theta"

    def __init__(self, theta: float | None = None, link: str | None = None):
        super().__init__(theta, link)

    @property
    def label(self):
        return "Negative Binomial" if self.theta is None else f"Negative Binomial({_r_format(round(self.theta, 4))})"

    def _theta(self):
        return self._value()

    def variance(self, mu):
        return mu + mu * mu / self._theta()

    newton_links = ("log",)

    def _newton(self, y, mu, weights):
        """Log link: −∂²log p/∂η² = wθμ(y + θ)/(μ + θ)² > 0, ∂log p/∂η = wθ(y − μ)/(μ + θ)."""
        th = self._theta()
        W = weights * th * mu * (y + th) / (mu + th) ** 2
        return W, (y - mu) * (mu + th) / (mu * (y + th))

    def saturated_deviance_part(self, y, weights):
        """2w[y log max(y, 1) − (y + θ) log(y + θ)]."""
        th = self._theta()
        return 2 * weights * (y * np.log(np.maximum(y, 1.0)) - (y + th) * np.log(y + th))

    def deviance_residuals(self, y, mu, weights, saturated_part=None):
        if saturated_part is None:
            saturated_part = self.saturated_deviance_part(y, weights)
        th = self._theta()
        return saturated_part + 2 * weights * ((y + th) * np.log(mu + th) - y * np.log(mu))

    def minus_two_loglik(self, y, mu, weights, trials):
        th = self._theta()
        term = (y + th) * np.log(mu + th) - special.xlogy(y, mu) + special.gammaln(y + 1) - th * np.log(th) \
            + special.gammaln(th) - special.gammaln(th + y)
        return 2 * weights * term

    def simulate(self, mu, trials, rng, sigma=1.0):
        th = self._theta()
        return rng.negative_binomial(th, th / (th + mu)).astype(float)

    def latent_variance(self, lam, sigma):
        """Lognormal approximation ln(1 + 1/λ + 1/θ) (log link)."""
        _log_link_only(self, "the latent-scale ICC of a negative binomial model")
        return math.log1p(1.0 / lam + 1.0 / self._theta())


class NBinom1(_CountDispersion):
    """glmmTMB's ``nbinom1``: NB with size k = μ/φ, so V(μ) = μ(1 + φ) (log link):

        log p(y | μ) = log Γ(y + k) − log Γ(k) − log y! − k log(1 + φ) + y log(φ/(1 + φ)).

    Not an exponential family at fixed φ: the score is ∂log p/∂η = (μ/φ)[ψ(y + k) − ψ(k) − log(1 + φ)],
    the observed information −∂²log p/∂η² = −(μ/φ)²[ψ′(y + k) − ψ′(k)] − ∂log p/∂η; PIRLS takes
    Newton steps (a Fisher scoring step with the IRLS weight μ/(1 + φ) where the observed
    information makes the system indefinite), and the
    Laplace log-determinant uses the observed information, as TMB's Laplace approximation. φ is
    estimated jointly with (θ, β).
    """

    name = "nbinom1"
    links = ("log",)
    estimates_dispersion = "joint"
    newton_links = ("log",)
    supports_agq = False

    parameter = "phi"

    def __init__(self, phi: float | None = None, link: str | None = None):
        super().__init__(phi, link)

    def _phi(self):
        return self._value()

    def variance(self, mu):
        return mu * (1 + self._phi())

    def _loglik(self, y, mu):
        phi = self._phi()
        k = mu / phi
        return special.gammaln(y + k) - special.gammaln(k) - special.gammaln(y + 1) - k * math.log1p(phi) \
            + y * math.log(phi / (1 + phi))

    def minus_two_loglik(self, y, mu, weights, trials):
        return -2 * weights * self._loglik(y, mu)

    def saturated(self, y, weights, trials):
        """Σ −2wᵢ log p(yᵢ | μᵢ = yᵢ), with p(0 | μ → 0) = 1."""
        return float(np.sum(self.minus_two_loglik(y, np.maximum(y, EPS), weights, trials)))

    def saturated_deviance_part(self, y, weights):
        """2wᵢ log p(y | μ = y)."""
        return 2 * weights * self._loglik(y, np.maximum(y, EPS))

    def deviance_residuals(self, y, mu, weights, saturated_part=None):
        """2wᵢ[log p(y | μ = y) − log p(y | μ)] (zero at μ = y; as −2 log p up to a constant)."""
        if saturated_part is None:
            saturated_part = self.saturated_deviance_part(y, weights)
        return saturated_part - 2 * weights * self._loglik(y, mu)

    def _score(self, y, mu):
        phi = self._phi()
        k = mu / phi
        return (mu / phi) * (special.digamma(y + k) - special.digamma(k) - math.log1p(phi))

    def irls(self, y, eta, mu, weights):
        w = weights * mu / (1 + self._phi())
        return w, weights * self._score(y, mu) / w

    def working_state(self, y, eta, offset, weights, saturated_part, out=None):
        mu = self.link.inverse(eta)
        dev, W, resid = nbinom1_rows(y, mu, weights, saturated_part, self._phi())
        return _into(out, (mu, dev, W, (eta - offset) + resid))

    def laplace_weights(self, y, eta, mu, weights):
        """The observed information −∂²log p/∂η² = −k²[ψ′(y + k) − ψ′(k)] − ∂log p/∂η, k = μ/φ
        (TMB's Laplace approximation; compiled, :mod:`._nbinom1`)."""
        return nbinom1_rows(y, mu, weights, 0.0, self._phi())[1]

    def _newton(self, y, mu, weights):
        """The observed information (negative in some rows away from the mode: PIRLS takes a Fisher
        scoring step, :meth:`irls`, wherever the whole system is not positive definite)."""
        _, W, resid = nbinom1_rows(y, mu, weights, 0.0, self._phi())
        return W, resid

    def simulate(self, mu, trials, rng, sigma=1.0):
        phi = self._phi()
        return rng.negative_binomial(mu / phi, 1.0 / (1.0 + phi)).astype(float)

    def latent_variance(self, lam, sigma):
        """Lognormal approximation ln(1 + (1 + φ)/λ) (quasi-Poisson form)."""
        return math.log1p((1.0 + self._phi()) / lam)


class Gamma(Family):
    """Gamma: V(μ) = μ², dᵢ = −2wᵢ[log(y/μ) − (y − μ)/μ]; links inverse, log, identity.

    lme4's Laplace criterion adds ``Gamma()$aic`` with φ = Σdᵢ/Σwᵢ:

        −2 Σ wᵢ log dgamma(yᵢ; shape 1/φ, scale μᵢφ) + 2,

    and reports σ̂ = √((Σ wᵢ(yᵢ − μᵢ)²/V(μᵢ) + ‖û‖²)/n); the random effects' covariance is
    σ̂²ΛΛᵀ and simulations draw y ~ Gamma(shape 1/σ̂², mean μ) (lme4's ``simulate``).
    """

    name = "Gamma"
    links = ("inverse", "log", "identity")
    has_scale = True
    supports_agq = False

    def check_values(self, y):
        _check_positive(self, y)

    def variance(self, mu):
        return mu * mu

    def saturated_deviance_part(self, y, weights):
        """−2w(log y + 1)."""
        return -2 * weights * (np.log(y) + 1.0)

    def deviance_residuals(self, y, mu, weights, saturated_part=None):
        if saturated_part is None:
            saturated_part = self.saturated_deviance_part(y, weights)
        return saturated_part + 2 * weights * (np.log(mu) + y / mu)

    newton_links = ("log",)

    def _newton(self, y, mu, weights):
        """Log link: −∂²log p/∂η² = w y/μ > 0, ∂log p/∂η = w(y − μ)/μ (per unit dispersion)."""
        return weights * y / mu, (y - mu) / y

    def data_term(self, y, mu, weights, dev_sum, saturated):
        disp = dev_sum / weights.sum()
        shape = 1.0 / disp
        log_p = -special.gammaln(shape) - shape * np.log(mu * disp) + (shape - 1) * np.log(y) - y / (mu * disp)
        return float(-2 * np.sum(weights * log_p) + 2)

    def saturated(self, y, weights, trials):
        return math.nan

    def simulate(self, mu, trials, rng, sigma=1.0):
        shape = 1.0 / sigma**2
        return rng.gamma(shape, mu / shape)

    def latent_variance(self, lam, sigma):
        """Lognormal approximation ln(1 + σ̂²) (log link; σ̂² the squared coefficient of variation)."""
        _log_link_only(self, "the latent-scale ICC of a Gamma model")
        return math.log1p(sigma**2)


class InverseGaussian(Family):
    """Inverse Gaussian: V(μ) = μ³, dᵢ = wᵢ(y − μ)²/(yμ²); links 1/mu^2, inverse, identity, log.

    lme4's Laplace criterion adds ``inverse.gaussian()$aic`` with φ = Σdᵢ/Σwᵢ:

        Σwᵢ (1 + log(2πφ)) + 3 Σ wᵢ log yᵢ + 2,

    σ̂ as for :class:`Gamma`; simulations draw y ~ IG(μ, dispersion σ̂²).
    """

    name = "inverse_gaussian"
    links = ("1/mu^2", "inverse", "identity", "log")
    has_scale = True
    supports_agq = False

    @property
    def label(self):
        return "inverse.gaussian"

    def check_values(self, y):
        _check_positive(self, y)

    def variance(self, mu):
        return mu**3

    def deviance_residuals(self, y, mu, weights, saturated_part=None):
        """w(y − μ)²/(yμ²): no part in y alone (``saturated_part`` is 0)."""
        return weights * (y - mu) ** 2 / (y * mu * mu)

    newton_links = ("log",)

    def _newton(self, y, mu, weights):
        """Log link: −∂²log p/∂η² = w(2y − μ)/μ², ∂log p/∂η = w(y − μ)/μ² (per unit dispersion).

        Fisher scoring (W = w/μ) converges linearly here, slowly enough that PIRLS on a random
        slope model stops at its iteration limit (its modes, and so the criterion, then depend on
        where it started); Newton converges in a few steps. W is negative where y < μ/2: PIRLS
        then takes a Fisher scoring step if the system is not positive definite. The Laplace
        determinant keeps lme4's Fisher weights (:meth:`Family.laplace_weights`).
        """
        W = weights * (2 * y - mu) / (mu * mu)
        score = weights * (y - mu) / (mu * mu)
        return W, np.divide(score, W, out=np.zeros_like(score), where=W != 0)

    def data_term(self, y, mu, weights, dev_sum, saturated):
        total = weights.sum()
        return float(total * (1 + np.log(dev_sum / total * 2 * np.pi)) + 3 * np.sum(np.log(y) * weights) + 2)

    def saturated(self, y, weights, trials):
        return math.nan

    def simulate(self, mu, trials, rng, sigma=1.0):
        return rng.wald(mu, 1.0 / sigma**2)

    def latent_variance(self, lam, sigma):
        """Lognormal approximation ln(1 + σ̂²λ) (log link)."""
        _log_link_only(self, "the latent-scale ICC of an inverse Gaussian model")
        return math.log1p(sigma**2 * lam)


def _r_format(x: float) -> str:
    """R's ``format()`` of a number with up to 7 significant digits (no trailing zeros)."""
    return f"{x:.7g}"


#: registry: accepted names (lower case) -> family class
FAMILIES = {"binomial": Binomial, "poisson": Poisson, "negative_binomial": NegativeBinomial,
            "negbin": NegativeBinomial, "nbinom2": NegativeBinomial, "nbinom1": NBinom1, "gamma": Gamma,
            "inverse_gaussian": InverseGaussian, "inverse.gaussian": InverseGaussian}


def binomial(link: str = "logit") -> Binomial:
    """The binomial family (links logit, probit, cloglog)."""
    return Binomial(link)


def poisson(link: str = "log") -> Poisson:
    """The Poisson family (links log, identity, sqrt)."""
    return Poisson(link)


def get_family(family, link: str | None = None) -> Family:
    """A :class:`Family` from a Family object or a registry name ("binomial", "Gamma", "nbinom1", ...).

    Raises
    ------
    MixedModelsError
        An unknown name or a link the family does not offer.
    """
    if isinstance(family, Family):
        if link is not None and link != family.link_name:
            raise MixedModelsError(f"link={link!r} conflicts with the family object's link {family.link_name!r}")
        return family
    if isinstance(family, type) and issubclass(family, Family):
        return family(link=link)
    if isinstance(family, str):
        key = family.strip().lower()
        if key not in FAMILIES:
            names = sorted({cls.name for cls in FAMILIES.values()})
            raise MixedModelsError(f"unknown family {family!r}; use one of {names} or a family object "
                                   f"(mixedmodels.families)")
        return FAMILIES[key](link=link)
    raise MixedModelsError(f"family must be a name such as 'poisson' or a family object, not {family!r}")
