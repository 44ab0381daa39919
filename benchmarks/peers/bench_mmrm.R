# Time R's mmrm on one data set: Rscript bench_mmrm.R <csv> <formula> <method> <repeat>
# Prints one JSON line: times (seconds, the mmrm() call alone, after one warm-up) and objective (-2 log L).
suppressMessages({library(mmrm); library(jsonlite)})
args <- commandArgs(TRUE)
d <- read.csv(args[1], stringsAsFactors = FALSE)
d$VISIT <- factor(d$VISIT, levels = sprintf("V%02d", seq_len(max(as.integer(sub("V", "", d$VISIT))))))
d$ARM <- factor(d$ARM, levels = c("PBO", "TRT"))
d$USUBJID <- factor(d$USUBJID)
formula <- as.formula(args[2]); method <- args[3]; n <- as.integer(args[4])
ctl <- mmrm_control(method = method)
f <- mmrm(formula, data = d, control = ctl)
times <- vapply(seq_len(n), function(i) system.time(f <<- mmrm(formula, data = d, control = ctl))[["elapsed"]], 0)
cat(toJSON(list(times = I(times), objective = -2 * as.numeric(logLik(f))), auto_unbox = TRUE, digits = NA), "\n")
