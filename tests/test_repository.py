"""A fresh clone is self-contained: the reference fits ship with the repository, and no file tells
users to run anything from one machine's absolute paths."""

import json
from pathlib import Path

import conftest

TESTS = Path(__file__).resolve().parent


def test_reference_fits_and_their_data_are_inside_the_repository():
    fits = sorted((TESTS / "reference" / "fits").glob("*.json"))
    assert len(fits) >= 26 and (TESTS / "reference" / "make_reference.R").is_file()
    assert (TESTS / "reference" / "README.md").is_file()
    for path in fits:
        record = json.loads(path.read_text())
        if "dataset" in record:  # every fit's data set resolves without a folder outside the repository
            found = conftest.reference_data_path(record["dataset"])
            assert found.is_file() and "shared" not in found.resolve().parts



def test_no_machine_paths_in_docs_benchmarks_examples_and_tests():
    """No file names the folder this clone sits in (the machine's path above the repository)."""
    root = TESTS.parent
    machine = str(root.parent)  # e.g. the workspace folder of whoever runs the tests
    files = [root / "README.md", *root.glob("benchmarks/**/*.py"), *root.glob("benchmarks/**/*.md"),
             *root.glob("benchmarks/**/*.R"), *root.glob("examples/*.py"), *root.glob("tests/**/*.py"),
             *root.glob("docs/**/*.md"), *root.glob("src/**/*.py")]
    offenders = [f"{path.relative_to(root)}:{i}" for path in files
                 for i, line in enumerate(path.read_text().splitlines(), 1) if machine + "/" in line]
    assert offenders == []
    assert ".venv/bin/python benchmarks/run.py" in (root / "benchmarks" / "README.md").read_text()
