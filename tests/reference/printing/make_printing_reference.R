## Printed text of lmerTest / lme4 tables, for the R-style printing tests (tests/test_rformat.py).
## Run from this folder: Rscript make_printing_reference.R   (writes printing.json)
suppressPackageStartupMessages({library(lmerTest); library(jsonlite)})
data_dir <- "../../../src/mixedmodels/datasets/data"
read_data <- function(name) {
  schema <- fromJSON(file.path(data_dir, paste0(name, ".schema.json")), simplifyVector = FALSE)
  d <- read.csv(file.path(data_dir, paste0(name, ".csv")), stringsAsFactors = FALSE)
  for (col in names(schema$columns)) {
    s <- schema$columns[[col]]
    if (s$type %in% c("factor", "ordered")) d[[col]] <- factor(d[[col]], levels = unlist(s$levels), ordered = s$type == "ordered")
  }
  d
}
text <- function(x) paste(capture.output(print(x)), collapse = "\n")
cake <- read_data("cake"); petri <- read_data("seed_petri"); sleep <- read_data("sleepstudy")
m_cake <- lmer(angle ~ recipe * temperature + (1 | recipe:replicate), cake)
m_petri <- lmer(y ~ group + (1 | dish_id), petri)
m0 <- lmer(Reaction ~ Days + (1 | Subject), sleep); m1 <- lmer(Reaction ~ Days + (Days | Subject), sleep)
a_cake3 <- anova(m_cake, type = 3); a_cake1 <- anova(m_cake, type = 1, ddf = "Kenward-Roger")
a_petri <- anova(m_petri); a_lrt <- anova(m0, m1)
num <- function(a) lapply(as.data.frame(a), function(v) unname(v))
out <- list(
  R_version = R.version.string, lme4_version = as.character(packageVersion("lme4")),
  lmerTest_version = as.character(packageVersion("lmerTest")),
  cake_type3 = list(text = text(a_cake3), rows = rownames(a_cake3), columns = num(a_cake3)),
  cake_type1_kr = list(text = text(a_cake1), rows = rownames(a_cake1), columns = num(a_cake1)),
  petri_type3 = list(text = text(a_petri), rows = rownames(a_petri), columns = num(a_petri)),
  sleep_lrt = list(text = text(a_lrt), rows = rownames(a_lrt), columns = num(a_lrt))
)
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE, na = "null"), "printing.json")
