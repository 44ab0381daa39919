g25 <- glmer(cbind(incidence, size - incidence) ~ period + (1 | herd),
             data = cbpp, family = binomial, nAGQ = 25)
fixef(g25)
-2 * logLik(g25)     # relative to the saturated model when nAGQ > 1
