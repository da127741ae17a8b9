"""Keras-style optimizers (Keras names and defaults) that build the matching fused ember.optim optimizer once the
model's parameters exist. `learning_rate` reads and writes the learning rate of every parameter group."""
from .. import optim

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "get", "NAMES"]


class Optimizer:
    """A Keras optimizer: hyperparameters now, an ember.optim optimizer after `build(parameters)`."""

    def __init__(self, learning_rate):
        if not isinstance(learning_rate, (int, float)) or isinstance(learning_rate, bool) or learning_rate < 0:
            raise ValueError(f"{type(self).__name__}: learning_rate must be a non-negative number, got "
                             f"{learning_rate!r}")
        self._learning_rate = float(learning_rate)
        self.optimizer = None            # the ember.optim optimizer, after build

    def _make(self, parameters):
        raise NotImplementedError

    def build(self, parameters):
        self.optimizer = self._make(list(parameters))
        return self.optimizer

    @property
    def learning_rate(self):
        if self.optimizer is not None:
            return self.optimizer.param_groups[0]["lr"]
        return self._learning_rate

    @learning_rate.setter
    def learning_rate(self, value):
        self._learning_rate = float(value)
        if self.optimizer is not None:
            for group in self.optimizer.param_groups:
                group["lr"] = float(value)

    lr = learning_rate

    def get_config(self):
        config = {key: value for key, value in vars(self).items() if not key.startswith("_") and key != "optimizer"}
        return {"learning_rate": self.learning_rate, **config}

    def __repr__(self):
        args = ", ".join(f"{key}={value!r}" for key, value in self.get_config().items())
        return f"{type(self).__name__}({args})"


class SGD(Optimizer):
    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False, weight_decay=None):
        super().__init__(learning_rate)
        self.momentum, self.nesterov, self.weight_decay = momentum, nesterov, weight_decay

    def _make(self, parameters):
        return optim.SGD(parameters, lr=self._learning_rate, momentum=self.momentum, nesterov=self.nesterov,
                         weight_decay=self.weight_decay or 0.0)


class Adam(Optimizer):
    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False, weight_decay=None):
        super().__init__(learning_rate)
        self.beta_1, self.beta_2, self.epsilon, self.amsgrad = beta_1, beta_2, epsilon, amsgrad
        self.weight_decay = weight_decay

    def _make(self, parameters):
        return optim.Adam(parameters, lr=self._learning_rate, betas=(self.beta_1, self.beta_2), eps=self.epsilon,
                          amsgrad=self.amsgrad, weight_decay=self.weight_decay or 0.0)


class AdamW(Optimizer):
    def __init__(self, learning_rate=0.001, weight_decay=0.004, beta_1=0.9, beta_2=0.999, epsilon=1e-7,
                 amsgrad=False):
        super().__init__(learning_rate)
        self.weight_decay, self.beta_1, self.beta_2 = weight_decay, beta_1, beta_2
        self.epsilon, self.amsgrad = epsilon, amsgrad

    def _make(self, parameters):
        return optim.AdamW(parameters, lr=self._learning_rate, betas=(self.beta_1, self.beta_2), eps=self.epsilon,
                           amsgrad=self.amsgrad, weight_decay=self.weight_decay)


class RMSprop(Optimizer):
    def __init__(self, learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-7, centered=False):
        super().__init__(learning_rate)
        self.rho, self.momentum, self.epsilon, self.centered = rho, momentum, epsilon, centered

    def _make(self, parameters):
        return optim.RMSprop(parameters, lr=self._learning_rate, alpha=self.rho, eps=self.epsilon,
                             momentum=self.momentum, centered=self.centered)


class Adagrad(Optimizer):
    def __init__(self, learning_rate=0.001, initial_accumulator_value=0.1, epsilon=1e-7):
        super().__init__(learning_rate)
        self.initial_accumulator_value, self.epsilon = initial_accumulator_value, epsilon

    def _make(self, parameters):
        return optim.Adagrad(parameters, lr=self._learning_rate, eps=self.epsilon,
                             initial_accumulator_value=self.initial_accumulator_value)


_CLASSES = {"adam": Adam, "sgd": SGD, "rmsprop": RMSprop, "adagrad": Adagrad, "adamw": AdamW}
NAMES = tuple(_CLASSES)
_BY_CLASS_NAME = {cls.__name__: cls for cls in _CLASSES.values()}


def get(optimizer, owner="compile"):
    """A keras Optimizer for a name or Optimizer object; ember.optim instances pass through unchanged."""
    if isinstance(optimizer, Optimizer) or isinstance(optimizer, optim.Optimizer):
        return optimizer
    if isinstance(optimizer, str):
        cls = _CLASSES.get(optimizer.lower())
        if cls is None:
            raise ValueError(f"{owner}: unknown optimizer {optimizer!r}; valid names: {', '.join(NAMES)} (or pass "
                             f"a keras.optimizers object or an ember.optim optimizer)")
        return cls()
    if isinstance(optimizer, type) and issubclass(optimizer, Optimizer):
        return optimizer()
    raise TypeError(f"{owner}: optimizer must be a name, a keras.optimizers object or an ember.optim optimizer, "
                    f"got {type(optimizer).__name__}")


def from_config(class_name, config):
    cls = _BY_CLASS_NAME.get(class_name)
    if cls is None:
        raise ValueError(f"load_model: unknown saved optimizer class {class_name!r}")
    return cls(**config)


def learning_rate_of(optimizer):
    """The learning rate of a keras or ember.optim optimizer."""
    if isinstance(optimizer, Optimizer):
        return optimizer.learning_rate
    return optimizer.param_groups[0]["lr"]


def set_learning_rate(optimizer, value):
    if isinstance(optimizer, Optimizer):
        optimizer.learning_rate = value
    else:
        for group in optimizer.param_groups:
            group["lr"] = float(value)
