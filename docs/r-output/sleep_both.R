data(sleepstudy, package = "lme4")
m_sleep <- lmer(Reaction ~ Days + (Days | Subject), data = sleepstudy)
summary(m_sleep)
