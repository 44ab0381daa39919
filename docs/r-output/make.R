## Runs the R code shown in the tutorial's "R" tabs and writes what R prints beside it.
##   cd src/mixedmodels/datasets/data && Rscript ../../../../docs/r-output/make.R
## (the working folder holds the CSV files the R code reads). For each CHUNK.R listed below,
## in this order and in one R session, what it prints goes to CHUNK.txt. The docs build does not
## run R: it shows these files (they are R's output, like tests/reference/).
options(width = 90, digits = 7)
pdf(NULL)  # the ggplot of clusters_plot.R is drawn, not saved
here <- dirname(sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE)))
chunks <- c("clusters_fit", "clusters_plot", "clusters_lm", "clusters_icc", "rats_null", "rats_food", "rats_slope",
            "rats_lrt", "sleep_both", "petri_fit", "petri_anova", "petri_emmeans", "petri_confint", "petri_boot", "petri_r2",
            "cbpp_fit", "cbpp_agq")
env <- globalenv()
for (chunk in chunks) {
  out <- capture.output(source(file.path(here, paste0(chunk, ".R")), local = env, echo = FALSE,
                               print.eval = TRUE), type = "output")
  if (length(out)) writeLines(out, file.path(here, paste0(chunk, ".txt")))  # a plot prints nothing
}
writeLines(c(R.version.string, paste("lme4", packageVersion("lme4")), paste("lmerTest", packageVersion("lmerTest")),
             paste("pbkrtest", packageVersion("pbkrtest")), paste("performance", packageVersion("performance"))),
           file.path(here, "VERSIONS.txt"))
