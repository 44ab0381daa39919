# Time ONLY the glmmTMB() call. Usage: Rscript bench_glmmtmb.R <csv> <schema.json> <formula> <family> <warmup> <repeat>
# <family>: a glmmTMB family function name ("nbinom1", "nbinom2", ...), log link.
# Prints one JSON object on the last stdout line: times (elapsed seconds, after warm-up), cpu (user +
# system seconds) and the objective (-2 logLik). REML = FALSE (maximum likelihood, as glmer).
suppressPackageStartupMessages({ library(glmmTMB); library(jsonlite) })
args <- commandArgs(trailingOnly = TRUE)
schema <- fromJSON(args[2], simplifyVector = FALSE)$columns
col_classes <- vapply(schema, function(s) if (s$type %in% c("factor", "ordered")) "character" else "numeric", "")
dat <- read.csv(args[1], colClasses = col_classes, na.strings = "")
for (nm in names(schema)) {
  s <- schema[[nm]]
  if (s$type %in% c("factor", "ordered")) dat[[nm]] <- factor(dat[[nm]], levels = unlist(s$levels), ordered = s$type == "ordered")
}
fam <- get(args[4])()
call_fit <- function() glmmTMB(as.formula(args[3]), data = dat, family = fam)
once <- function() { t0 <- proc.time(); fit <- suppressWarnings(suppressMessages(call_fit())); t1 <- proc.time() - t0
  list(fit = fit, seconds = t1[["elapsed"]], cpu = t1[["user.self"]] + t1[["sys.self"]]) }
for (i in seq_len(as.integer(args[5]))) invisible(once())
times <- numeric(0); cpu <- numeric(0)
for (i in seq_len(as.integer(args[6]))) { r <- once(); times <- c(times, r$seconds); cpu <- c(cpu, r$cpu) }
cat(toJSON(list(times = times, cpu = cpu, objective = -2 * as.numeric(logLik(r$fit))), digits = NA, auto_unbox = TRUE), "\n")
