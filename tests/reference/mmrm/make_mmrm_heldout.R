# Held-out reference for mixedmodels.mmrm: a simulated trial the implementation was not tuned on
# (300 subjects x 6 visits, 3 arms, visit levels not in sorted order, dropout = absent rows,
# intermittent missing responses = NA rows, prior weights). Fits with R's mmrm 0.3.18.
# Run from tests/reference/mmrm:   Rscript make_mmrm_heldout.R
suppressMessages({library(mmrm); library(jsonlite)})
out <- "."
set.seed(20261129)
n <- 300
visits <- c("WEEK2", "WEEK4", "WEEK8", "WEEK12", "WEEK16", "WEEK24")  # factor order, not sorted order
m <- length(visits)
sds <- c(3, 3.5, 4, 4.5, 5, 6)
R <- outer(1:m, 1:m, function(i, j) 0.3 + 0.6 * 0.7^abs(i - j)); diag(R) <- 1
L <- t(chol(diag(sds) %*% R %*% diag(sds)))
subj <- sprintf("S%03d", 1:n)
arm <- sample(c("PBO", "LOW", "HIGH"), n, TRUE)
sex <- sample(c("F", "M"), n, TRUE)
age <- round(rnorm(n, 50, 10))
base <- rnorm(n, 20, 4)
d <- data.frame(USUBJID = rep(subj, each = m), VISIT = rep(visits, n), stringsAsFactors = FALSE)
i <- match(d$USUBJID, subj); v <- match(d$VISIT, visits)
eff <- c(PBO = 0, LOW = 1, HIGH = 2)
mu <- 10 + 0.3 * base[i] - 0.05 * age[i] + (sex[i] == "M") + 0.8 * v + eff[arm[i]] * v / 3
d$CHG <- mu + as.vector(L %*% matrix(rnorm(m * n), m, n))
d$ARM <- factor(arm[i], levels = c("PBO", "LOW", "HIGH"))
d$SEX <- factor(sex[i])
d$AGE <- age[i]
d$BASE <- base[i]
d$W <- round(runif(nrow(d), 0.5, 2), 3)
dropout <- ifelse(runif(n) < 0.35, sample(2:m, n, TRUE), m + 1)  # first visit not attended
d <- d[v < dropout[i], ]                                          # dropout: the rows are absent
d$CHG[runif(nrow(d)) < 0.08] <- NA                                # intermittent: NA response
d$VISIT <- factor(d$VISIT, levels = visits)
d$USUBJID <- factor(d$USUBJID, levels = subj)
rownames(d) <- NULL
name <- "heldout"
dir.create(file.path(out, "data"), showWarnings = FALSE)
dir.create(file.path(out, "fits"), showWarnings = FALSE)
write.csv(d, file.path(out, "data", "heldout.csv"), row.names = FALSE, na = "")
schema <- list(file = "heldout.csv", nrow = nrow(d), columns = lapply(d, function(c)
  if (is.factor(c)) list(type = "factor", levels = levels(c)) else list(type = class(c)[1])))
write(toJSON(schema, auto_unbox = TRUE, pretty = TRUE), file.path(out, "data", "heldout.schema.json"))

rhs <- "BASE + AGE + SEX + ARM * VISIT"
anova_table <- function(f, type) {
  # mmrm's own method, called directly: mmrm registers it with car only for car >= 3.1.2
  a <- as.data.frame(mmrm:::Anova.mmrm(f, type = type, test.statistic = "F"))
  lapply(seq_len(nrow(a)), function(i) list(term = rownames(a)[i], NumDF = a[i, 1], DenDF = a[i, 2], F = a[i, 3], p = a[i, 4]))
}
one <- function(id, formula, reml = TRUE, method = "Satterthwaite", vcov = NULL, weights = NULL, extra = FALSE) {
  if (file.exists(file.path(out, "fits", paste0(id, ".json")))) return(invisible())  # resume a run
  ctl <- if (is.null(vcov)) mmrm_control(method = method) else mmrm_control(method = method, vcov = vcov)
  t <- system.time(f <- if (is.null(weights)) mmrm(as.formula(formula), data = d, reml = reml, control = ctl) else
    mmrm(as.formula(formula), data = d, reml = reml, control = ctl, weights = d[[weights]]))[["elapsed"]]
  s <- summary(f)$coefficients
  cv <- VarCorr(f)
  cvl <- if (is.list(cv) && !is.matrix(cv)) lapply(cv, function(m) list(rows = rownames(m), values = unname(m))) else
    list(all = list(rows = rownames(cv), values = unname(cv)))
  res <- list(id = id, dataset = "heldout.csv", formula = formula, REML = reml, method = method,
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
    keep <- as.integer(rownames(f$tmb_data$full_frame))[1:40]  # rows of d, in mmrm's (subject, visit) order
    res$residual_rows <- keep  # 1-based rows of the CSV
    res$residuals_response <- unname(residuals(f, type = "response")[1:40])
    res$residuals_pearson <- unname(residuals(f, type = "pearson")[1:40])
    res$residuals_normalized <- unname(residuals(f, type = "normalized")[1:40])
    res$predict_conditional <- unname(predict(f, newdata = d, conditional = TRUE))
  }
  write(toJSON(res, auto_unbox = TRUE, digits = NA, pretty = TRUE), file.path(out, "fits", paste0(id, ".json")))
  cat(sprintf("%-28s %10.4f  %.3fs\n", id, res$objective, t))
}
cov_formula <- function(type, group = FALSE)
  sprintf("CHG ~ %s + %s(VISIT | %sUSUBJID)", rhs, type, if (group) "ARM / " else "")
for (ty in c("us", "toep", "toeph", "ar1", "ar1h", "ad", "adh", "cs", "csh"))
  one(paste0(name, "_", ty), cov_formula(ty), extra = ty == "us")
one(paste0(name, "_us_kr"), cov_formula("us"), method = "Kenward-Roger", extra = TRUE)
one(paste0(name, "_us_krlinear"), cov_formula("us"), method = "Kenward-Roger", vcov = "Kenward-Roger-Linear")
one(paste0(name, "_adh_kr"), cov_formula("adh"), method = "Kenward-Roger")
one(paste0(name, "_us_ml"), cov_formula("us"), reml = FALSE)
one(paste0(name, "_us_by_arm"), cov_formula("us", group = TRUE))
one(paste0(name, "_csh_by_arm_kr"), cov_formula("csh", group = TRUE), method = "Kenward-Roger")
one(paste0(name, "_us_weighted"), cov_formula("us"), weights = "W")
one(paste0(name, "_us_between_within"), cov_formula("us"), method = "Between-Within")
# last: mmrm's empirical df multiply an n_obs x (p n_subjects) matrix per contrast (minutes here)
one(paste0(name, "_us_empirical"), cov_formula("us"), vcov = "Empirical")
one(paste0(name, "_us_jackknife"), cov_formula("us"), vcov = "Empirical-Jackknife")
one(paste0(name, "_us_biasreduced"), cov_formula("us"), vcov = "Empirical-Bias-Reduced")
one(paste0(name, "_toeph_residual"), cov_formula("toeph"), method = "Residual")
