"""A mistyped option is reported under the public name the user typed, never a private base class."""

import pytest
from sklearn.base import clone

import fastrep


@pytest.mark.parametrize("cls, bad", [
    (fastrep.OneStepNetwork, "widht"), (fastrep.RandomFeaturesRegressor, "widht"),
    (fastrep.NTKRegressor, "rdge"), (fastrep.NNGPRegressor, "rdge"),
])
def test_constructor_errors_name_the_public_class(cls, bad):
    msg = rf"^{cls.__name__}\.__init__\(\) got an unexpected keyword argument '{bad}'"
    with pytest.raises(TypeError, match=msg):
        cls(**{bad: 1})
    est = cls()
    assert clone(est).get_params() == est.get_params()  # scikit-learn still reads the signature
