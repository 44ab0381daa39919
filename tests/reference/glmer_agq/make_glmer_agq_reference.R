# Held-out references for adaptive Gauss-Hermite quadrature (nAGQ > 1): lme4's glmer on data sets the
# library was not tuned on. Run from this folder: Rscript make_glmer_agq_reference.R
# Writes glmer_agq_reference.json: per model, lme4's objective -2 logLik (for nAGQ > 1 lme4 reports it
# relative to the saturated model, lme4 issue #161), theta, fixef and SEs.
suppressPackageStartupMessages({library(lme4); library(jsonlite)})
grouse <- read.csv("../glmm_families/grouseticks.csv", colClasses = c(INDEX = "character", BROOD = "character",
                   YEAR = "character", LOCATION = "character"))
grouse$YEAR <- factor(grouse$YEAR, levels = c("95", "96", "97"))
epil <- read.csv("../glmer_nb/epil.csv")
epil$trt <- factor(epil$trt, levels = c("placebo", "progabide"))
models <- list(
  grouseticks_poisson_agq9 = list(formula = TICKS ~ YEAR + cHEIGHT + (1 | BROOD), data = grouse, family = poisson, nAGQ = 9),
  epil_poisson_agq15 = list(formula = y ~ lbase * trt + lage + V4 + (1 | subject), data = epil, family = poisson, nAGQ = 15),
  grouseticks_binomial_agq5 = list(formula = I(TICKS > 2) ~ YEAR + cHEIGHT + (1 | LOCATION), data = grouse,
                                   family = binomial, nAGQ = 5)
)
out <- lapply(names(models), function(id) {
  m <- models[[id]]
  fit <- glmer(m$formula, data = m$data, family = m$family, nAGQ = m$nAGQ)
  list(id = id, nAGQ = m$nAGQ, formula = deparse(m$formula), family = m$family()$family,
       objective = -2 * as.numeric(logLik(fit)), theta = unname(getME(fit, "theta")), fixef = as.list(fixef(fit)),
       se = as.list(sqrt(diag(as.matrix(vcov(fit))))))
})
names(out) <- names(models)
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE), "glmer_agq_reference.json")
