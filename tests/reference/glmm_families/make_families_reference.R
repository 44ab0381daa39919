## Reference fits for the GLMM families of mixedmodels (issue 14): lme4's glmer.nb, glmer with
## Gamma / inverse.gaussian, glmer nAGQ = 0, and glmmTMB's nbinom1.
## Run from this folder:  Rscript make_families_reference.R
## Writes epil.csv, gamma_sim.csv (+ .schema.json) and families_reference.json here;
## grouseticks.csv is a copy of lme4's grouseticks (cHEIGHT = HEIGHT - mean(HEIGHT), YEAR a factor).
suppressPackageStartupMessages({library(lme4); library(glmmTMB); library(MASS); library(jsonlite); library(statmod)})

source("../schema.R")  # write_schema()

gt <- read.csv("grouseticks.csv", colClasses = c(INDEX = "character", BROOD = "character", YEAR = "character",
                                                 LOCATION = "character"))
sch <- fromJSON("grouseticks.schema.json")
for (f in c("INDEX", "BROOD", "YEAR", "LOCATION")) gt[[f]] <- factor(gt[[f]], levels = sch$columns[[f]]$levels)

ep <- MASS::epil
ep$subject <- factor(ep$subject)
write_schema(ep[, c("y", "trt", "base", "age", "V4", "subject", "period", "lbase", "lage")], "epil",
             "MASS::epil (Thall & Vail 1990); subject a factor, lbase and lage as in MASS")

set.seed(20261129)
ng <- 40; m <- 8
g <- factor(rep(sprintf("g%02d", 1:ng), each = m))
x <- round(rnorm(ng * m), 4)
b0 <- rnorm(ng, 0, 0.5)[g]; b1 <- rnorm(ng, 0, 0.3)[g]
mu <- exp(1 + 0.4 * x + b0 + b1 * x)
sim <- data.frame(g = g, x = x,
                  y_gamma = signif(rgamma(ng * m, shape = 4, scale = mu / 4), 8),
                  y_ig = signif(statmod::rinvgauss(ng * m, mean = mu, dispersion = 0.05), 8))
write_schema(sim, "gamma_sim", paste("set.seed(20261129); 40 groups x 8; mu = exp(1 + 0.4x + b0 + b1 x),",
                                     "b0 ~ N(0, 0.5^2), b1 ~ N(0, 0.3^2); y_gamma ~ Gamma(shape 4, mean mu);",
                                     "y_ig ~ inverse Gaussian(mean mu, dispersion 0.05) (statmod)"))
sim <- read.csv("gamma_sim.csv", stringsAsFactors = TRUE)  # the values as written

vc_rows <- function(vc) lapply(seq_len(nrow(vc)), function(i) as.list(vc[i, ]))

lme4_record <- function(fit, id, dataset, formula, kind) {
  s <- summary(fit)
  fam <- family(fit)
  rec <- list(id = id, dataset = dataset, formula = formula, tool = "lme4", kind = kind,
              family = fam$family, link = fam$link, nAGQ = fit@devcomp$dims[["nAGQ"]],
              objective = -2 * as.numeric(logLik(fit)), logLik = as.numeric(logLik(fit)),
              npar = attr(logLik(fit), "df"), AIC = AIC(fit),
              beta = as.list(fixef(fit)), se_beta = as.list(sqrt(diag(as.matrix(vcov(fit))))),
              theta = as.list(getME(fit, "theta")), sigma = sigma(fit),
              varcorr = vc_rows(as.data.frame(VarCorr(fit))),
              deviance_lme4 = deviance(fit), devcomp = as.list(fit@devcomp$cmp),
              family_line = capture.output(print(s))[grep("^ Family:", capture.output(print(s)))],
              ranef_head = lapply(ranef(fit), function(r) as.list(r[1:5, , drop = FALSE])),
              fitted_head = unname(fitted(fit)[1:10]))
  if (!is.null(th <- tryCatch(getME(fit, "glmer.nb.theta"), error = function(e) NULL))) rec$nb_theta <- th
  rec
}

tmb_record <- function(fit, id, dataset, formula) {
  vc <- VarCorr(fit)$cond
  list(id = id, dataset = dataset, formula = formula, tool = "glmmTMB", kind = "nbinom1",
       family = "nbinom1", link = "log",
       objective = -2 * as.numeric(logLik(fit)), logLik = as.numeric(logLik(fit)),
       npar = attr(logLik(fit), "df"), beta = as.list(fixef(fit)$cond),
       se_beta = as.list(sqrt(diag(vcov(fit)$cond))), dispersion = sigma(fit),
       re_sd = lapply(vc, function(v) as.list(attr(v, "stddev"))),
       convergence = fit$fit$convergence)
}

fits <- list()
add <- function(rec) { fits[[rec$id]] <<- rec; cat(rec$id, format(rec$objective, digits = 12), "\n") }

## lme4 glmer.nb; and the same profile minimised to a tight tolerance (how far lme4's
## optimize(tol = 5e-5) stops from the optimum)
precise_nb <- function(fit, formula, data) {
  f <- function(lt) -2 * as.numeric(logLik(glmer(formula, data, family = negative.binomial(exp(lt)))))
  o <- optimize(f, log(getME(fit, "glmer.nb.theta")) + c(-0.05, 0.05), tol = 1e-9)
  list(nb_theta = exp(o$minimum), objective = o$objective)
}
f_gt <- TICKS ~ YEAR + cHEIGHT + (1 | BROOD) + (1 | LOCATION)
nb_gt <- glmer.nb(f_gt, data = gt)
rec <- lme4_record(nb_gt, "grouseticks_nb", "grouseticks.csv", deparse(f_gt), "glmer.nb")
rec$precise <- precise_nb(nb_gt, f_gt, gt); add(rec)
f_ep <- y ~ lbase * trt + lage + V4 + (1 | subject)
nb_ep <- glmer.nb(f_ep, data = ep)
rec <- lme4_record(nb_ep, "epil_nb", "epil.csv", deparse(f_ep), "glmer.nb")
rec$precise <- precise_nb(nb_ep, f_ep, ep); add(rec)

## Gamma and inverse Gaussian (log link; Gamma also with its inverse link)
for (spec in list(list("gamma_log_int", y_gamma ~ x + (1 | g), Gamma(link = "log")),
                  list("gamma_log_slope", y_gamma ~ x + (1 + x | g), Gamma(link = "log")),
                  list("gamma_inverse_int", y_gamma ~ x + (1 | g), Gamma(link = "inverse")),
                  list("ig_log_int", y_ig ~ x + (1 | g), inverse.gaussian(link = "log")),
                  list("ig_log_slope", y_ig ~ x + (1 + x | g), inverse.gaussian(link = "log")))) {
  fit <- glmer(spec[[2]], data = sim, family = spec[[3]])
  add(lme4_record(fit, spec[[1]], "gamma_sim.csv", deparse(spec[[2]]), "glmer"))
  ## lme4's PIRLS stops at a relative change of tolPwrss = 1e-7 in the penalised deviance; for these
  ## families the criterion uses the deviance through the dispersion dev/n, so that stop moves the
  ## criterion by ~1e-3. The same fit with PIRLS converged (tolPwrss = 1e-12) is the strict reference.
  fit <- glmer(spec[[2]], data = sim, family = spec[[3]], control = glmerControl(tolPwrss = 1e-12))
  rec <- lme4_record(fit, paste0(spec[[1]], "_tight"), "gamma_sim.csv", deparse(spec[[2]]), "glmer")
  rec$control <- "glmerControl(tolPwrss = 1e-12)"
  rec$gradient <- fit@optinfo$derivs$gradient
  add(rec)
}

## nAGQ = 0
cbpp <- lme4::cbpp
f_cb <- cbind(incidence, size - incidence) ~ period + (1 | herd)
add(lme4_record(glmer(f_cb, data = cbpp, family = binomial, nAGQ = 0), "cbpp_nagq0", "cbpp", deparse(f_cb), "glmer"))
f_gtp <- TICKS ~ YEAR + cHEIGHT + (1 | BROOD) + (1 | INDEX) + (1 | LOCATION)
add(lme4_record(glmer(f_gtp, data = gt, family = poisson, nAGQ = 0), "grouseticks_poisson_nagq0", "grouseticks.csv",
                deparse(f_gtp), "glmer"))
add(lme4_record(glmer(y_gamma ~ x + (1 | g), data = sim, family = Gamma(link = "log"), nAGQ = 0), "gamma_log_nagq0",
                "gamma_sim.csv", "y_gamma ~ x + (1 | g)", "glmer"))
rec <- lme4_record(glmer(y_gamma ~ x + (1 | g), data = sim, family = Gamma(link = "log"), nAGQ = 0,
                         control = glmerControl(tolPwrss = 1e-12)), "gamma_log_nagq0_tight", "gamma_sim.csv",
                   "y_gamma ~ x + (1 | g)", "glmer")
rec$control <- "glmerControl(tolPwrss = 1e-12)"
add(rec)

## glmmTMB nbinom1
add(tmb_record(glmmTMB(f_gt, data = gt, family = nbinom1), "grouseticks_nbinom1", "grouseticks.csv", deparse(f_gt)))
add(tmb_record(glmmTMB(f_ep, data = ep, family = nbinom1), "epil_nbinom1", "epil.csv", deparse(f_ep)))

out <- list(R_version = R.version.string, lme4_version = as.character(packageVersion("lme4")),
            glmmTMB_version = as.character(packageVersion("glmmTMB")), MASS_version = as.character(packageVersion("MASS")),
            fits = fits)
writeLines(toJSON(out, auto_unbox = TRUE, pretty = TRUE, digits = NA, null = "null", na = "null"),
           "families_reference.json")
