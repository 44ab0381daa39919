# Reference numbers for mixedmodels' after-the-fit tools (issue 12): performance's r2_nakagawa and
# icc, lme4's influence() (Cook's distance, dfbetas) and rePCA, anova() of two models.
#
# Run from the repository root (reads the package's own copies of the data):
#     Rscript tests/reference/postfit/make_postfit_reference.R
# writes tests/reference/postfit/postfit_reference.json.
suppressPackageStartupMessages({
  library(lme4)
  library(performance)
  library(jsonlite)
})

datadir <- "src/mixedmodels/datasets/data"
outfile <- "tests/reference/postfit/postfit_reference.json"

load_data <- function(name) {  # CSV + schema.json: factor level orders as the package loads them
  file <- file.path(datadir, paste0(name, ".csv"))
  if (!file.exists(file)) file <- paste0(file, ".gz")
  d <- read.csv(file, colClasses = "character", check.names = FALSE)
  schema <- fromJSON(file.path(datadir, paste0(name, ".schema.json")), simplifyVector = FALSE)
  for (col in names(schema$columns)) {
    spec <- schema$columns[[col]]
    if (spec$type %in% c("factor", "ordered")) {
      d[[col]] <- factor(d[[col]], levels = unlist(spec$levels), ordered = spec$type == "ordered")
    } else {
      d[[col]] <- as.numeric(d[[col]])
    }
  }
  d
}

d_sleep <- load_data("sleepstudy")
d_petri <- load_data("seed_petri")
d_cake <- load_data("cake")
d_cbpp <- load_data("cbpp")
d_grouse <- load_data("grouseticks")
d_pen <- load_data("Penicillin")
d_dye <- load_data("Dyestuff")

fits <- list(
  sleepstudy_slope = list(f = "Reaction ~ Days + (Days | Subject)", d = "d_sleep", fam = NULL),
  sleepstudy_uncorr = list(f = "Reaction ~ Days + (1 | Subject) + (0 + Days | Subject)", d = "d_sleep", fam = NULL),
  seed_petri = list(f = "y ~ group + (1 | dish_id)", d = "d_petri", fam = NULL),
  cake = list(f = "angle ~ recipe * temperature + (1 | recipe:replicate)", d = "d_cake", fam = NULL),
  penicillin = list(f = "diameter ~ 1 + (1 | plate) + (1 | sample)", d = "d_pen", fam = NULL),
  cbpp_logit = list(f = "cbind(incidence, size - incidence) ~ period + (1 | herd)", d = "d_cbpp", fam = "logit"),
  cbpp_probit = list(f = "cbind(incidence, size - incidence) ~ period + (1 | herd)", d = "d_cbpp", fam = "probit"),
  cbpp_cloglog = list(f = "cbind(incidence, size - incidence) ~ period + (1 | herd)", d = "d_cbpp", fam = "cloglog"),
  grouseticks = list(f = "TICKS ~ YEAR + cHEIGHT + (1 | BROOD) + (1 | INDEX) + (1 | LOCATION)", d = "d_grouse",
                     fam = "poisson")
)

fit_one <- function(spec) {
  form <- as.formula(spec$f)
  # the data must be findable by name: performance refits the null model with update()
  if (is.null(spec$fam)) {
    eval(bquote(lmer(.(form), data = .(as.name(spec$d)))))
  } else if (spec$fam == "poisson") {
    eval(bquote(glmer(.(form), data = .(as.name(spec$d)), family = poisson)))
  } else {
    eval(bquote(glmer(.(form), data = .(as.name(spec$d)), family = binomial(link = .(spec$fam)))))
  }
}

models <- lapply(fits, fit_one)
r2_out <- list()
for (id in names(fits)) {
  m <- models[[id]]
  r2 <- suppressWarnings(r2_nakagawa(m))
  ic <- suppressWarnings(icc(m))
  v <- suppressWarnings(insight::get_variance(m))
  entry <- list(formula = fits[[id]]$f, family = if (is.null(fits[[id]]$fam)) NULL else fits[[id]]$fam,
                theta = unname(getME(m, "theta")), objective = -2 * as.numeric(logLik(m)),
                fixef = as.list(fixef(m)),
                r2_marginal = unname(r2$R2_marginal), r2_conditional = unname(r2$R2_conditional),
                icc_adjusted = if (is.list(ic)) ic$ICC_adjusted else NA,
                icc_conditional = if (is.list(ic)) ic$ICC_conditional else NA,
                var_fixed = v$var.fixed, var_random = v$var.random, var_residual = v$var.residual,
                var_distribution = v$var.distribution, var_dispersion = v$var.dispersion)
  if (identical(fits[[id]]$fam, "poisson")) {
    null <- insight::null_model(m)
    entry$null_intercept <- unname(fixef(null))
    entry$null_theta <- unname(getME(null, "theta"))
    entry$null_objective <- -2 * as.numeric(logLik(null))
  }
  r2_out[[id]] <- entry
}

influence_json <- function(m, data, groups) {
  infl <- if (is.null(groups)) influence(m, data = data) else influence(m, groups = groups, data = data)
  # lme4 1.1-31's dfbetas() fails for a single fixed effect (vapply returns a vector, t() a row)
  db <- tryCatch(dfbetas(infl), error = function(e) NULL)
  list(groups = if (is.null(groups)) "case" else groups,
       deleted = as.character(infl$deleted),
       cooks_distance = unname(cooks.distance(infl)),
       vcov = lapply(seq_len(nrow(infl$vcov)), function(i) unname(as.numeric(infl$vcov[i, ]))),
       fixed_effects_deleted = lapply(seq_len(nrow(infl[[2]])), function(i) unname(infl[[2]][i, ])),
       dfbetas_columns = if (is.null(db)) NULL else colnames(db),
       dfbetas = if (is.null(db)) NULL else lapply(seq_len(nrow(db)), function(i) unname(db[i, ])),
       converged = unname(infl$converged))
}

influence_out <- list(
  sleepstudy_subject = influence_json(models$sleepstudy_slope, d_sleep, "Subject"),
  seed_petri_dish = influence_json(models$seed_petri, d_petri, "dish_id"),
  dyestuff_case = influence_json(lmer(Yield ~ 1 + (1 | Batch), data = d_dye), d_dye, NULL),
  cbpp_herd = influence_json(models$cbpp_logit, d_cbpp, "herd")
)

repca_json <- function(m) {
  p <- rePCA(m)
  lapply(p, function(x) list(sdev = x$sdev, rotation = lapply(seq_len(nrow(x$rotation)), function(i) x$rotation[i, ]),
                             proportion = x$sdev^2 / sum(x$sdev^2)))
}
repca_out <- list(
  sleepstudy_slope = repca_json(models$sleepstudy_slope),
  sleepstudy_uncorr = repca_json(models$sleepstudy_uncorr),
  penicillin = repca_json(models$penicillin)
)

m0 <- lmer(Reaction ~ Days + (1 | Subject), data = d_sleep)
a <- suppressMessages(anova(m0, models$sleepstudy_slope))
compare_out <- list(
  sleepstudy = list(models = c("Reaction ~ Days + (1 | Subject)", "Reaction ~ Days + (Days | Subject)"),
                    npar = unname(a$npar), AIC = unname(a$AIC), BIC = unname(a$BIC), logLik = unname(a$logLik),
                    deviance = unname(a$deviance), text = paste(capture.output(print(a)), collapse = "\n"))
)

out <- list(
  R_version = R.version.string, lme4_version = as.character(packageVersion("lme4")),
  performance_version = as.character(packageVersion("performance")),
  insight_version = as.character(packageVersion("insight")),
  predict_has_se_fit = "se.fit" %in% names(formals(lme4:::predict.merMod)),
  r2 = r2_out, influence = influence_out, repca = repca_out, compare = compare_out
)
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, null = "null", na = "null", pretty = TRUE), outfile)
cat("wrote", outfile, "\n")
