# Time ONLY the glmer() call. Usage: Rscript bench_lme4_glmm.R <csv> <schema.json> <formula> <family> <nAGQ> <warmup> <repeat>
# Prints one JSON object on the last stdout line: times (seconds, after warm-up) and the objective (-2 logLik).
suppressPackageStartupMessages({ library(lme4); library(jsonlite) })
args <- commandArgs(trailingOnly = TRUE)
schema <- fromJSON(args[2], simplifyVector = FALSE)$columns
col_classes <- vapply(schema, function(s) if (s$type %in% c("factor", "ordered")) "character" else "numeric", "")
dat <- read.csv(args[1], colClasses = col_classes, na.strings = "")
for (nm in names(schema)) {
  s <- schema[[nm]]
  if (s$type %in% c("factor", "ordered")) dat[[nm]] <- factor(dat[[nm]], levels = unlist(s$levels), ordered = s$type == "ordered")
}
fam <- get(args[4]); nagq <- as.integer(args[5])
once <- function() { t0 <- proc.time()[["elapsed"]]; fit <- glmer(as.formula(args[3]), data = dat, family = fam, nAGQ = nagq)
  list(fit = fit, seconds = proc.time()[["elapsed"]] - t0) }
for (i in seq_len(as.integer(args[6]))) invisible(once())
times <- numeric(0)
for (i in seq_len(as.integer(args[7]))) { r <- once(); times <- c(times, r$seconds) }
cat(toJSON(list(times = times, objective = -2 * as.numeric(logLik(r$fit))), digits = NA, auto_unbox = TRUE), "\n")
