"""Regression tests for the unclear errors the nn-layer property tests found, one test per fix (each names the file
that was fixed). Kept apart from test_props_regressions.py so parallel branches merge without conflicts."""
import pytest

import ember
from ember import nn


@pytest.mark.parametrize("layer, x", [(nn.BatchNorm1d(3), ember.zeros(2, 3, 4, 5)),
                                      (nn.BatchNorm2d(3), ember.zeros(2, 3))])
def test_batchnorm_wrong_rank_error_names_the_layer(layer, x):
    # python/ember/nn/modules/batchnorm.py _check_input_dim: "expected 4D input (got 2D input)" named no layer
    with pytest.raises(ValueError, match=f"{type(layer).__name__}: expected"):
        layer(x)


@pytest.mark.parametrize("args", [(-1, 2), (2, -3), (2.0, 3)])
def test_embedding_bad_sizes_raise_naming_embedding(args):
    # python/ember/nn/modules/sparse.py: Embedding(-1, 2) failed inside ember.empty ("empty: negative dimension")
    with pytest.raises(ValueError, match="Embedding: (num_embeddings|embedding_dim) must be a non-negative int"):
        nn.Embedding(*args)


@pytest.mark.parametrize("shape", [-2, (3, -1), (2.5,)])
def test_layernorm_bad_normalized_shape_raises_naming_layernorm(shape):
    # python/ember/nn/modules/normalization.py: LayerNorm(-2) failed inside ember.empty
    with pytest.raises(ValueError, match="LayerNorm: normalized_shape"):
        nn.LayerNorm(shape)


def test_unflatten_size_mismatch_names_unflatten():
    # python/ember/nn/modules/flatten.py: the error was reshape's, naming neither Unflatten nor the dim
    with pytest.raises(ValueError, match=r"Unflatten: cannot unflatten dim 1 of size 4 into \(3, 2\)"):
        nn.Unflatten(1, (3, 2))(ember.zeros(2, 4))
