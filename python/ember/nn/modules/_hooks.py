"""Hook handles and the machinery behind Module.register_full_backward_hook, built on tensor gradient hooks.

How a full backward hook works here: on each call of a hooked module (grad mode on), every tensor input that
requires grad is replaced by an identity view of itself, and so is every tensor output. A gradient hook on an
output view records grad_output; a gradient hook on an input view records grad_input. The module hooks run when
the last expected input gradient arrives (or, if no input requires grad, when the last output gradient arrives,
with grad_input all None), as hook(module, grad_input, grad_output).
Limits (documented): grad_input has one entry per positional Tensor argument (keyword tensors are not tracked);
a returned replacement grad_input only changes the gradient of the input whose gradient arrived last (the others
have already been passed on) - with a single tensor input, the common case, it replaces it fully; if some output
or input never receives a gradient in a backward pass, the hooks do not run for that call."""
import itertools

from ..._C import Tensor

_next_id = itertools.count()


class RemovableHandle:
    """Returned by register_*_hook; `remove()` (or leaving a `with` block) unregisters the hook."""

    def __init__(self, hooks_dict, extra=None):
        self.id = next(_next_id)
        self._hooks = hooks_dict
        self._extra = extra

    def remove(self):
        self._hooks.pop(self.id, None)
        if self._extra is not None:
            self._extra.discard(self.id)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()
        return False


class BackwardHookCall:
    """The state of one forward call of a module that has full backward hooks."""

    def __init__(self, module, hooks):
        self.module = module
        self.hooks = hooks
        self.grad_inputs = []       # one slot per positional Tensor argument
        self.pending_inputs = 0
        self.grad_outputs = []      # one slot per Tensor output
        self.pending_outputs = 0
        self.total_inputs = 0       # tensors waiting for a gradient, restored after each backward pass
        self.total_outputs = 0

    def wrap_inputs(self, args):
        wrapped = []
        for arg in args:
            if isinstance(arg, Tensor):
                slot = len(self.grad_inputs)
                self.grad_inputs.append(None)
                if arg.requires_grad:
                    arg = arg.view_as(arg)
                    arg.register_hook(self._input_hook(slot))
                    self.pending_inputs += 1
                    self.total_inputs += 1
            wrapped.append(arg)
        return tuple(wrapped)

    def wrap_outputs(self, output):
        if isinstance(output, Tensor):
            return self._wrap_output(output)
        if isinstance(output, (tuple, list)):
            return type(output)(self._wrap_output(o) if isinstance(o, Tensor) else o for o in output)
        return output

    def _wrap_output(self, out):
        slot = len(self.grad_outputs)
        self.grad_outputs.append(None)
        if not out.requires_grad:
            return out
        out = out.view_as(out)
        out.register_hook(self._output_hook(slot))
        self.pending_outputs += 1
        self.total_outputs += 1
        return out

    def _output_hook(self, slot):
        def hook(grad):
            self.grad_outputs[slot] = grad
            self.pending_outputs -= 1
            if self.pending_outputs == 0 and self.total_inputs == 0:
                self._run_hooks()
            return None
        return hook

    def _input_hook(self, slot):
        def hook(grad):
            self.grad_inputs[slot] = grad
            self.pending_inputs -= 1
            if self.pending_inputs > 0:
                return None
            replaced = self._run_hooks()
            return replaced[slot] if replaced is not None else None
        return hook

    def _run_hooks(self):
        """Runs the module hooks; returns the replacement grad_input tuple, if any hook gave one."""
        grad_input, grad_output = tuple(self.grad_inputs), tuple(self.grad_outputs)
        # ready for another backward pass through the same graph (retain_graph=True)
        self.pending_inputs, self.pending_outputs = self.total_inputs, self.total_outputs
        self.grad_inputs = [None] * len(self.grad_inputs)
        self.grad_outputs = [None] * len(self.grad_outputs)
        replaced = None
        for hook in self.hooks:
            result = hook(self.module, grad_input, grad_output)
            if result is None:
                continue
            result = tuple(result) if isinstance(result, (tuple, list)) else (result,)
            if len(result) != len(grad_input):
                raise RuntimeError(f"backward hook returned {len(result)} gradients, expected {len(grad_input)} "
                                   f"(one per tensor input)")
            grad_input = replaced = result
        return replaced
