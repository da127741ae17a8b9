// The backward engine: an iterative topological traversal of the graph (no recursion, so graphs of any depth
// run), gradient accumulation into leaves, hooks, retain_graph, and autograd.grad.
#pragma once
#include <memory>
#include <vector>

#include "ember/node.h"

namespace ember {
namespace autograd {

// The AccumulateGrad node of a leaf that requires grad (created once, cached weakly on the tensor).
std::shared_ptr<Node> grad_accumulator(const Tensor& leaf);

// tensor.backward(): grads are ones for scalar roots when `grad_outputs` entries are undefined.
void backward(const std::vector<Tensor>& roots, const std::vector<Tensor>& grad_outputs, bool retain_graph);

// autograd.grad(): gradients of `outputs` w.r.t. `inputs`, without touching any .grad.
std::vector<Tensor> grad(const std::vector<Tensor>& outputs, const std::vector<Tensor>& grad_outputs,
                         const std::vector<Tensor>& inputs, bool retain_graph, bool allow_unused);

// t.register_hook(fn) and t.retain_grad().
void register_hook(const Tensor& t, TensorHook hook);
void retain_grad(const Tensor& t);

}  // namespace autograd
}  // namespace ember
