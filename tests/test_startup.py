"""Start-up: what a fresh process imports for ``import mixedmodels``, a linear fit and the command.

Nothing here is timed (benchmarks/bench_startup.py times it): the tests check which modules a call
loads, so that a module-level import of a heavy dependency cannot silently bring the cost back.
Each check runs in a fresh interpreter, since this test process has imported everything already.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

HEAVY = ["numpy", "pandas", "scipy", "scipy.stats", "numba", "formulaic", "matplotlib", "dask", "distributed",
         "pyarrow", "polars", "tqdm", "nlopt", "threadpoolctl"]
"""Third-party modules, each costing from tens of milliseconds to half a second to import."""

NOT_FOR_A_LINEAR_FIT = ["scipy.stats", "formulaic", "matplotlib", "dask", "distributed", "polars", "tqdm",
                        "mixedmodels.glmm", "mixedmodels.mmrm", "mixedmodels.power", "mixedmodels.plots",
                        "mixedmodels.report", "mixedmodels.postfit.emmeans", "mixedmodels.inference.profile",
                        "mixedmodels.inference.bootstrap", "mixedmodels.inference.lrt"]
"""What fitting, summarising and exporting an lmer fit of in-memory data does not use (formulaic: not
for a fixed part that only adds column names, such as ``Days``)."""

NOT_FOR_SLEEPSTUDY = NOT_FOR_A_LINEAR_FIT + ["scipy.sparse", "mixedmodels.inference.kenward_roger", "mixedmodels.residual"]
"""Nor does a fit of one grouping factor (sparse matrices serve crossed terms) without a residual structure,
summarised with Satterthwaite's df."""


def loaded_after(code: str, watch: list[str]) -> list[list[str]]:
    """Run ``code`` in a fresh interpreter; at each ``report()`` it calls, the names of ``watch`` then loaded."""
    script = textwrap.dedent(f"""
        import json, os, sys
        def report():
            print(json.dumps(sorted(m for m in {watch!r} if m in sys.modules)))
    """) + textwrap.dedent(code)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines() if line.startswith("[")]


def test_import_and_the_datasets_command_load_no_heavy_module():
    after_import, after_listing = loaded_after("""
        import mixedmodels
        report()
        from mixedmodels.cli import main
        main(["datasets", "--output", os.devnull])
        report()
    """, HEAVY)
    assert after_import == []
    assert after_listing == []


def test_a_linear_fit_its_summary_and_export_load_only_what_they_use():
    after_fit, after_output, after_kenward_roger = loaded_after("""
        import mixedmodels as mm
        fit = mm.lmer("Reaction ~ Days + (Days | Subject)", mm.datasets.load("sleepstudy"))
        report()
        fit.summary(), fit.tidy(), fit.to_json()
        report()
        fit.summary(ddf="kenward-roger")
        report()
    """, NOT_FOR_SLEEPSTUDY)
    assert after_fit == after_output == []
    assert after_kenward_roger == ["mixedmodels.inference.kenward_roger"]


def test_the_fit_command_loads_only_what_it_uses():
    (loaded,) = loaded_after("""
        from mixedmodels.cli import main
        for fmt in ("text", "json", "csv"):
            main(["fit", "sleepstudy", "Reaction ~ Days + (Days | Subject)", "--format", fmt, "-o", os.devnull])
        report()
    """, NOT_FOR_SLEEPSTUDY)
    assert loaded == []


def test_public_functions_named_like_subpackages_stay_functions_whichever_is_imported_first():
    (loaded,) = loaded_after("""
        import mixedmodels.design.fixed, mixedmodels.mmrm.fit, mixedmodels.power.simulation
        import mixedmodels.inference.anova
        import mixedmodels as mm
        assert mm.design is sys.modules["mixedmodels.power.design"].design
        assert mm.power is sys.modules["mixedmodels.power.simulation"].power
        assert mm.mmrm is sys.modules["mixedmodels.mmrm.fit"].mmrm
        assert mm.inference.anova is sys.modules["mixedmodels.inference.anova"].anova
        report()
    """, ["mixedmodels.power"])
    assert loaded == ["mixedmodels.power"]


def test_subpackages_are_reached_as_attributes_without_importing_them():
    (loaded,) = loaded_after("""
        import mixedmodels as mm
        assert mm.glmm.binomial("probit").link_name == "probit"
        assert callable(mm.inference.coef_table_ddf) and callable(mm.postfit.emmeans.emmeans)
        report()
    """, ["mixedmodels.glmm", "mixedmodels.inference", "mixedmodels.postfit.emmeans"])
    assert loaded == ["mixedmodels.glmm", "mixedmodels.inference", "mixedmodels.postfit.emmeans"]
