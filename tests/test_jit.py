"""mixedmodels._jit.njit: numba's njit, still compiling where no cache folder can be written."""

from __future__ import annotations

import warnings

import pytest

from mixedmodels import _jit


def _function_without_a_file():
    """A function whose source is no file (as when no cache folder is writable, numba finds no cache locator)."""
    namespace = {}
    exec(compile("def add_one(x):\n    return x + 1.0\n", "<no file>", "exec"), namespace)
    return namespace["add_one"]


def test_kernels_are_cached_on_disk():
    from mixedmodels import _kernels

    assert _kernels.dense_factor_kernel(2)._cache.cache_path  # numba's FunctionCache, beside the source or per user


def test_no_cache_folder_compiles_in_memory_with_one_warning(monkeypatch):
    monkeypatch.setattr(_jit, "_WARNED", set())
    with pytest.warns(UserWarning, match=r"no writable cache folder for the compiled kernels of <no file>.*"
                                         r"NUMBA_CACHE_DIR"):
        first = _jit.njit(cache=True, nogil=True)(_function_without_a_file())
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the same file again: no second warning
        second = _jit.njit(cache=True)(_function_without_a_file())
    assert first(1.5) == 2.5 and second(0.5) == 1.5


def test_uncached_kernels_and_other_errors_are_numbas(monkeypatch):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert _jit.njit(cache=False)(_function_without_a_file())(1.0) == 2.0

    def failing_njit(**options):
        raise RuntimeError("some other failure")

    monkeypatch.setattr(_jit.numba, "njit", failing_njit)
    with pytest.raises(RuntimeError, match="some other failure"):
        _jit.njit(cache=True)(_function_without_a_file())
