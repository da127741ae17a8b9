from . import init, utils
