library(emmeans)
emm <- emmeans(m_petri, ~ group)   # Kenward-Roger df: emmeans' default for lmer fits
emm
pairs(emm)                         # all pairwise differences, Tukey-adjusted
contrast(emm, "trt.vs.ctrl")       # each antibiotic against Control, Dunnett-adjusted
