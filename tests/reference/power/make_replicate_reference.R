# Per-replicate reference: simulated responses and lmerTest's / lme4's test of each refit,
# for tests/power/test_power_reference.py (the same response must give the same statistic).
# Run from this folder: Rscript make_replicate_reference.R  (writes replicate_reference.json)
suppressPackageStartupMessages({library(lme4); library(lmerTest); library(jsonlite)})
set.seed(20261130)
nrep <- 12

petri <- expand.grid(obs = 1:5, dish = 1:4, group = c("Control", "A", "B"))
petri$group <- factor(petri$group, levels = c("Control", "A", "B"))
petri$dish_id <- factor((as.integer(petri$group) - 1) * 4 + petri$dish)
X1 <- model.matrix(~ group, petri)
dish <- as.integer(petri$dish_id)
petri_reps <- lapply(seq_len(nrep), function(s) {
  y <- drop(X1 %*% c(100, -8, -16)) + rnorm(12, 0, 8)[dish] + rnorm(nrow(petri), 0, 5)
  petri$y <- y
  m <- lmerTest::lmer(y ~ group + (1 | dish_id), data = petri)
  a <- anova(m, type = 3)
  m0 <- lme4::lmer(y ~ 1 + (1 | dish_id), data = petri)
  lrt <- suppressMessages(anova(m0, m))
  list(y = y, F = a["group", "F value"], DenDF = a["group", "DenDF"], p_F = a["group", "Pr(>F)"],
       Chisq = lrt[2, "Chisq"], p_lrt = lrt[2, "Pr(>Chisq)"], singular = isSingular(m), REMLcrit = REMLcrit(m))
})

fit <- lmer(Reaction ~ Days + (Days | Subject), sleepstudy)
Y <- simulate(fit, nsim = nrep, seed = 11,
              newparams = list(beta = c(fixef(fit)[["(Intercept)"]], 4), theta = getME(fit, "theta"), sigma = sigma(fit)))
sleep <- sleepstudy
sleep_reps <- lapply(seq_len(nrep), function(s) {
  sleep$Reaction <- Y[[s]]
  m <- lmerTest::lmer(Reaction ~ Days + (Days | Subject), data = sleep)
  co <- summary(m)$coefficients
  list(y = Y[[s]], t = co["Days", "t value"], df = co["Days", "df"], p = co["Days", "Pr(>|t|)"],
       singular = isSingular(m), REMLcrit = REMLcrit(m))
})

out <- list(note = "simulated responses and the tests of their refits (lmerTest anova/summary, lme4 anova)",
            versions = list(lme4 = as.character(packageVersion("lme4")),
                            lmerTest = as.character(packageVersion("lmerTest"))),
            petri = petri_reps, sleepstudy = sleep_reps)
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA), "replicate_reference.json")
