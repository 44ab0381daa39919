# Fit one lme4 model and time ONLY the lmer() call.
# Usage: Rscript bench_lme4.R <csv> <schema.json> <formula> <reml TRUE|FALSE> <warmup> <repeat>
# Prints one JSON object on the last stdout line: times (seconds, after warm-up), objective, theta, beta.
suppressPackageStartupMessages({
  library(lme4)
  library(jsonlite)
})
args <- commandArgs(trailingOnly = TRUE)
csv <- args[1]; schema_path <- args[2]; formula <- as.formula(args[3])
reml <- as.logical(args[4]); warmup <- as.integer(args[5]); nrep <- as.integer(args[6])

here <- dirname(sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE)))
source(file.path(here, "read_schema.R"))
dat <- read_with_schema(csv, schema_path)

fit_once <- function() {
  t0 <- proc.time()[["elapsed"]]
  fit <- lmer(formula, data = dat, REML = reml)
  list(fit = fit, seconds = proc.time()[["elapsed"]] - t0)
}
for (i in seq_len(warmup)) invisible(fit_once())
times <- numeric(0); fit <- NULL
for (i in seq_len(nrep)) { r <- fit_once(); times <- c(times, r$seconds); fit <- r$fit }
objective <- if (reml) REMLcrit(fit) else deviance(fit)
out <- list(
  times = times, objective = sprintf("%.17g", objective), theta = unname(getME(fit, "theta")), beta = unname(fixef(fit)),
  lme4_version = as.character(packageVersion("lme4")), R_version = R.version.string,
  nobs = nobs(fit), messages = fit@optinfo$conv$lme4$messages
)
cat("\n", toJSON(out, digits = NA, auto_unbox = TRUE, null = "null"), "\n", sep = "")
