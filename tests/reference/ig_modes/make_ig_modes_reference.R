## lme4's inverse Gaussian (log link) random-slope fit, and its Laplace criterion with the conditional
## modes converged (issue 14). lme4's PIRLS takes Fisher scoring steps, which converge slowly for this
## model: with glmerControl(tolPwrss = 1e-12) it stops where the penalised deviance changes by less than
## 1e-12 relative while u is still ~4e-5 from the mode. Here u is taken to the mode by Newton's method
## at lme4's estimates and lme4's Laplace criterion evaluated there.
## Run from this folder:  Rscript make_ig_modes_reference.R   (reads ../glmm_families/gamma_sim.csv)
suppressPackageStartupMessages({library(lme4); library(Matrix); library(jsonlite)})
sim <- read.csv("../glmm_families/gamma_sim.csv", stringsAsFactors = TRUE)
f <- y_ig ~ x + (1 + x | g)
fit <- glmer(f, data = sim, family = inverse.gaussian(link = "log"), control = glmerControl(tolPwrss = 1e-12))
y <- sim$y_ig; n <- length(y); X <- getME(fit, "X"); ZL <- t(getME(fit, "Zt")) %*% t(getME(fit, "Lambdat"))
beta <- fixef(fit); u_lme4 <- getME(fit, "u")
mu_of <- function(u) exp(drop(X %*% beta + ZL %*% u))
pdev <- function(u) { mu <- mu_of(u); sum((y - mu)^2 / (y * mu^2)) + sum(u^2) }
## lme4's Laplace criterion: inverse.gaussian()$aic with dispersion sum(d)/n, plus |u|^2 and
## log det(Lambda'Z'WZ Lambda + I) with lme4's (Fisher) weights W = 1/mu
laplace <- function(u) {
  mu <- mu_of(u); d <- (y - mu)^2 / (y * mu^2)
  M <- crossprod(ZL, Diagonal(x = 1 / mu) %*% ZL) + Diagonal(ncol(ZL))
  n * (1 + log(sum(d) / n * 2 * pi)) + 3 * sum(log(y)) + 2 + sum(u^2) +
    as.numeric(determinant(M, logarithm = TRUE)$modulus)
}
u <- u_lme4
for (i in 1:50) {  # Newton's method on the penalised deviance (observed information)
  mu <- mu_of(u)
  g <- -2 * drop(crossprod(ZL, (y - mu) / mu^2)) + 2 * u
  H <- 2 * crossprod(ZL, Diagonal(x = (2 * y - mu) / mu^2) %*% ZL) + 2 * Diagonal(ncol(ZL))
  step <- as.numeric(solve(H, g)); u <- u - step
  if (max(abs(step)) < 1e-12) break
}
out <- list(formula = deparse(f), family = "inverse.gaussian", link = "log", control = "glmerControl(tolPwrss = 1e-12)",
            theta = as.list(getME(fit, "theta")), beta = as.list(beta),
            objective_reported = -2 * as.numeric(logLik(fit)),
            pdev_lme4_modes = pdev(u_lme4), pdev_converged_modes = pdev(u), max_abs_du = max(abs(u - u_lme4)),
            laplace_converged_modes = laplace(u), newton_iterations = i,
            versions = list(R = R.version.string, lme4 = as.character(packageVersion("lme4"))))
writeLines(toJSON(out, auto_unbox = TRUE, pretty = TRUE, digits = NA), "ig_modes_reference.json")
cat(format(out$objective_reported, digits = 12), format(out$laplace_converged_modes, digits = 12), out$max_abs_du, "\n")
