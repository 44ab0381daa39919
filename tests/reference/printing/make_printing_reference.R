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
formulas <- c(
  "BodyWeight ~ FoodIntake + (1 | LitterID) + (0 + FoodIntake | LitterID)",
  "Reaction~Days+(Days|Subject)",
  "response_variable_with_a_long_name ~ treatment_group * visit_number + baseline_score + age_in_years + (1 + visit_number | subject_identifier) + (1 | site_identifier)",
  "y ~ I(x^2) + log(z + 1) + poly_term:other_term + (1 | a/b) + (0 + x + z + w + v + u + t + s + r | grouping_factor_with_long_name)",
  "cbind(incidence, size - incidence) ~ period + (1 | herd)")
numbers <- list(c(0.7765, 2.247e-06, 25.53), c(0.8812, 0.001499, 5.053137), c(1.338e-12, 4.5),
                c(-1.338e-12, 20.25), c(0.000123, 1), c(1e-300, 2), c(123456789, 0.5))
num <- function(a) lapply(as.data.frame(a), function(v) unname(v))
out <- list(
  R_version = R.version.string, lme4_version = as.character(packageVersion("lme4")),
  lmerTest_version = as.character(packageVersion("lmerTest")),
  cake_type3 = list(text = text(a_cake3), rows = rownames(a_cake3), columns = num(a_cake3)),
  cake_type1_kr = list(text = text(a_cake1), rows = rownames(a_cake1), columns = num(a_cake1)),
  petri_type3 = list(text = text(a_petri), rows = rownames(a_petri), columns = num(a_petri)),
  sleep_lrt = list(text = text(a_lrt), rows = rownames(a_lrt), columns = num(a_lrt)),
  ## lme4's .prt.call: cat("Formula:", deparse(formula), fill = 80)
  formulas = lapply(formulas, function(f) list(formula = f,
    text = paste(capture.output(cat("Formula:", deparse(as.formula(f)), fill = 80)), collapse = "\n"))),
  ## format(x, digits = 4): fixed or scientific notation, R's choice
  numbers = lapply(numbers, function(x) list(x = x, text = format(x, digits = 4)))
)
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE, na = "null"), "printing.json")
