// Graph construction helpers, saved tensors and grad mode.
#include "ember/node.h"

#include "ember/autograd.h"

namespace ember {
namespace autograd {

namespace {
thread_local bool t_grad_enabled = true;
}

Node::~Node() {
  // Destroying the last reference to a long chain would recurse once per node. Instead, take over the edges
  // of every node that is about to die with us, so each dies with no edges left.
  std::vector<std::shared_ptr<Node>> dying;
  for (auto& e : next_edges)
    if (e.fn) dying.push_back(std::move(e.fn));
  while (!dying.empty()) {
    std::shared_ptr<Node> n = std::move(dying.back());
    dying.pop_back();
    if (n.use_count() == 1)
      for (auto& e : n->next_edges)
        if (e.fn) dying.push_back(std::move(e.fn));
  }
}

bool grad_enabled() { return t_grad_enabled; }
void set_grad_enabled(bool enabled) { t_grad_enabled = enabled; }

SavedTensor::SavedTensor(const Tensor& t) {
  if (!t.defined()) return;
  data_ = detach(t);
  version_ = t.storage()->version.load(std::memory_order_relaxed);
}

Tensor SavedTensor::get() const {
  if (released_)
    throw RuntimeError(
        "Trying to backward through the graph a second time (or directly access saved tensors after they have "
        "already been freed). Saved intermediate values of the graph are freed when you call .backward() or "
        "autograd.grad(). Specify retain_graph=True if you need to backward through the graph a second time.");
  if (data_.defined() && data_.storage()->version.load(std::memory_order_relaxed) != version_)
    throw RuntimeError(
        "one of the variables needed for gradient computation has been modified by an inplace operation: "
        "a tensor of shape " + shape_str(data_.shape()) + " is at version " +
        std::to_string(data_.storage()->version.load()) + "; expected version " + std::to_string(version_));
  return data_;
}

Edge gradient_edge(const Tensor& t) {
  TensorImpl* impl = t.impl();
  if (impl->grad_fn) return Edge{impl->grad_fn, impl->output_nr};
  if (impl->requires_grad) return Edge{grad_accumulator(t), 0};
  return Edge{};
}

bool needs_grad(std::initializer_list<const Tensor*> inputs) {
  if (!grad_enabled()) return false;
  for (const Tensor* t : inputs)
    if (t && t->defined() && t->requires_grad()) return true;
  return false;
}

bool needs_grad(const std::vector<Tensor>& inputs) {
  if (!grad_enabled()) return false;
  for (const Tensor& t : inputs)
    if (t.defined() && t.requires_grad()) return true;
  return false;
}

void collect_edges(Node& node, std::initializer_list<const Tensor*> inputs) {
  node.next_edges.reserve(inputs.size());
  for (const Tensor* t : inputs) node.next_edges.push_back(t && t->defined() ? gradient_edge(*t) : Edge{});
}

void collect_edges(Node& node, const std::vector<Tensor>& inputs) {
  node.next_edges.reserve(inputs.size());
  for (const Tensor& t : inputs) node.next_edges.push_back(t.defined() ? gradient_edge(t) : Edge{});
}

void set_history(const Tensor& output, const std::shared_ptr<Node>& node) {
  TensorImpl* impl = output.impl();
  impl->grad_fn = node;
  impl->output_nr = static_cast<uint32_t>(node->outputs.size());
  node->outputs.push_back(OutputMeta{output.shape(), output.dtype()});
}

}  // namespace autograd
}  // namespace ember
