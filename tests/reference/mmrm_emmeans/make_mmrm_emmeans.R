## Reference numbers for mixedmodels' marginal means of mmrm fits: R's emmeans on R's mmrm.
##
## Usage (from this folder):  R_LIBS=<library with mmrm 0.3.18> Rscript make_mmrm_emmeans.R
## Reads the mmrm reference data of ../mmrm/data (fev_data.csv and heldout.csv, typed by their
## schema.json) and writes mmrm_emmeans.json. mmrm registers emm_basis.mmrm with emmeans: the
## means use the fit's vcov (Kenward-Roger adjusted for a Kenward-Roger fit) and its df method
## (mmrm::df_md) for every linear function.
suppressPackageStartupMessages({library(mmrm); library(emmeans); library(jsonlite)})
data_dir <- "../mmrm/data"
out_file <- "mmrm_emmeans.json"

read_data <- function(name) {
  schema <- fromJSON(file.path(data_dir, paste0(name, ".schema.json")))
  kinds <- sapply(schema$columns, function(c) c$type)
  classes <- ifelse(kinds %in% c("factor", "ordered"), "character", NA)
  d <- read.csv(file.path(data_dir, paste0(name, ".csv")), colClasses = classes)
  for (nm in names(schema$columns)) {
    s <- schema$columns[[nm]]
    if (s$type %in% c("factor", "ordered")) d[[nm]] <- factor(d[[nm]], levels = s$levels)
  }
  d
}
table_rows <- function(s) {
  d <- as.data.frame(s)
  for (nm in names(d)) if (is.factor(d[[nm]])) d[[nm]] <- as.character(d[[nm]])
  d
}
printed <- function(x) paste(capture.output(print(x)), collapse = "\n")

cases <- function(f, trt, visit, at = NULL, full = TRUE) {
  spec_by <- as.formula(sprintf("~ %s | %s", trt, visit))
  em <- emmeans(f, spec_by)
  out <- list(
    emmeans_trt_by_visit = table_rows(summary(em)),
    print_emmeans_trt_by_visit = printed(em),
    pairs = table_rows(summary(pairs(em))),
    print_pairs = printed(pairs(em)))
  if (!full) return(out)
  out <- c(out, list(
    trt_vs_ctrl = table_rows(summary(contrast(em, "trt.vs.ctrl"))),
    print_trt_vs_ctrl = printed(contrast(em, "trt.vs.ctrl")),
    emmeans_visit = table_rows(summary(emmeans(f, as.formula(paste("~", visit))))),
    emmeans_visit_proportional = table_rows(summary(emmeans(f, as.formula(paste("~", visit)), weights = "proportional"))),
    emmeans_trt_proportional = table_rows(summary(emmeans(f, as.formula(paste("~", trt)), weights = "proportional"))),
    joint_tests = table_rows(joint_tests(f)),
    joint_tests_by_visit = table_rows(joint_tests(f, by = visit))
  ))
  if (!is.null(at)) {
    out$at <- at
    out$emmeans_trt_by_visit_at <- table_rows(summary(emmeans(f, spec_by, at = at)))
  }
  out
}

dir.create("parts", showWarnings = FALSE)  # one file per fit, so that a long run can resume
one <- function(id, dataset, formula, trt, visit, method = "Satterthwaite", vcov = NULL, at = NULL, full = TRUE) {
  part <- file.path("parts", paste0(id, ".rds"))
  if (file.exists(part)) return(invisible())
  t0 <- proc.time()[["elapsed"]]
  d <- read_data(sub("\\.csv$", "", dataset))
  ctl <- if (is.null(vcov)) mmrm_control(method = method) else mmrm_control(method = method, vcov = vcov)
  f <- mmrm(as.formula(formula), data = d, control = ctl)
  res <- c(list(id = id, dataset = dataset, formula = formula, method = method,
                        vcov_method = f$vcov, objective = -2 * as.numeric(logLik(f)),
                        theta = as.numeric(f$theta_est), beta = as.list(coef(f))),
                   cases(f, trt, visit, at, full))
  saveRDS(res, part)
  cat(sprintf("%s %.1fs\n", id, proc.time()[["elapsed"]] - t0))
}

fev <- function(cov) sprintf("FEV1 ~ RACE + SEX + ARMCD * AVISIT + %s(AVISIT | USUBJID)", cov)
held <- function(cov) sprintf("CHG ~ BASE + AGE + SEX + ARM * VISIT + %s(VISIT | USUBJID)", cov)
one("fev_us", "fev_data.csv", fev("us"), "ARMCD", "AVISIT")
one("fev_us_kr", "fev_data.csv", fev("us"), "ARMCD", "AVISIT", method = "Kenward-Roger")
one("fev_toeph", "fev_data.csv", fev("toeph"), "ARMCD", "AVISIT")
one("heldout_us", "heldout.csv", held("us"), "ARM", "VISIT", at = list(BASE = 25, AGE = c(40, 60)))
one("heldout_us_kr", "heldout.csv", held("us"), "ARM", "VISIT", method = "Kenward-Roger")
one("heldout_ar1h", "heldout.csv", held("ar1h"), "ARM", "VISIT")
# last: mmrm's empirical df multiply an n_obs x (p n_subjects) matrix per linear function (slow):
# the means by visit and their pairwise differences only
one("heldout_us_empirical", "heldout.csv", held("us"), "ARM", "VISIT", vcov = "Empirical", full = FALSE)

ids <- sub("\\.rds$", "", list.files("parts", pattern = "\\.rds$"))
fits <- setNames(lapply(ids, function(id) readRDS(file.path("parts", paste0(id, ".rds")))), ids)

info <- list(R = R.version.string, mmrm = as.character(packageVersion("mmrm")),
             emmeans = as.character(packageVersion("emmeans")), mvtnorm = as.character(packageVersion("mvtnorm")))
write(toJSON(list(info = info, fits = fits), auto_unbox = TRUE, digits = NA, pretty = TRUE, na = "null"), out_file)
