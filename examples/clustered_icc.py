"""Clustered data: y ~ (1 | cluster), 10 clusters of 10 with cluster sd 100 and residual sd 2.

Nearly all variance is between clusters, so the intra-class correlation
ICC = τ² / (τ² + σ²) is close to 1: observations of one cluster are almost copies of each other.

Run: ``python examples/clustered_icc.py [OUTPUT_FOLDER]``
"""

import mixedmodels as mm
from mixedmodels import plots
from _lecture import output_folder, report, save

folder = output_folder(__doc__)
data = mm.datasets.load("seed_clusters")
fit = mm.lmer("y ~ (1 | cluster)", data, data_name="seed_clusters")
icc = fit.icc()["cluster"]
report(folder, "clustered_icc", fit, extra=f"ICC = tau^2 / (tau^2 + sigma^2) = {icc:.4f}", values={"icc": icc})
save(plots.clusters(data, "y", "cluster"), folder, "clustered_icc_clusters.png")
save(fit.plot_ranef(), folder, "clustered_icc_ranef.png")
