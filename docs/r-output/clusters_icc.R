vc <- as.data.frame(VarCorr(m_clusters))
vc$vcov[1] / sum(vc$vcov)          # tau^2 / (tau^2 + sigma^2)
performance::icc(m_clusters)
