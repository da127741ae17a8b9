"""Functional convolution and pooling with torch.nn.functional's names and signatures (NCHW / NCL).

Thin wrappers over ember._C, re-exported by ember.nn.functional. conv2d also takes activation='relu', the
fused bias + ReLU epilogue that module fusion can use.
"""
from .. import _C

__all__ = ["conv1d", "conv2d", "max_pool1d", "max_pool2d", "avg_pool1d", "avg_pool2d", "adaptive_avg_pool2d",
           "adaptive_max_pool2d"]


def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """1-D convolution of (N, C_in, L) or (C_in, L) input with weight (C_out, C_in / groups, K).

    padding: an int, a 1-tuple, 'valid' or 'same' (stride 1; any extra padding goes on the right).
    """
    return _C.conv1d(input, weight, bias, stride, padding, dilation, groups)


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, activation=None):
    """2-D convolution of (N, C_in, H, W) or (C_in, H, W) input with weight (C_out, C_in / groups, KH, KW).

    padding: an int, a pair, 'valid' or 'same' (stride 1; extra padding on the bottom/right as PyTorch).
    activation: None or 'relu', applied in the convolution's epilogue.
    """
    return _C.conv2d(input, weight, bias, stride, padding, dilation, groups, activation)


def max_pool1d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    """1-D max pooling; with return_indices, also the int64 positions of the maxima along L."""
    return _C.max_pool1d(input, kernel_size, stride, padding, dilation, ceil_mode, return_indices)


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False):
    """2-D max pooling; with return_indices, also int64 indices flat per plane (ih * W + iw), as PyTorch."""
    return _C.max_pool2d(input, kernel_size, stride, padding, dilation, ceil_mode, return_indices)


def avg_pool1d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
    """1-D average pooling."""
    return _C.avg_pool1d(input, kernel_size, stride, padding, ceil_mode, count_include_pad)


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
               divisor_override=None):
    """2-D average pooling."""
    return _C.avg_pool2d(input, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override)


def adaptive_avg_pool2d(input, output_size):
    """Average pooling to a fixed output size (an int or a pair; None keeps that input dim)."""
    return _C.adaptive_avg_pool2d(input, output_size)


def adaptive_max_pool2d(input, output_size, return_indices=False):
    """Max pooling to a fixed output size; with return_indices, also the flat per-plane indices."""
    return _C.adaptive_max_pool2d(input, output_size, return_indices)
