# Time ONLY the glmer() call. Usage: Rscript bench_lme4_glmm.R <csv> <schema.json> <formula> <family> <nAGQ> <warmup> <repeat>
# <family>: an R family name ("binomial", "poisson"), "<family>:<link>" (e.g. "Gamma:log"), "negbin" (glmer.nb),
# or "glmmTMB:<family>" (glmmTMB with that family, e.g. "glmmTMB:nbinom1"; maximum likelihood, nAGQ ignored).
# Prints one JSON object on the last stdout line: times (elapsed seconds, after warm-up), cpu (user +
# system seconds) and the objective (-2 logLik).
suppressPackageStartupMessages({ library(lme4); library(jsonlite) })
args <- commandArgs(trailingOnly = TRUE)
schema <- fromJSON(args[2], simplifyVector = FALSE)$columns
col_classes <- vapply(schema, function(s) if (s$type %in% c("factor", "ordered")) "character" else "numeric", "")
dat <- read.csv(args[1], colClasses = col_classes, na.strings = "")
for (nm in names(schema)) {
  s <- schema[[nm]]
  if (s$type %in% c("factor", "ordered")) dat[[nm]] <- factor(dat[[nm]], levels = unlist(s$levels), ordered = s$type == "ordered")
}
spec <- strsplit(args[4], ":", fixed = TRUE)[[1]]
nagq <- as.integer(args[5])
call_fit <- if (spec[1] == "negbin") {
  function() glmer.nb(as.formula(args[3]), data = dat, nAGQ = nagq)
} else if (spec[1] == "glmmTMB") {
  suppressPackageStartupMessages(library(glmmTMB))
  tmb_family <- get(spec[2])()
  function() glmmTMB(as.formula(args[3]), data = dat, family = tmb_family)
} else {
  fam <- if (length(spec) == 2) get(spec[1])(link = spec[2]) else get(spec[1])
  function() glmer(as.formula(args[3]), data = dat, family = fam, nAGQ = nagq)
}
once <- function() { t0 <- proc.time(); fit <- suppressWarnings(suppressMessages(call_fit())); t1 <- proc.time() - t0
  list(fit = fit, seconds = t1[["elapsed"]], cpu = t1[["user.self"]] + t1[["sys.self"]]) }
for (i in seq_len(as.integer(args[6]))) invisible(once())
times <- numeric(0); cpu <- numeric(0)
for (i in seq_len(as.integer(args[7]))) { r <- once(); times <- c(times, r$seconds); cpu <- c(cpu, r$cpu) }
cat(toJSON(list(times = times, cpu = cpu, objective = -2 * as.numeric(logLik(r$fit))), digits = NA, auto_unbox = TRUE), "\n")
