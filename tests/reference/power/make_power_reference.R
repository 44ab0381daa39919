# Power by simulation with lme4 + lmerTest refits in a loop (simr is not a Debian package):
# the reference numbers of tests/power/test_power_reference.py.
# Run from this folder: Rscript make_power_reference.R  (writes power_reference.json)
suppressPackageStartupMessages({library(lme4); library(lmerTest); library(jsonlite)})
set.seed(20261129)
nsim <- 1000
alpha <- 0.05
ctrl <- lmerControl(calc.derivs = TRUE)

## Design 1: petri dishes, 3 groups x 4 dishes x 5 counts, group means 100/92/84, dish sd 8, residual sd 5
petri <- expand.grid(obs = 1:5, dish = 1:4, group = c("Control", "A", "B"))
petri$group <- factor(petri$group, levels = c("Control", "A", "B"))
petri$dish_id <- factor((as.integer(petri$group) - 1) * 4 + petri$dish)
beta1 <- c(100, -8, -16)
X1 <- model.matrix(~ group, petri)
dish <- as.integer(petri$dish_id)
p_group <- p_lrt <- rep(NA_real_, nsim)
singular1 <- 0
t1 <- system.time(for (s in seq_len(nsim)) {
  petri$y <- drop(X1 %*% beta1) + rnorm(12, 0, 8)[dish] + rnorm(nrow(petri), 0, 5)
  m <- lmerTest::lmer(y ~ group + (1 | dish_id), data = petri)
  singular1 <- singular1 + isSingular(m)
  p_group[s] <- anova(m, type = 3)["group", "Pr(>F)"]
  m0 <- lme4::lmer(y ~ 1 + (1 | dish_id), data = petri)
  p_lrt[s] <- suppressMessages(anova(m0, m))[2, "Pr(>Chisq)"]
})

## Design 2: sleepstudy, the REML fit's estimates as the truth but a Days effect of 4 (not 10.47)
fit <- lmer(Reaction ~ Days + (Days | Subject), sleepstudy)
beta2 <- c(fixef(fit)[["(Intercept)"]], 4)
params <- list(beta = beta2, theta = getME(fit, "theta"), sigma = sigma(fit))
Y <- simulate(fit, nsim = nsim, newparams = params, seed = 7)
p_days <- rep(NA_real_, nsim)
singular2 <- 0
sleep <- sleepstudy
t2 <- system.time(for (s in seq_len(nsim)) {
  sleep$Reaction <- Y[[s]]
  m <- lmerTest::lmer(Reaction ~ Days + (Days | Subject), data = sleep)
  singular2 <- singular2 + isSingular(m)
  p_days[s] <- summary(m)$coefficients["Days", "Pr(>|t|)"]
})

out <- list(
  note = "lme4 + lmerTest refits of simulated responses in an R loop; power = share of p < alpha",
  versions = list(R = R.version.string, lme4 = as.character(packageVersion("lme4")),
                  lmerTest = as.character(packageVersion("lmerTest"))),
  nsim = nsim, alpha = alpha,
  petri = list(design = "3 groups x 4 dishes x 5 counts; beta (Intercept) 100, groupA -8, groupB -16; dish var 64; sigma 5",
               fixef = list("(Intercept)" = 100, groupA = -8, groupB = -16), varcorr = 64, sigma = 5,
               group_F = list(successes = sum(p_group < alpha, na.rm = TRUE), failed = sum(is.na(p_group))),
               lrt = list(successes = sum(p_lrt < alpha, na.rm = TRUE), failed = sum(is.na(p_lrt))),
               singular = singular1, seconds = unname(t1["elapsed"])),
  sleepstudy = list(design = "sleepstudy REML fit as the truth, Days effect set to 4",
                    fixef = list("(Intercept)" = beta2[1], Days = 4), theta = unname(getME(fit, "theta")),
                    sigma = sigma(fit),
                    days_t = list(successes = sum(p_days < alpha, na.rm = TRUE), failed = sum(is.na(p_days))),
                    singular = singular2, seconds = unname(t2["elapsed"]))
)
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, pretty = TRUE), "power_reference.json")
