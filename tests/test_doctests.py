"""The examples in every genolm module's docstrings run and give what they show."""

import doctest
import importlib
import pkgutil

import pytest

import genolm

MODULES = sorted(m.name for m in pkgutil.walk_packages(genolm.__path__, "genolm.") if m.name != "genolm.__main__")


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0, f"{name}: {result.failed} of {result.attempted} examples failed"
