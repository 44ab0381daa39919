"""Prior weights and an offset against lme4 (numbers produced with R 4.2, lme4; R is not needed to run).

R code (``show`` prints REMLcrit or deviance, fixef, sqrt(diag(vcov)), sigma, getME(f, "theta")):

    library(lme4); options(digits = 15)
    d <- sleepstudy; d$w <- 1 + (d$Days %% 3)
    for (reml in c(TRUE, FALSE)) {
      show(lmer(Reaction ~ Days + (Days | Subject), d, weights = w, REML = reml))
      show(lmer(Reaction ~ Days + (Days | Subject), d, offset = 0.5 * Days, REML = reml))
    }
    f <- lmer(Reaction ~ Days + (Days | Subject), d, weights = w)
    head(residuals(f, type = "pearson")); head(residuals(f, type = "response")); head(fitted(f))
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from mixedmodels import datasets, lmer

FORMULA = "Reaction ~ Days + (Days | Subject)"

# (kind, REML) -> objective, beta, standard errors, sigma, theta
LME4 = {
    ("weights", True): (1733.54354646619, [249.950701505943, 10.677368636633], [7.06841648238229, 1.670616078488],
                        31.8060474350754, [0.827718888652505, -0.0204973593987385, 0.205003561269319]),
    ("weights", False): (1742.04097188364, [249.950701505943, 10.6773686366321],
                         [6.86930751539894, 1.62354976983543], 31.8060355721307,
                         [0.797333634817757, -0.017800115766653, 0.198421435095867]),
    ("offset", True): (1743.62827195995, [251.405104848485, 9.96728595959582], [6.82459669473331, 1.54578964388557],
                       25.5917957218039, [0.966741773917766, 0.0151690589057879, 0.23090995320197]),
    ("offset", False): (1751.93934448899, [251.405104848485, 9.96728595959542],
                        [6.63212274594644, 1.50223021389294], 25.5919070343554,
                        [0.929190606123423, 0.0181657547973343, 0.222643205640838]),
}
PEARSON_HEAD = [1.51607197497501, -14.2358151643672, -67.0257847219429, 11.2148317347231, 36.6280157543461,
                109.138435141515]
RESPONSE_HEAD = [1.51607197497501, -10.0662414384423, -38.6973548518596, 11.2148317347231, 25.8999183213058,
                 63.0111049078884]
FITTED_HEAD = [248.043928025025, 268.770941438442, 289.49795485186, 310.224968265277, 330.951981678694,
               351.678995092112]


def _data():
    data = datasets.load("sleepstudy")
    data["w"] = 1.0 + (data["Days"] % 3)
    return data


def _fit(kind: str, reml: bool):
    data = _data()
    options = {"weights": "w"} if kind == "weights" else {"offset": 0.5 * data["Days"]}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return lmer(FORMULA, data, reml=reml, **options)


@pytest.mark.parametrize("kind, reml", list(LME4))
def test_matches_lme4(kind, reml):
    objective, beta, se, sigma, theta = LME4[kind, reml]
    fit = _fit(kind, reml)
    assert fit.objective <= objective + 1e-6 * abs(objective)
    assert fit.objective == pytest.approx(objective, rel=1e-6)
    np.testing.assert_allclose(fit.fixef.to_numpy(), beta, rtol=1e-6)
    np.testing.assert_allclose(np.sqrt(np.diag(fit.vcov.to_numpy())), se, rtol=1e-4)
    assert fit.sigma == pytest.approx(sigma, rel=1e-5)
    np.testing.assert_allclose(fit.theta, theta, rtol=1e-4, atol=1e-5)
    assert fit.loglik == pytest.approx(-objective / 2, rel=1e-6)


def test_weighted_residuals_and_fitted_as_lme4():
    fit = _fit("weights", True)
    np.testing.assert_allclose(fit.fitted().to_numpy()[:6], FITTED_HEAD, rtol=1e-6)
    np.testing.assert_allclose(fit.residuals("response").to_numpy()[:6], RESPONSE_HEAD, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(fit.residuals("pearson").to_numpy()[:6], PEARSON_HEAD, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(fit.residuals("scaled").to_numpy(), fit.residuals("pearson").to_numpy() / fit.sigma)
    assert "Weights: (prior weights)" in fit.summary()


def test_offset_enters_fitted_values():
    fit = _fit("offset", True)
    data = _data()
    shifted = data.assign(Reaction=data["Reaction"] - 0.5 * data["Days"])
    plain = lmer(FORMULA, shifted)
    np.testing.assert_allclose(fit.fitted().to_numpy(), plain.fitted().to_numpy() + 0.5 * data["Days"], rtol=1e-7)
    np.testing.assert_allclose(fit.residuals().to_numpy(), plain.residuals().to_numpy(), atol=1e-6)


def test_unit_weights_are_no_weights():
    data = _data()
    weighted = lmer(FORMULA, data, weights=np.ones(len(data)))
    plain = lmer(FORMULA, data)
    assert weighted.objective == pytest.approx(plain.objective, rel=1e-12)
    np.testing.assert_allclose(weighted.theta, plain.theta, rtol=1e-8)
