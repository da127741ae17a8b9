"""ember.nn: Module and Parameter, layers, containers, losses, and the functional forms (ember.nn.functional).
Names, signatures, parameter shapes, state_dict keys and default initialisation follow torch.nn."""
from .parameter import Parameter
from .modules import (Module, Sequential, ModuleList, ModuleDict, Linear, Identity, ReLU, LeakyReLU, GELU, SiLU,
                      Sigmoid, Tanh, Softmax, LogSoftmax, Dropout, Flatten, Unflatten, Embedding, LayerNorm,
                      BatchNorm1d, BatchNorm2d, MSELoss, L1Loss, HuberLoss, SmoothL1Loss, CrossEntropyLoss, NLLLoss,
                      BCELoss, BCEWithLogitsLoss)
from .conv import Conv1d, Conv2d
from .pooling import (MaxPool1d, MaxPool2d, AvgPool1d, AvgPool2d, AdaptiveAvgPool2d, AdaptiveMaxPool2d)
from .attention import MultiheadAttention
from .transformer import (TransformerEncoderLayer, TransformerEncoder, TransformerDecoderLayer, TransformerDecoder,
                          Transformer)
from . import functional
from . import init
from . import utils
