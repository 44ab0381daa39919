# After-the-fit benchmarks on the R side (bench_postfit.py): lme4's influence() and emmeans.
#
#   Rscript bench_postfit.R influence <csv> <schema.json> <formula> <groups> <ncores> <out.csv>
#   Rscript bench_postfit.R emmeans   <csv> <schema.json> <formula> <df method> <repeat> <out prefix>
#
# influence: fits the model (REML, not timed), then times influence(fit, groups = <groups>) once
#   (lme4 1.1-31's influence.merMod: refits from theta-hat, maxfun 1000); writes Cook's distances
#   and dfbetas per deleted group to <out.csv>.
# emmeans: fits with lmerTest::lmer (not timed), one untimed warm-up, then <repeat> timed runs of
#   summary(emmeans(fit, ~ A * B)) and summary(pairs(em, by = "B")) (Tukey); emmeans computes
#   SE, df and p-values when the table is summarised, so the summary is inside the timing.
#   <df method>: "asymptotic" or "satterthwaite" (lmerTest.limit raised above nobs).
#   Writes <prefix>_emmeans.csv and <prefix>_pairs.csv (last run).
# Prints one JSON line: elapsed and CPU seconds (user + system) of each timed call, versions.
suppressPackageStartupMessages({
  library(lme4)
  library(jsonlite)
})
args <- commandArgs(trailingOnly = TRUE)
mode <- args[1]; csv <- args[2]; schema_path <- args[3]; formula <- as.formula(args[4])

here <- dirname(sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE)))
source(file.path(here, "read_schema.R"))
dat <- read_with_schema(csv, schema_path)

timed <- function(expr) {
  t0 <- proc.time()
  value <- force(expr)
  t1 <- proc.time() - t0
  list(value = value, elapsed = t1[["elapsed"]], cpu = t1[["user.self"]] + t1[["sys.self"]])
}

versions <- list(R = R.version.string, lme4 = as.character(packageVersion("lme4")))

if (mode == "influence") {
  groups <- args[5]; ncores <- as.integer(args[6]); out <- args[7]
  fit <- lmer(formula, data = dat, REML = TRUE)
  r <- timed(influence(fit, groups = groups, data = dat, ncores = ncores))
  infl <- r$value
  cd <- cooks.distance(infl)
  dfb <- dfbetas(infl)
  res <- data.frame(group = rownames(dfb), cooks = as.numeric(cd), dfb, check.names = FALSE)
  write.csv(res, out, row.names = FALSE)
  cat(toJSON(list(elapsed = r$elapsed, cpu = r$cpu, objective = sprintf("%.17g", REMLcrit(fit)),
                  converged = sum(infl$converged), versions = versions), auto_unbox = TRUE, digits = NA), "\n")
} else if (mode == "emmeans") {
  suppressPackageStartupMessages({ library(lmerTest); library(emmeans) })
  method <- args[5]; nrep <- as.integer(args[6]); prefix <- args[7]
  fit <- lmerTest::lmer(formula, data = dat, REML = TRUE)
  emm_options(lmerTest.limit = nrow(dat) + 1, pbkrtest.limit = 0)
  run <- function() {
    em <- emmeans(fit, ~ A * B, lmer.df = method)
    s_em <- summary(em)
    s_pr <- summary(pairs(em, by = "B", adjust = "tukey"))
    list(em = s_em, pr = s_pr)
  }
  invisible(run())
  elapsed <- cpu <- numeric(0)
  for (i in seq_len(nrep)) {
    r <- timed(run())
    elapsed <- c(elapsed, r$elapsed); cpu <- c(cpu, r$cpu)
  }
  write.csv(as.data.frame(r$value$em), paste0(prefix, "_emmeans.csv"), row.names = FALSE)
  write.csv(as.data.frame(r$value$pr), paste0(prefix, "_pairs.csv"), row.names = FALSE)
  versions$emmeans <- as.character(packageVersion("emmeans"))
  versions$lmerTest <- as.character(packageVersion("lmerTest"))
  cat(toJSON(list(elapsed = I(elapsed), cpu = I(cpu), objective = sprintf("%.17g", REMLcrit(fit)),
                  versions = versions), auto_unbox = TRUE, digits = NA), "\n")
} else {
  stop("mode must be 'influence' or 'emmeans'")
}
