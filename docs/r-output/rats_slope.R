m_slope <- lmer(BodyWeight ~ FoodIntake + (1 | LitterID) + (0 + FoodIntake | LitterID), data = rats)
getME(m_slope, "theta")
isSingular(m_slope)
