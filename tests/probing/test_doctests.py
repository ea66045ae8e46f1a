"""The probe's docstring examples run and hold."""
import doctest

import pytest

from fullconv.probing import linear, reach


@pytest.mark.parametrize("module", [linear, reach], ids=lambda m: m.__name__)
def test_doctests(module):
    failed, attempted = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert attempted > 0 and failed == 0
