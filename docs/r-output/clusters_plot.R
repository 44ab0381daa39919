library(ggplot2)
ggplot(clusters, aes(x = cluster, y = y, colour = cluster)) +
  geom_jitter(width = 0.2) +
  ggtitle("Clusters Visualization, tau=100")
