## Held-out glmer.nb references for mixedmodels' joint estimation of the negative binomial theta
## (issue 14): data sets and nAGQ settings the fitting code was not tuned on.
## Run from this folder:  Rscript make_glmer_nb_reference.R
## Writes owls.csv, salamanders.csv (+ .schema.json) and glmer_nb_reference.json here; epil.csv is
## MASS::epil as written by ../glmm_families/make_families_reference.R (copied).
suppressPackageStartupMessages({library(lme4); library(glmmTMB); library(MASS); library(jsonlite)})

source("../schema.R")  # write_schema()

data(Owls, package = "glmmTMB")
owls <- Owls[, c("SiblingNegotiation", "FoodTreatment", "SexParent", "ArrivalTime", "BroodSize", "logBroodSize",
                 "Nest")]
owls$Nest <- factor(as.character(owls$Nest), levels = levels(owls$Nest))
write_schema(owls, "owls", "glmmTMB::Owls (Roulin & Bersier 2007), columns as in glmmTMB")
data(Salamanders, package = "glmmTMB")
sal <- Salamanders[, c("count", "mined", "spp", "cover", "DOY", "site")]
sal$site <- factor(as.character(sal$site), levels = levels(sal$site))  # unordered, same level order
write_schema(sal, "salamanders", "glmmTMB::Salamanders (Price et al. 2016); site unordered")
owls <- read.csv("owls.csv", stringsAsFactors = FALSE)
sal <- read.csv("salamanders.csv", stringsAsFactors = FALSE)
for (nm in c("FoodTreatment", "SexParent", "Nest")) owls[[nm]] <- factor(owls[[nm]], levels = levels(Owls[[nm]]))
for (nm in c("mined", "spp", "site")) sal[[nm]] <- factor(sal[[nm]], levels = levels(factor(as.character(Salamanders[[nm]]),
                                                                                          levels = levels(Salamanders[[nm]]))))
ep <- read.csv("epil.csv", stringsAsFactors = FALSE)
sch <- fromJSON("epil.schema.json")
for (nm in c("trt", "subject")) ep[[nm]] <- factor(ep[[nm]], levels = sch$columns[[nm]]$levels)

record <- function(fit, id, dataset, formula, offset = NULL) {
  s <- summary(fit)
  out <- capture.output(print(s))
  list(id = id, dataset = dataset, formula = formula, offset = offset, tool = "lme4", kind = "glmer.nb",
       nAGQ = fit@devcomp$dims[["nAGQ"]],
       objective = -2 * as.numeric(logLik(fit)), npar = attr(logLik(fit), "df"),
       deviance_lme4 = deviance(fit), nb_theta = getME(fit, "glmer.nb.theta"),
       beta = as.list(fixef(fit)), se_beta = as.list(sqrt(diag(as.matrix(vcov(fit))))),
       theta = as.list(getME(fit, "theta")),
       varcorr = lapply(seq_len(nrow(as.data.frame(VarCorr(fit)))), function(i) as.list(as.data.frame(VarCorr(fit))[i, ])),
       family_line = out[grep("^ Family:", out)], messages = fit@optinfo$conv$lme4$messages)
}

fits <- list()
add <- function(rec) { fits[[rec$id]] <<- rec; cat(rec$id, format(rec$objective, digits = 12), rec$nb_theta, "\n") }

f_ow <- SiblingNegotiation ~ FoodTreatment * SexParent + offset(logBroodSize) + (1 | Nest)
add(record(glmer.nb(f_ow, data = owls), "owls_nb", "owls.csv",
           "SiblingNegotiation ~ FoodTreatment * SexParent + (1 | Nest)", offset = "logBroodSize"))
f_sa <- count ~ mined + spp + cover + (1 | site)
add(record(glmer.nb(f_sa, data = sal), "salamanders_nb", "salamanders.csv", deparse(f_sa)))
f_ep <- y ~ lbase * trt + lage + V4 + (1 | subject)
add(record(glmer.nb(f_ep, data = ep, nAGQ = 0), "epil_nb_nagq0", "epil.csv", deparse(f_ep)))
## lme4's nAGQ = 0 fits stop PIRLS at a relative change of tolPwrss = 1e-7, which leaves ~1e-4 of
## noise in beta: the same fit with PIRLS converged is the strict reference
rec <- record(glmer.nb(f_ep, data = ep, nAGQ = 0, control = glmerControl(tolPwrss = 1e-12)), "epil_nb_nagq0_tight",
              "epil.csv", deparse(f_ep))
rec$control <- "glmerControl(tolPwrss = 1e-12)"
add(rec)
## (no nAGQ > 1 reference: lme4's nAGQ > 1 log-likelihood omits the saturated model's part, which
## depends on theta, so glmer.nb's profile over theta then minimises another function: on epil with
## nAGQ = 7 it stops at theta = 0.657, singular, where the likelihood is far from its maximum)

versions <- list(R = R.version.string, lme4 = as.character(packageVersion("lme4")),
                 glmmTMB = as.character(packageVersion("glmmTMB")), MASS = as.character(packageVersion("MASS")))
writeLines(toJSON(list(versions = versions, fits = fits), auto_unbox = TRUE, pretty = TRUE, digits = NA, null = "null"),
           "glmer_nb_reference.json")
