confint(m_petri, oldNames = FALSE)                 # profile intervals
confint(m_petri, method = "Wald", oldNames = FALSE)
