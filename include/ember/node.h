// Autograd graph nodes: one Node per differentiable op application, edges to the nodes of its inputs, saved
// tensors that detect in-place modification, and the helpers ops use to record history.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "ember/tensor.h"

namespace ember {
namespace autograd {

struct Node;

struct Edge {
  std::shared_ptr<Node> fn;   // null: this input needs no gradient
  uint32_t input_nr = 0;      // which output of `fn` the input was
};

struct OutputMeta {
  Shape shape;
  DType dtype;
};

struct Node {
  std::vector<Edge> next_edges;                 // one per forward input
  std::vector<OutputMeta> outputs;              // one per forward output (to make zeros for missing grads)
  std::vector<std::vector<TensorHook>> hooks;   // per output: register_hook on a non-leaf
  std::vector<std::weak_ptr<TensorImpl>> retained;   // per output: retain_grad targets
  bool released = false;                        // saved tensors freed by a backward without retain_graph

  virtual ~Node();   // iterative teardown: a 200,000-node chain must not recurse
  virtual const char* name() const = 0;
  // grads has one defined tensor per output; returns one gradient per input (undefined = none).
  virtual std::vector<Tensor> apply(std::vector<Tensor>& grads) = 0;
  virtual void release_saved() {}
};

// A tensor kept for the backward pass, without its grad_fn (no reference cycles), and the version of its
// storage at save time so that a later in-place write is reported instead of silently giving wrong gradients.
class SavedTensor {
 public:
  SavedTensor() = default;
  explicit SavedTensor(const Tensor& t);
  Tensor get() const;
  void reset() { data_ = Tensor(); released_ = true; }

 private:
  Tensor data_;
  uint32_t version_ = 0;
  bool released_ = false;
};

// Grad mode (thread-local), as torch.no_grad / enable_grad.
bool grad_enabled();
void set_grad_enabled(bool enabled);
struct GradModeGuard {
  explicit GradModeGuard(bool enabled) : previous_(grad_enabled()) { set_grad_enabled(enabled); }
  ~GradModeGuard() { set_grad_enabled(previous_); }
  bool previous_;
};

// The edge through which a gradient reaches `t`: its grad_fn, its leaf accumulator, or none.
Edge gradient_edge(const Tensor& t);
// True when grad mode is on and any input requires grad.
bool needs_grad(std::initializer_list<const Tensor*> inputs);
bool needs_grad(const std::vector<Tensor>& inputs);
// Connects `node` to the inputs' edges.
void collect_edges(Node& node, std::initializer_list<const Tensor*> inputs);
void collect_edges(Node& node, const std::vector<Tensor>& inputs);
// Makes `node` the grad_fn of `output` (its output number `nr`).
void set_history(const Tensor& output, const std::shared_ptr<Node>& node);

// make_node<NodeT>({&a, &b}) returns a node wired to a and b, or null when no gradient is needed.
template <typename NodeT>
std::shared_ptr<NodeT> make_node(std::initializer_list<const Tensor*> inputs) {
  if (!needs_grad(inputs)) return nullptr;
  auto node = std::make_shared<NodeT>();
  collect_edges(*node, inputs);
  return node;
}

}  // namespace autograd
}  // namespace ember
