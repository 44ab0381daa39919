# Reference fits of R's mmrm 0.3.18 for the spatial covariance structures of mixedmodels.mmrm
# (sp_exp, sp_gau): on mmrm's fev_data (coordinates VISITN, and VISITN + VISITN2 as mmrm's docs do)
# and on a simulated trial with irregular measurement times the implementation was not tuned on.
# Run from tests/reference/mmrm_spatial with mmrm on the library path:   Rscript make_mmrm_spatial.R
suppressMessages({library(mmrm); library(jsonlite)})
out <- "."
dir.create(file.path(out, "data"), showWarnings = FALSE)
dir.create(file.path(out, "fits"), showWarnings = FALSE)

# -- the held-out trial: irregular times -------------------------------------------------------
set.seed(20261130)
n <- 160
planned <- c(1, 2, 4, 6, 8, 12)                       # planned weeks; VISIT is the planned visit
visits <- paste0("WEEK", planned)
m <- length(planned)
subj <- sprintf("P%03d", 1:n)
arm <- sample(c("PBO", "TRT"), n, TRUE)
sex <- sample(c("F", "M"), n, TRUE)
base <- round(rnorm(n, 50, 8), 2)
d <- data.frame(USUBJID = rep(subj, each = m), VISIT = rep(visits, n), stringsAsFactors = FALSE)
i <- match(d$USUBJID, subj); v <- match(d$VISIT, visits)
d$TIME <- round(planned[v] + runif(nrow(d), -0.45, 0.45), 2)   # actual week of the measurement
d$HOUR <- round(runif(nrow(d), 0, 3), 2)                       # a second coordinate (clinic hour / 4)
d$ARM <- factor(arm[i], levels = c("PBO", "TRT"))
d$SEX <- factor(sex[i])
d$BASE <- base[i]
d$W <- round(runif(nrow(d), 0.5, 2), 3)
# errors: exponential correlation in actual time (range ~3 weeks) plus a little noise, sd 5
e <- unlist(lapply(split(seq_len(nrow(d)), i), function(r) {
  t <- d$TIME[r]; S <- 25 * exp(-abs(outer(t, t, "-")) / 3) + diag(2, length(r))
  as.vector(t(chol(S)) %*% rnorm(length(r)))
}))
d$CHG <- round(-2 + 0.1 * d$BASE[] + 0.5 * d$TIME - (d$ARM == "TRT") * 0.3 * d$TIME + (d$SEX == "M") + e, 4)
dropout <- ifelse(runif(n) < 0.3, sample(2:m, n, TRUE), m + 1)
d <- d[v < dropout[i], ]                                   # dropout: rows absent
d$CHG[runif(nrow(d)) < 0.07] <- NA                         # intermittent: NA response
d$BASE[d$USUBJID == "P007"] <- NA                          # a subject with no complete row
d$VISIT <- factor(d$VISIT, levels = visits)
d$USUBJID <- factor(d$USUBJID, levels = subj)
d <- d[sample(nrow(d)), ]                                  # rows in no particular order
rownames(d) <- NULL
write.csv(d, file.path(out, "data", "spatial_heldout.csv"), row.names = FALSE, na = "")
schema <- list(file = "spatial_heldout.csv", nrow = nrow(d), columns = lapply(d, function(c)
  if (is.factor(c)) list(type = "factor", levels = levels(c)) else list(type = class(c)[1])))
write(toJSON(schema, auto_unbox = TRUE, pretty = TRUE), file.path(out, "data", "spatial_heldout.schema.json"))
heldout <- d
data(fev_data)

anova_table <- function(f, type) {
  a <- as.data.frame(mmrm:::Anova.mmrm(f, type = type, test.statistic = "F"))
  lapply(seq_len(nrow(a)), function(i) list(term = rownames(a)[i], NumDF = a[i, 1], DenDF = a[i, 2], F = a[i, 3], p = a[i, 4]))
}
one <- function(id, formula, data, dataset, reml = TRUE, method = "Satterthwaite", vcov = NULL, weights = NULL,
                extra = FALSE) {
  if (file.exists(file.path(out, "fits", paste0(id, ".json")))) return(invisible())  # resume a run
  ctl <- if (is.null(vcov)) mmrm_control(method = method) else mmrm_control(method = method, vcov = vcov)
  t <- system.time(f <- if (is.null(weights)) mmrm(as.formula(formula), data = data, reml = reml, control = ctl) else
    mmrm(as.formula(formula), data = data, reml = reml, control = ctl, weights = data[[weights]]))[["elapsed"]]
  s <- summary(f)$coefficients
  cv <- VarCorr(f)
  cvl <- if (is.list(cv) && !is.matrix(cv)) lapply(cv, function(m) list(rows = rownames(m), values = unname(m))) else
    list(all = list(rows = rownames(cv), values = unname(cv)))
  res <- list(id = id, dataset = dataset, formula = formula, REML = reml, method = method,
    vcov_method = if (is.null(vcov)) f$vcov else vcov, weights = weights,
    mmrm_version = as.character(packageVersion("mmrm")),
    objective = -2 * as.numeric(logLik(f)), logLik = as.numeric(logLik(f)), AIC = AIC(f), BIC = BIC(f),
    nobs = length(f$tmb_data$y_vector), n_subjects = f$tmb_data$n_subjects,
    theta = as.numeric(f$theta_est), beta = as.list(coef(f)),
    coef_table = lapply(seq_len(nrow(s)), function(i) list(term = rownames(s)[i], Estimate = s[i, 1], SE = s[i, 2], df = s[i, 3], t = s[i, 4], p = s[i, 5])),
    cov = cvl, fit_seconds = t)
  if (extra) {
    res$anova_type3 <- anova_table(f, "III")
    res$anova_type2 <- anova_table(f, "II")
    keep <- as.integer(rownames(f$tmb_data$full_frame))[1:40]  # rows of the data, in mmrm's subject order
    res$residual_rows <- keep  # 1-based rows of the CSV
    res$residuals_response <- unname(residuals(f, type = "response")[1:40])
    res$residuals_pearson <- unname(residuals(f, type = "pearson")[1:40])
    res$residuals_normalized <- unname(residuals(f, type = "normalized")[1:40])
    res$predict_conditional <- unname(predict(f, newdata = data, conditional = TRUE))
  }
  write(toJSON(res, auto_unbox = TRUE, digits = NA, pretty = TRUE), file.path(out, "fits", paste0(id, ".json")))
  cat(sprintf("%-34s %10.4f  %.3fs\n", id, res$objective, t))
}

fev <- function(id, cov, ...) one(paste0("fev_data_", id), paste("FEV1 ~ RACE + SEX + ARMCD * AVISIT +", cov),
                                  fev_data, "fev_data.csv", ...)
fev("sp_exp", "sp_exp(VISITN | USUBJID)", extra = TRUE)
fev("sp_exp_ml", "sp_exp(VISITN | USUBJID)", reml = FALSE)
fev("sp_exp_kr", "sp_exp(VISITN | USUBJID)", method = "Kenward-Roger")
fev("sp_exp_empirical", "sp_exp(VISITN | USUBJID)", vcov = "Empirical")
fev("sp_exp_2d", "sp_exp(VISITN, VISITN2 | USUBJID)", extra = TRUE)
fev("sp_exp_by_arm", "sp_exp(VISITN | ARMCD / USUBJID)")
fev("sp_gau", "sp_gau(VISITN | USUBJID)")

ho <- function(id, cov, ...) one(paste0("spatial_heldout_", id), paste("CHG ~ BASE + SEX + ARM * VISIT +", cov),
                                 heldout, "spatial_heldout.csv", ...)
ho("sp_exp", "sp_exp(TIME | USUBJID)", extra = TRUE)
ho("sp_exp_ml", "sp_exp(TIME | USUBJID)", reml = FALSE)
ho("sp_exp_kr", "sp_exp(TIME | USUBJID)", method = "Kenward-Roger", extra = TRUE)
ho("sp_exp_krlinear", "sp_exp(TIME | USUBJID)", method = "Kenward-Roger", vcov = "Kenward-Roger-Linear")
ho("sp_exp_2d", "sp_exp(TIME, HOUR | USUBJID)", extra = TRUE)
ho("sp_exp_by_arm", "sp_exp(TIME | ARM / USUBJID)", extra = TRUE)
ho("sp_exp_by_arm_kr", "sp_exp(TIME | ARM / USUBJID)", method = "Kenward-Roger")
ho("sp_exp_weighted", "sp_exp(TIME | USUBJID)", weights = "W")
ho("sp_exp_between_within", "sp_exp(TIME | USUBJID)", method = "Between-Within")
ho("sp_gau", "sp_gau(TIME | USUBJID)")
ho("sp_gau_ml_2d", "sp_gau(TIME, HOUR | USUBJID)", reml = FALSE)
ho("sp_exp_empirical", "sp_exp(TIME | USUBJID)", vcov = "Empirical", extra = TRUE)
ho("sp_exp_jackknife", "sp_exp(TIME | USUBJID)", vcov = "Empirical-Jackknife")
ho("sp_exp_biasreduced", "sp_exp(TIME | USUBJID)", vcov = "Empirical-Bias-Reduced")
