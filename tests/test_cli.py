"""The installed ``mixedmodels`` command, run in a subprocess, against the lme4 reference fits."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

import mixedmodels
from mixedmodels.cli import main
from conftest import reference, reference_data, reference_data_path


def _command() -> str:
    """The console script installed beside this interpreter (e.g. .venv/bin)."""
    found = shutil.which("mixedmodels", path=str(Path(sys.executable).parent)) or shutil.which("mixedmodels")
    if found is None:
        pytest.fail("the mixedmodels command is not installed; run pip install -e '.[test]'")
    return found


def run(*args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([_command(), *args], capture_output=True, text=True, timeout=300, cwd=cwd)


def fit_json(*args: str) -> dict:
    done = run("fit", *args, "--format", "json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def assert_matches(out: dict, model_id: str) -> None:
    ref = reference(model_id)
    assert out["nobs"] == ref["nobs"] and out["reml"] == ref["REML"]
    assert out["objective"] == pytest.approx(ref["objective"], rel=1e-7)
    assert out["loglik"] == pytest.approx(ref["logLik"], rel=1e-7)
    assert out["aic"] == pytest.approx(ref["AIC"], rel=1e-7)
    assert out["sigma"] == pytest.approx(ref["sigma"], rel=1e-5)
    assert out["fixef"] == pytest.approx(ref["beta"], rel=1e-5, abs=1e-8)
    assert [r["std_error"] for r in out["coef_table"]] == pytest.approx(list(ref["se_beta"].values()), rel=1e-4)
    assert list(out["theta"]) == list(ref["theta"])
    assert list(out["theta"].values()) == pytest.approx(list(ref["theta"].values()), rel=1e-4, abs=1e-5)
    assert out["ngroups"] == ref["ngrps"]
    assert out["singular"] == ref["isSingular"]


def test_fit_csv_with_schema_beside_it():
    # seed_petri's group levels are Control, AntibioticA, AntibioticB (not alphabetical): only the
    # schema beside the CSV gives the reference level, so the fixed effects match only if it is applied
    out = fit_json(str(reference_data_path("seed_petri.csv")), reference("seed_petri")["formula"])
    assert list(out["fixef"]) == list(reference("seed_petri")["beta"])
    assert_matches(out, "seed_petri")


def test_fit_csv_without_schema(tmp_path):
    path = tmp_path / "sleep.csv"
    shutil.copy(reference_data_path("sleepstudy.csv"), path)
    assert_matches(fit_json(str(path), "Reaction ~ Days + (Days | Subject)"), "sleepstudy_slope_reml")


def test_fit_parquet_ml(tmp_path):
    frame = reference_data("Penicillin.csv")
    path = tmp_path / "penicillin.parquet"
    frame.astype({"plate": str, "sample": str}).to_parquet(path)  # text columns become factors
    out = fit_json(str(path), reference("penicillin_crossed")["formula"])
    assert_matches(out, "penicillin_crossed")
    path = tmp_path / "sleep.parquet"
    reference_data("sleepstudy.csv").to_parquet(path)
    assert_matches(fit_json(str(path), "Reaction ~ Days + (Days | Subject)", "--ml"), "sleepstudy_slope_ml")


def test_fit_builtin_dataset_text_csv_and_output_file(tmp_path):
    assert_matches(fit_json("Dyestuff", "Yield ~ 1 + (1 | Batch)"), "dyestuff_reml")
    assert_matches(fit_json("dyestuff", "Yield ~ 1 + (1 | Batch)", "--ml"), "dyestuff_ml")

    done = run("fit", "sleepstudy", "Reaction ~ Days + (Days | Subject)")
    assert done.returncode == 0 and done.stderr == ""
    ref_text = reference("sleepstudy_slope_reml")["summary_text"]
    assert "REML criterion at convergence: 1743.6" in done.stdout and "REML criterion at convergence: 1743.6" in ref_text

    target = tmp_path / "tidy.csv"
    done = run("fit", "sleepstudy", "Reaction ~ Days + (Days | Subject)", "--format", "csv", "--output", str(target))
    assert done.returncode == 0 and done.stdout == ""
    table = pd.read_csv(target).set_index("term")
    ref = reference("sleepstudy_slope_reml")
    assert table.loc["Days", "estimate"] == pytest.approx(ref["beta"]["Days"], rel=1e-6)
    sat = ref["satterthwaite"]["Days"]  # Satterthwaite by default, as the text summary
    from scipy import stats
    assert table.loc["Days", "conf_low"] == pytest.approx(sat["estimate"] - stats.t.ppf(0.975, sat["df"]) * sat["se"],
                                                          rel=1e-5)
    assert table.loc["sd__Observation", "estimate"] == pytest.approx(ref["sigma"], rel=1e-6)


def test_singular_fit_is_reported_as_one_warning_line():
    done = run("fit", "Dyestuff2", "Yield ~ 1 + (1 | Batch)", "--format", "json")
    assert done.returncode == 0
    assert done.stderr.splitlines() == ["warning: boundary (singular) fit: see help(mixedmodels.LmerFit.is_singular)"]
    out = json.loads(done.stdout)
    assert_matches(out, "dyestuff2_singular")
    assert out["singular"] is True


def test_satterthwaite_df_in_json():
    out = fit_json("sleepstudy", "Reaction ~ Days + (Days | Subject)", "--ddf", "satterthwaite")
    ref = reference("sleepstudy_slope_reml")["satterthwaite"]
    assert [r["df"] for r in out["coef_table"]] == pytest.approx([r["df"] for r in ref.values()], rel=1e-3)
    assert [r["p_value"] for r in out["coef_table"]] == pytest.approx([r["p"] for r in ref.values()], rel=1e-2)


def test_datasets_lists_every_builtin_dataset():
    done = run("datasets")
    assert done.returncode == 0
    lines = done.stdout.splitlines()
    assert [line.split()[0] for line in lines] == mixedmodels.datasets.list_datasets()
    assert "sleepstudy     Reaction times in a sleep deprivation study (lme4); 180 rows" in lines
    assert "InstEval       University lecture/instructor evaluations by students at ETH (lme4); 73421 rows" in lines


def test_the_collector_is_paused_only_while_a_command_runs(monkeypatch, tmp_path):
    """main() pauses the garbage collector for the command and leaves its state as it found it;
    the objects are frozen only when the process exits (an atexit hook), never while it runs."""
    import gc

    seen = []
    monkeypatch.setattr(mixedmodels.cli, "_cmd_datasets", lambda args: seen.append(gc.isenabled()))
    assert gc.isenabled()
    assert main(["datasets"]) == 0
    assert seen == [False] and gc.isenabled() and gc.get_freeze_count() == 0
    gc.disable()
    try:
        assert main(["datasets"]) == 0
        assert not gc.isenabled()
    finally:
        gc.enable()
    assert main(["no-such-command"]) == 2 and gc.isenabled()  # also after an error


def test_openblas_starts_single_threaded_only_when_the_command_loads_numpy(monkeypatch):
    """OPENBLAS_NUM_THREADS=1 while a command runs, only when numpy is not loaded yet and the user
    did not set it; removed afterwards."""
    starts = mixedmodels.cli._openblas_starts_single_threaded
    monkeypatch.delenv("OPENBLAS_NUM_THREADS", raising=False)
    with starts():
        assert "OPENBLAS_NUM_THREADS" not in os.environ  # numpy is loaded in this process
    monkeypatch.delitem(sys.modules, "numpy")
    with starts():
        assert os.environ["OPENBLAS_NUM_THREADS"] == "1"
    assert "OPENBLAS_NUM_THREADS" not in os.environ
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "3")
    with starts():
        assert os.environ["OPENBLAS_NUM_THREADS"] == "3"


def test_the_fit_command_runs_blas_on_one_thread_and_raises_it_for_large_blocks():
    """In a fresh process the command's OpenBLAS starts with one thread; the library can still
    raise it (mixedmodels._threads, for a large Schur complement)."""
    script = ("import sys; from mixedmodels.cli import main; main(['fit', 'sleepstudy', 'Reaction ~ Days + (1 | Subject)',"
              " '--output', sys.argv[1]]); from threadpoolctl import threadpool_info, threadpool_limits;"
              " before = {i['num_threads'] for i in threadpool_info() if i['internal_api'] == 'openblas'};"
              " threadpool_limits(2, user_api='blas');"
              " after = {i['num_threads'] for i in threadpool_info() if i['internal_api'] == 'openblas'};"
              " print(sorted(before), sorted(after))")
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
    done = subprocess.run([sys.executable, "-c", script, os.devnull], capture_output=True, text=True, env=env,
                          check=True)
    assert done.stdout.split("\n")[0] == "[1] [2]"


def test_anova_likelihood_ratio_test():
    ref = reference("sleepstudy_lrt")
    small, large = "Reaction ~ Days + (1 | Subject)", "Reaction ~ Days + (Days | Subject)"
    done = run("anova", "sleepstudy", small, large, "--format", "csv")
    assert done.returncode == 0, done.stderr
    table = pd.read_csv(io.StringIO(done.stdout))
    assert table["Chisq"].dropna().tolist() == pytest.approx([ref["Chisq"]], rel=1e-4)
    assert table["AIC"].tolist() == pytest.approx(list(ref["AIC"].values()), rel=1e-6)
    assert table["logLik"].tolist() == pytest.approx(list(ref["logLik"].values()), rel=1e-6)
    assert table["Df"].dropna().tolist() == [ref["Df"]]
    assert done.stderr.splitlines() == ["warning: refitting model(s) with ML (instead of REML)"]
    text = run("anova", "sleepstudy", small, large)
    assert text.returncode == 0 and "42.139" in text.stdout and "..." not in text.stdout


BAD_INPUT = {  # run through the installed command: (arguments, what the one line must name)
    "missing file": (["fit", "no/such/file.csv", "y ~ x + (1 | g)"], "no/such/file.csv"),
    "bad formula": (["fit", "sleepstudy", "Reaction ~ Days + (Days | Subject"], "parenthes"),
    "unknown fixed column": (["fit", "sleepstudy", "Reaction ~ Dayz + (1 | Subject)"], "Dayz"),
    "unknown grouping column": (["fit", "sleepstudy", "Reaction ~ Days + (1 | Subjekt)"], "Subjekt"),
}
BAD_INPUT_IN_PROCESS = {  # the same contract through main(), to keep the subprocess count down
    "no random effects": ["fit", "sleepstudy", "Reaction ~ Days"],
    "unknown response": ["fit", "sleepstudy", "Reactio ~ Days + (1 | Subject)"],
    "unknown family": ["fit", "cbpp", "cbind(incidence, size - incidence) ~ period + (1 | herd)", "--family", "gamma"],
    "kenward-roger for ML": ["fit", "Dyestuff", "Yield ~ 1 + (1 | Batch)", "--ml", "--ddf", "kenward-roger"],
    "unreadable file type": ["fit", __file__, "y ~ x + (1 | g)"],
    "missing formula": ["fit", "sleepstudy"],
    "bad ddf": ["fit", "sleepstudy", "Reaction ~ Days + (1 | Subject)", "--ddf", "wald"],
    "unknown command": ["plot", "sleepstudy"],
    "report without output": ["report", "sleepstudy", "Reaction ~ Days + (1 | Subject)"],
}


def _assert_one_error_line(stderr: str, stdout: str) -> str:
    lines = stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and len(lines[0]) > len("error: ") + 10, stderr
    assert "Traceback" not in stderr and stdout == ""
    return lines[0]


@pytest.mark.parametrize(("args", "named"), BAD_INPUT.values(), ids=BAD_INPUT.keys())
def test_bad_input_gives_one_line_and_nonzero_status(args, named):
    done = run(*args)
    assert done.returncode != 0
    assert named in _assert_one_error_line(done.stderr, done.stdout)


@pytest.mark.parametrize("args", BAD_INPUT_IN_PROCESS.values(), ids=BAD_INPUT_IN_PROCESS.keys())
def test_bad_input_in_process(args, capsys):
    assert main(args) != 0
    captured = capsys.readouterr()
    _assert_one_error_line(captured.err, captured.out)


def test_debug_shows_the_traceback():
    done = run("fit", "sleepstudy", "Reaction ~ Days + (1 | Subjekt)", "--debug")
    assert done.returncode != 0 and "Traceback" in done.stderr


def test_fit_glmm_with_family():
    ref = reference("cbpp_binomial")
    done = run("fit", "cbpp", ref["formula"], "--family", "binomial", "--format", "json")
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert (out["family"], out["link"], out["reml"], out["nobs"]) == ("binomial", "logit", False, ref["nobs"])
    # the Laplace optimum is flat: ours may lie slightly below lme4's (184.0526 vs 184.0531)
    assert out["objective"] == pytest.approx(ref["objective"], abs=2e-3)
    assert out["objective"] <= ref["objective"] + 1e-6
    assert out["fixef"] == pytest.approx(ref["beta"], rel=2e-3)
    assert [r["std_error"] for r in out["coef_table"]] == pytest.approx(list(ref["se_beta"].values()), rel=2e-2)
    assert all(r["p_value"] is not None and r["df"] is None for r in out["coef_table"])  # z tests
    assert list(out["theta"].values()) == pytest.approx(list(ref["theta"].values()), rel=2e-3)


def test_formula_injection_is_refused_by_the_command(tmp_path):
    result = run("fit", "sleepstudy", "Reaction ~ Days + I(__import__('os').system('touch pwned')) + (1 | Subject)",
                 cwd=tmp_path)
    assert result.returncode == 1 and "__import__" in result.stderr and "allowed" in result.stderr
    assert not (tmp_path / "pwned").exists()


def test_constant_response_is_one_clear_error(tmp_path, capsys):
    rats = mixedmodels.datasets.load("seed_rats").assign(BodyWeight=250.0)
    rats.to_csv(tmp_path / "rats.csv", index=False)
    assert main(["fit", str(tmp_path / "rats.csv"), "BodyWeight ~ FoodIntake + (1 | LitterID)"]) == 1
    captured = capsys.readouterr()
    assert "the response 'BodyWeight' is constant" in _assert_one_error_line(captured.err, captured.out)


def test_csv_and_json_exports_have_the_summarys_p_values(capsys):
    assert main(["fit", "sleepstudy", "Reaction ~ Days + (Days | Subject)", "--format", "csv"]) == 0
    table = pd.read_csv(io.StringIO(capsys.readouterr().out))
    assert table.loc[table["term"] == "Days", "p_value"].notna().all()
    assert main(["fit", "sleepstudy", "Reaction ~ Days + (Days | Subject)", "--format", "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["ddf"] == "satterthwaite" and out["coef_table"][1]["df"] == pytest.approx(17.0, rel=1e-3)


def test_anova_of_one_model_gives_the_type_iii_table(capsys):
    # the lecture's group effect: `mixedmodels anova seed_petri "y ~ group + (1 | dish_id)"` (issue 11, item 4)
    assert main(["anova", "seed_petri", "y ~ group + (1 | dish_id)"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("Type III Analysis of Variance Table with Satterthwaite's method")
    ref = reference("seed_petri")["anova_type3_satterthwaite"]["group"]
    assert main(["anova", "seed_petri", "y ~ group + (1 | dish_id)", "--type", "1", "--ddf", "kenward-roger",
                 "--format", "csv"]) == 0
    table = pd.read_csv(io.StringIO(capsys.readouterr().out)).set_index("term")
    assert table.loc["group", "F value"] == pytest.approx(ref["F"], rel=1e-4)  # one term: type 1 = type 3


def test_anova_type_with_two_models_is_a_usage_error(capsys):
    assert main(["anova", "sleepstudy", "Reaction ~ Days + (1 | Subject)", "Reaction ~ Days + (Days | Subject)",
                 "--type", "3"]) == 2
    assert "--type and --ddf apply to the F tests of one model" in capsys.readouterr().err


def _rats():
    return mixedmodels.datasets.load("seed_rats")


def test_latin1_csv_is_read_with_a_warning_naming_the_file(tmp_path, capsys):
    path = tmp_path / "rats.csv"
    _rats().assign(LitterID=lambda d: "Wurf-ä" + d["LitterID"].astype(str)).to_csv(path, index=False, encoding="latin-1")
    assert main(["fit", str(path), "BodyWeight ~ FoodIntake + (1 | LitterID)", "--format", "json"]) == 0
    captured = capsys.readouterr()
    assert f"warning: {path}: not UTF-8 (byte 0xe4" in captured.err
    assert json.loads(captured.out)["ranef"]["LitterID"][0]["level"].startswith("Wurf-ä")


def test_semicolon_csv_with_decimal_commas_fits_as_the_comma_file(tmp_path, capsys):
    _rats().to_csv(tmp_path / "semi.csv", index=False, sep=";", decimal=",")
    assert main(["fit", str(tmp_path / "semi.csv"), "BodyWeight ~ FoodIntake + (1 | LitterID)", "--format", "json"]) == 0
    captured = capsys.readouterr()
    assert "semicolon-separated with decimal commas" in captured.err
    assert json.loads(captured.out)["objective"] == pytest.approx(reference("seed_rats_food")["objective"], rel=1e-6)


@pytest.mark.parametrize("content, words", [(b"", "the file is empty"), (b"a,b\n1,2\n3,4,5\n", "cannot read")])
def test_unreadable_csv_names_the_file(tmp_path, capsys, content, words):
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    assert main(["fit", str(path), "a ~ b + (1 | b)"]) == 1
    line = _assert_one_error_line(capsys.readouterr().err, "")
    assert str(path) in line and words in line


def test_typo_in_a_numeric_column_is_named_before_the_error(tmp_path, capsys):
    rats = _rats().astype({"FoodIntake": str})
    rats.loc[16, "FoodIntake"] = "0.1O"
    rats.to_csv(tmp_path / "typo.csv", index=False)
    main(["fit", str(tmp_path / "typo.csv"), "BodyWeight ~ FoodIntake + (1 | LitterID)"])
    err = capsys.readouterr().err
    assert "warning: column 'FoodIntake' is text because 1 of its 89 values is not a number: '0.1O' (index 16)" in err


def test_singular_fit_message_is_printed_once_with_the_summary(capsys):
    assert main(["fit", "Dyestuff2", "Yield ~ 1 + (1 | Batch)"]) == 0
    captured = capsys.readouterr()
    assert captured.err == "" and captured.out.count("boundary (singular) fit") == 1
