summary(lm(y ~ 1, data = clusters))$coefficients   # ignores the clusters
summary(m_clusters)$coefficients                 # the mixed model
