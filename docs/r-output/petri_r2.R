performance::r2(m_petri)      # Nakagawa's marginal and conditional R2
performance::icc(m_petri)
