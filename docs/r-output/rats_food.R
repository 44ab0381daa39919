m_food <- lmer(BodyWeight ~ 1 + FoodIntake + (1 | LitterID), data = rats)
summary(m_food)
