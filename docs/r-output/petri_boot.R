boot <- bootMer(m_petri, function(m) fixef(m), nsim = 200, seed = 1)
apply(boot$t, 2, quantile, c(0.025, 0.975))
