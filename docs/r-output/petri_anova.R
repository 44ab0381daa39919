anova(m_petri, type = 3)                          # lmerTest: Satterthwaite
anova(m_petri, type = 3, ddf = "Kenward-Roger")   # pbkrtest's df
