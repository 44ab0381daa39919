## Reference numbers for mixedmodels' marginal means and contrasts (emmeans).
##
## Usage (from this folder):  Rscript make_emmeans_reference.R [DATA_DIR] [OUT_JSON]
## DATA_DIR defaults to the package's own data (../../../src/mixedmodels/datasets/data), so R and
## Python read the same CSV files with the same factor levels (schema.json beside each CSV).
## Needs: r-cran-lme4 r-cran-lmertest r-cran-pbkrtest r-cran-emmeans r-cran-mvtnorm r-cran-jsonlite.

suppressPackageStartupMessages({
  library(lme4); library(lmerTest); library(pbkrtest); library(emmeans); library(mvtnorm); library(jsonlite)
})
args <- commandArgs(trailingOnly = TRUE)
data_dir <- if (length(args) >= 1) args[1] else "../../../src/mixedmodels/datasets/data"
out_file <- if (length(args) >= 2) args[2] else "emmeans_reference.json"

read_data <- function(name) {
  schema <- fromJSON(file.path(data_dir, paste0(name, ".schema.json")))
  kinds <- sapply(schema$columns, function(c) c$type)
  classes <- ifelse(kinds %in% c("factor", "ordered"), "character", NA)
  d <- read.csv(file.path(data_dir, paste0(name, ".csv")), colClasses = classes)
  for (nm in names(schema$columns)) {
    s <- schema$columns[[nm]]
    if (s$type %in% c("factor", "ordered")) d[[nm]] <- factor(d[[nm]], levels = s$levels, ordered = s$type == "ordered")
  }
  d
}

table_rows <- function(s) {
  d <- as.data.frame(s)
  for (nm in names(d)) if (is.factor(d[[nm]])) d[[nm]] <- as.character(d[[nm]])
  d
}
printed <- function(x) paste(capture.output(print(x)), collapse = "\n")
with_messages <- function(expr) {
  msgs <- character(0)
  value <- withCallingHandlers(expr, message = function(m) { msgs <<- c(msgs, conditionMessage(m)); invokeRestart("muffleMessage") })
  list(value = value, messages = msgs)
}

## high-precision multivariate-t p-values and critical values for the "mvt" adjustment (no by groups),
## with emmeans' integer df (.fix.df) and the contrasts' correlation matrix
fix_df <- function(d) { d <- ifelse(d > 0, pmax(1, d), d); d[is.infinite(d) | d > 9999] <- 0; floor(d + 0.25) }
precise_mvt <- function(ctr, level = 0.95) {
  s <- summary(ctr, infer = c(FALSE, TRUE), adjust = "none")
  R <- cov2cor(vcov(ctr))
  stat <- if (!is.null(s$t.ratio)) s$t.ratio else s$z.ratio
  dfs <- fix_df(s$df)
  alg <- GenzBretz(maxpts = 5e5, abseps = 2e-5, releps = 0)
  set.seed(1)
  p <- sapply(seq_along(stat), function(i) 1 - pmvt(rep(-abs(stat[i]), length(stat)), rep(abs(stat[i]), length(stat)),
                                                      df = as.integer(dfs[i]), corr = R, algorithm = alg)[1])
  set.seed(1)
  q <- sapply(seq_along(stat), function(i) qmvt(level, tail = "both.tails", df = as.integer(dfs[i]), corr = R,
                                                 algorithm = GenzBretz(maxpts = 1e5, abseps = 1e-4, releps = 0))$quantile)
  list(p.value = p, quantile = q, df_integer = dfs)
}

contrast_case <- function(emm, method, adjust = NULL, ref = NULL, level = 0.95, precise = FALSE, ...) {
  args <- list(emm, method = method, ...)
  if (!is.null(adjust)) args$adjust <- adjust
  if (!is.null(ref)) args$ref <- ref
  set.seed(2024)
  ctr <- with_messages(do.call(contrast, args))
  set.seed(2024)
  tst <- with_messages(summary(ctr$value, infer = c(FALSE, TRUE)))
  set.seed(2024)
  ci <- with_messages(confint(ctr$value, level = level))
  set.seed(2024)
  out <- list(method = if (is.list(method)) "custom" else method, adjust = adjust, ref = ref,
              custom = if (is.list(method)) method else NULL, level = level,
              table = table_rows(tst$value), confint = table_rows(ci$value),
              print_test = printed(tst$value), print_confint = printed(ci$value),
              messages = unique(c(ctr$messages, tst$messages, ci$messages)),
              famSize = ctr$value@misc$famSize, adjust_used = attr(tst$value, "adjust"))
  if (precise) out$mvt_precise <- precise_mvt(ctr$value, level)
  out
}

emm_case <- function(fit, specs, by = NULL, at = NULL, weights = NULL, type = NULL, level = 0.95) {
  args <- list(fit, specs = specs)
  if (!is.null(by)) args$by <- by
  if (!is.null(at)) args$at <- at
  if (!is.null(weights)) args$weights <- weights
  if (!is.null(type)) args$type <- type
  r <- with_messages(do.call(emmeans, args))
  s <- summary(r$value, level = level)
  list(emm = r$value,
       out = list(specs = specs, by = by, at = at, weights = if (is.null(weights)) "equal" else weights,
                  type = if (is.null(type)) "link" else type, level = level,
                  table = table_rows(s), print = printed(s), messages = r$messages,
                  linfct = unname(r$value@linfct)))
}

results <- list()
info <- list(R = R.version.string, lme4 = as.character(packageVersion("lme4")),
             lmerTest = as.character(packageVersion("lmerTest")), pbkrtest = as.character(packageVersion("pbkrtest")),
             emmeans = as.character(packageVersion("emmeans")), mvtnorm = as.character(packageVersion("mvtnorm")))

lmm_cases <- function(id, data_name, formula, data, block) {
  fit <- lmer(as.formula(formula), data = data, REML = TRUE)
  for (mode in c("kenward-roger", "satterthwaite")) {
    emm_options(lmer.df = mode)
    cases <- block(fit)
    results[[paste(id, mode, sep = "_")]] <<- list(data = data_name, formula = formula, family = NULL, lmer_df = mode,
                                                  fixef = unname(fixef(fit)), vcov = unname(as.matrix(vcov(fit))),
                                                  objective = unname(REMLcrit(fit)), cases = cases)
  }
  emm_options(lmer.df = "kenward-roger")
}

## ---- petri dishes: one factor, Control is the reference level
petri <- read_data("seed_petri")
lmm_cases("petri", "seed_petri", "y ~ group + (1 | dish_id)", petri, function(fit) {
  e <- emm_case(fit, "group")
  e90 <- emm_case(fit, "group", level = 0.9)
  ctr <- list(
    contrast_case(e$emm, "pairwise"),
    contrast_case(e$emm, "pairwise", adjust = "holm"),
    contrast_case(e$emm, "pairwise", adjust = "bonferroni"),
    contrast_case(e$emm, "pairwise", adjust = "sidak"),
    contrast_case(e$emm, "pairwise", adjust = "none"),
    contrast_case(e$emm, "pairwise", adjust = "mvt", precise = TRUE),
    contrast_case(e$emm, "revpairwise"),
    contrast_case(e$emm, "trt.vs.ctrl"),
    contrast_case(e$emm, "trt.vs.ctrl", adjust = "mvt", precise = TRUE),
    contrast_case(e$emm, "trt.vs.ctrl", ref = 2),
    contrast_case(e$emm, "consec", precise = TRUE),
    contrast_case(e$emm, "eff"),
    contrast_case(e$emm, "poly"),
    contrast_case(e$emm, list("A vs B" = c(0, 1, -1), "treated vs control" = c(-1, 0.5, 0.5))),
    contrast_case(e$emm, "pairwise", adjust = "tukey", level = 0.9)
  )
  list(list(emmeans = e$out, contrasts = ctr), list(emmeans = e90$out, contrasts = list()))
})

## ---- cake: recipe x ordered temperature
cake <- read_data("cake")
lmm_cases("cake", "cake", "angle ~ recipe * temperature + (1 | recipe:replicate)", cake, function(fit) {
  r <- emm_case(fit, "recipe")
  t <- emm_case(fit, "temperature")
  rt <- emm_case(fit, c("recipe", "temperature"))
  rbt <- emm_case(fit, "recipe", by = "temperature")
  jt <- with_messages(joint_tests(fit))
  list(list(emmeans = r$out, contrasts = list(contrast_case(r$emm, "pairwise"), contrast_case(r$emm, "trt.vs.ctrl"))),
       list(emmeans = t$out, contrasts = list(contrast_case(t$emm, "poly"), contrast_case(t$emm, "consec", precise = TRUE),
                                              contrast_case(t$emm, "pairwise"))),
       list(emmeans = rt$out, contrasts = list()),
       list(emmeans = rbt$out, contrasts = list(contrast_case(rbt$emm, "pairwise"),
                                                contrast_case(rbt$emm, "pairwise", adjust = "holm"),
                                                contrast_case(rbt$emm, "trt.vs.ctrl", adjust = "mvt"))),
       list(joint_tests = list(table = table_rows(jt$value), print = printed(jt$value), messages = jt$messages)))
})

## ---- cake with rows removed: unequal cell counts, so "proportional" weights differ from "equal"
cake_unbalanced <- cake[-c(1:3, 50, 51, 120, 200), ]
lmm_cases("cake_unbalanced", "cake[-c(1:3, 50, 51, 120, 200), ] (R row numbers)",
          "angle ~ recipe * temperature + (1 | recipe:replicate)", cake_unbalanced, function(fit) {
  eq <- emm_case(fit, "recipe")
  pr <- emm_case(fit, "recipe", weights = "proportional")
  tp <- emm_case(fit, "temperature", weights = "proportional")
  list(list(emmeans = eq$out, contrasts = list(contrast_case(eq$emm, "pairwise"))),
       list(emmeans = pr$out, contrasts = list(contrast_case(pr$emm, "pairwise"))),
       list(emmeans = tp$out, contrasts = list()))
})

## ---- Oats: numeric covariate nitro, at= values
oats <- read_data("Oats")
lmm_cases("oats", "Oats", "yield ~ nitro * Variety + (1 | Block/Variety)", oats, function(fit) {
  v <- emm_case(fit, "Variety")
  v6 <- emm_case(fit, "Variety", at = list(nitro = 0.6))
  nv <- emm_case(fit, "nitro", by = "Variety", at = list(nitro = c(0, 0.6)))
  va <- emm_case(fit, "Variety", at = list(nitro = c(0, 0.2, 0.4, 0.6)))
  jt <- with_messages(joint_tests(fit))
  list(list(emmeans = v$out, contrasts = list(contrast_case(v$emm, "pairwise"))),
       list(emmeans = v6$out, contrasts = list(contrast_case(v6$emm, "pairwise"))),
       list(emmeans = nv$out, contrasts = list(contrast_case(nv$emm, "revpairwise"))),
       list(emmeans = va$out, contrasts = list(contrast_case(va$emm, "trt.vs.ctrl"))),
       list(joint_tests = list(table = table_rows(jt$value), print = printed(jt$value), messages = jt$messages)))
})

## ---- Machines: crossed random worker and worker:machine
machines <- read_data("Machines")
lmm_cases("machines", "Machines", "score ~ Machine + (1 | Worker) + (1 | Worker:Machine)", machines, function(fit) {
  m <- emm_case(fit, "Machine")
  list(list(emmeans = m$out, contrasts = list(contrast_case(m$emm, "pairwise"),
                                              contrast_case(m$emm, "trt.vs.ctrl", ref = 3),
                                              contrast_case(m$emm, "pairwise", adjust = "mvt", precise = TRUE))))
})

## ---- joint tests: a covariate in two terms, a covariate-by-factor interaction, by groups
orthodont <- read_data("Orthodont")
for (formula in c("distance ~ age + I(age^2) + Sex + (1 | Subject)", "distance ~ age * Sex + (1 | Subject)")) {
  fit <- lmer(as.formula(formula), data = orthodont)
  jt <- with_messages(joint_tests(fit))
  results[[paste("orthodont", length(results), sep = "_")]] <- list(
    data = "Orthodont", formula = formula, family = NULL, lmer_df = "kenward-roger", fixef = unname(fixef(fit)),
    vcov = unname(as.matrix(vcov(fit))), objective = unname(REMLcrit(fit)),
    cases = list(list(joint_tests = list(table = table_rows(jt$value), print = printed(jt$value), messages = jt$messages))))
}
fit <- lmer(angle ~ recipe * temperature + (1 | recipe:replicate), data = cake)
jt <- with_messages(joint_tests(fit, by = "recipe"))
results[["cake_by_recipe"]] <- list(
  data = "cake", formula = "angle ~ recipe * temperature + (1 | recipe:replicate)", family = NULL,
  lmer_df = "kenward-roger", fixef = unname(fixef(fit)), vcov = unname(as.matrix(vcov(fit))),
  objective = unname(REMLcrit(fit)),
  cases = list(list(joint_tests = list(by = "recipe", table = table_rows(jt$value), print = printed(jt$value),
                                       messages = jt$messages))))

## ---- grouseticks: Poisson GLMM, rates
ticks <- read_data("grouseticks")
gp <- glmer(TICKS ~ YEAR + cHEIGHT + (1 | BROOD) + (1 | INDEX) + (1 | LOCATION), data = ticks, family = poisson)
pr <- emm_case(gp, "YEAR", type = "response")
results[["grouseticks"]] <- list(data = "grouseticks", formula = "TICKS ~ YEAR + cHEIGHT + (1 | BROOD) + (1 | INDEX) + (1 | LOCATION)",
                                 family = "poisson", lmer_df = NULL, fixef = unname(fixef(gp)),
                                 vcov = unname(as.matrix(vcov(gp))), objective = -2 * as.numeric(logLik(gp)),
                                 cases = list(list(emmeans = pr$out, contrasts = list(contrast_case(pr$emm, "pairwise"),
                                                                                      contrast_case(pr$emm, "trt.vs.ctrl")))))

## ---- cbpp: binomial GLMM, link and response scale
cbpp <- read_data("cbpp")
g <- glmer(cbind(incidence, size - incidence) ~ period + (1 | herd), data = cbpp, family = binomial)
gl <- emm_case(g, "period")
gr <- emm_case(g, "period", type = "response")
results[["cbpp"]] <- list(data = "cbpp", formula = "cbind(incidence, size - incidence) ~ period + (1 | herd)",
                          family = "binomial", lmer_df = NULL, fixef = unname(fixef(g)),
                          vcov = unname(as.matrix(vcov(g))), objective = -2 * as.numeric(logLik(g)),
                          cases = list(list(emmeans = gl$out, contrasts = list(contrast_case(gl$emm, "pairwise"),
                                                                              contrast_case(gl$emm, "trt.vs.ctrl"),
                                                                              contrast_case(gl$emm, "pairwise", adjust = "mvt", precise = TRUE))),
                                       list(emmeans = gr$out, contrasts = list(contrast_case(gr$emm, "pairwise"),
                                                                              contrast_case(gr$emm, "trt.vs.ctrl")))))
jt <- with_messages(joint_tests(g))
results[["cbpp"]]$cases[[3]] <- list(joint_tests = list(table = table_rows(jt$value), print = printed(jt$value), messages = jt$messages))

writeLines(toJSON(list(info = info, models = results), digits = NA, auto_unbox = TRUE, null = "null", na = "string",
                  pretty = TRUE), out_file)
cat("wrote", out_file, "\n")
