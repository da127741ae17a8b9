"""The layer classes of ember.nn (re-exported from ember.nn)."""
from .module import Module
from .container import Sequential, ModuleList, ModuleDict
from .linear import Linear, Identity
from .activation import ReLU, LeakyReLU, GELU, SiLU, Sigmoid, Tanh, Softmax, LogSoftmax
from .dropout import Dropout
from .flatten import Flatten, Unflatten
from .sparse import Embedding
from .normalization import LayerNorm
from .batchnorm import BatchNorm1d, BatchNorm2d
from .loss import (MSELoss, L1Loss, HuberLoss, SmoothL1Loss, CrossEntropyLoss, NLLLoss, BCELoss,
                   BCEWithLogitsLoss)
