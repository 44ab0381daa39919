anova(m_food, m_slope)
