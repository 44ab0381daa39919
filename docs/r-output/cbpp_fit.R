data(cbpp, package = "lme4")
g <- glmer(cbind(incidence, size - incidence) ~ period + (1 | herd),
           data = cbpp, family = binomial)
summary(g)
