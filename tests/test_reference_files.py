"""The reference fits the tests compare with ship with the repository (a fresh clone needs nothing beside it)."""

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

