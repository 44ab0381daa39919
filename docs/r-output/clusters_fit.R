library(lme4)
set.seed(123)
n_clusters <- 10; n_per_cluster <- 10
cluster_ids <- rep(1:n_clusters, each = n_per_cluster)
cluster_effects <- rnorm(n_clusters, 0, 100)
errors <- rnorm(100, 0, 2)
y <- cluster_effects[cluster_ids] + errors
clusters <- data.frame(y, cluster = factor(cluster_ids))
m_clusters <- lmer(y ~ (1 | cluster), data = clusters)
summary(m_clusters)
