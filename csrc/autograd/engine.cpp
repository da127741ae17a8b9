// Backward traversal: count dependencies with an explicit stack, then run nodes whose consumers are all done.
#include "ember/autograd.h"

#include <algorithm>
#include <unordered_map>
#include <unordered_set>

#include "ember/ops.h"

namespace ember {
namespace autograd {

namespace {

struct AccumulateGrad : Node {
  std::shared_ptr<TensorImpl> variable;
  const char* name() const override { return "AccumulateGrad"; }
  std::vector<Tensor> apply(std::vector<Tensor>& grads) override {
    Tensor g = grads[0];
    Tensor var(variable);
    for (auto& hook : variable->leaf_hooks) {
      Tensor replaced = hook(g);
      if (replaced.defined()) g = replaced;
    }
    if (!variable->grad) {
      // Take ownership when nothing else can see the gradient, else copy (it may alias another tensor).
      bool exclusive = g.impl_ptr().use_count() <= 2 && g.storage().use_count() == 1 && g.is_contiguous() &&
                       g.shape() == var.shape() && g.dtype() == var.dtype();
      variable->grad = exclusive ? detach(g).impl_ptr() : clone(to_dtype(g, var.dtype())).impl_ptr();
    } else {
      Tensor existing(variable->grad);
      add_(existing, g);
    }
    return {};
  }
};

// Accumulates gradient `g` into slot `nr` of a node's input buffer: in place when the buffer's tensor is a
// contiguous one nobody else holds (no view, hook, saved copy or other slot can see the write), else a new sum.
void accumulate(std::vector<Tensor>& buffer, uint32_t nr, const Tensor& g) {
  Tensor& acc = buffer[nr];
  if (!acc.defined()) {
    acc = g;
  } else if (acc.impl_ptr().use_count() == 1 && acc.storage().use_count() == 1 && acc.is_contiguous() &&
             acc.shape() == g.shape() && acc.dtype() == g.dtype()) {
    add_(acc, g);
  } else {
    acc = add(acc, g);
  }
}

struct Capture {   // autograd.grad: where each requested input's gradient appears
  Node* node;
  uint32_t nr;
};

std::vector<Tensor> run(const std::vector<Tensor>& roots, const std::vector<Tensor>& grad_outputs,
                        bool retain_graph, const std::vector<Capture>* captures) {
  EMBER_CHECK(grad_outputs.size() == roots.size(), RuntimeError, "backward: got ", grad_outputs.size(),
              " gradients for ", roots.size(), " outputs");
  GradModeGuard no_grad(false);

  // Seed the input buffers of the roots' nodes.
  std::unordered_map<Node*, std::vector<Tensor>> buffers;
  std::vector<std::shared_ptr<Node>> root_nodes;
  for (size_t i = 0; i < roots.size(); ++i) {
    const Tensor& root = roots[i];
    EMBER_CHECK(root.requires_grad(), RuntimeError,
                "element ", i, " of tensors does not require grad and does not have a grad_fn");
    Tensor g = grad_outputs[i];
    if (!g.defined()) {
      EMBER_CHECK(root.numel() == 1, RuntimeError, "grad can be implicitly created only for scalar outputs (got shape ",
                  shape_str(root.shape()), "); pass gradient=");
      g = ones(root.shape(), root.dtype());
    } else {
      EMBER_CHECK(g.shape() == root.shape(), RuntimeError, "backward: gradient has shape ", shape_str(g.shape()),
                  " but the output has shape ", shape_str(root.shape()));
    }
    Edge e = gradient_edge(root);
    auto& buf = buffers[e.fn.get()];
    if (buf.empty()) buf.resize(std::max<size_t>(e.fn->outputs.size(), 1));
    accumulate(buf, e.input_nr, g);
    root_nodes.push_back(e.fn);
  }

  // Count, for every reachable node, how many edges point at it.
  std::unordered_map<Node*, int> dependencies;
  std::unordered_set<Node*> seen;
  std::vector<Node*> stack;
  for (auto& n : root_nodes)
    if (seen.insert(n.get()).second) stack.push_back(n.get());
  while (!stack.empty()) {
    Node* n = stack.back();
    stack.pop_back();
    for (const Edge& e : n->next_edges) {
      if (!e.fn) continue;
      dependencies[e.fn.get()] += 1;
      if (seen.insert(e.fn.get()).second) stack.push_back(e.fn.get());
    }
  }

  std::unordered_map<Node*, std::vector<size_t>> capture_slots;
  std::vector<Tensor> captured;
  if (captures) {
    captured.resize(captures->size());
    for (size_t i = 0; i < captures->size(); ++i) capture_slots[(*captures)[i].node].push_back(i);
  }

  std::vector<Node*> ready;
  for (auto& n : root_nodes)
    if (dependencies[n.get()] == 0 && std::find(ready.begin(), ready.end(), n.get()) == ready.end())
      ready.push_back(n.get());

  while (!ready.empty()) {
    Node* node = ready.back();
    ready.pop_back();
    std::vector<Tensor> grads = std::move(buffers[node]);
    buffers.erase(node);
    grads.resize(std::max<size_t>(node->outputs.size(), 1));

    bool any = false;
    for (size_t i = 0; i < grads.size(); ++i) {
      if (!grads[i].defined()) continue;
      any = true;
      if (i < node->hooks.size())
        for (auto& hook : node->hooks[i]) {
          Tensor replaced = hook(grads[i]);
          if (replaced.defined()) grads[i] = replaced;
        }
      if (i < node->retained.size())
        if (auto target = node->retained[i].lock())   // accumulates across backward calls, as a leaf's .grad
          target->grad = (target->grad ? add(Tensor(target->grad), grads[i]) : clone(grads[i])).impl_ptr();
    }

    bool is_accumulator = dynamic_cast<AccumulateGrad*>(node) != nullptr;
    if (captures) {
      auto it = capture_slots.find(node);
      if (it != capture_slots.end())
        for (size_t slot : it->second) captured[slot] = grads[(*captures)[slot].nr];
    }

    std::vector<Tensor> input_grads;
    if (any && !(captures && is_accumulator)) {
      for (size_t i = 0; i < grads.size(); ++i)
        if (!grads[i].defined() && i < node->outputs.size())
          grads[i] = zeros(node->outputs[i].shape, node->outputs[i].dtype);
      input_grads = node->apply(grads);
      if (!retain_graph) {
        node->release_saved();
        node->released = true;
      }
    }

    for (size_t i = 0; i < node->next_edges.size(); ++i) {
      const Edge& e = node->next_edges[i];
      if (!e.fn) continue;
      Node* next = e.fn.get();
      if (i < input_grads.size() && input_grads[i].defined()) {
        auto& buf = buffers[next];
        if (buf.empty()) buf.resize(std::max<size_t>(next->outputs.size(), 1));
        accumulate(buf, e.input_nr, input_grads[i]);
      }
      if (--dependencies[next] == 0) ready.push_back(next);
    }
  }
  return captured;
}

}  // namespace

std::shared_ptr<Node> grad_accumulator(const Tensor& leaf) {
  TensorImpl* impl = leaf.impl();
  if (auto existing = impl->grad_accumulator.lock()) return existing;
  auto node = std::make_shared<AccumulateGrad>();
  node->variable = leaf.impl_ptr();
  node->outputs.push_back(OutputMeta{leaf.shape(), leaf.dtype()});
  impl->grad_accumulator = node;
  return node;
}

void backward(const std::vector<Tensor>& roots, const std::vector<Tensor>& grad_outputs, bool retain_graph) {
  run(roots, grad_outputs, retain_graph, nullptr);
}

std::vector<Tensor> grad(const std::vector<Tensor>& outputs, const std::vector<Tensor>& grad_outputs,
                         const std::vector<Tensor>& inputs, bool retain_graph, bool allow_unused) {
  std::vector<Capture> captures;
  std::vector<std::shared_ptr<Node>> keep_alive;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const Tensor& x = inputs[i];
    EMBER_CHECK(x.requires_grad(), RuntimeError, "grad: input ", i, " does not require grad");
    Edge e = gradient_edge(x);
    keep_alive.push_back(e.fn);
    captures.push_back(Capture{e.fn.get(), e.input_nr});
  }
  std::vector<Tensor> result = run(outputs, grad_outputs, retain_graph, &captures);
  for (size_t i = 0; i < result.size(); ++i)
    EMBER_CHECK(result[i].defined() || allow_unused, RuntimeError, "grad: input ", i,
                " was not used in the graph; pass allow_unused=True to get None for it");
  return result;
}

void register_hook(const Tensor& t, TensorHook hook) {
  EMBER_CHECK(t.requires_grad(), RuntimeError, "register_hook: cannot register a hook on a tensor that doesn't require gradient");
  TensorImpl* impl = t.impl();
  if (!impl->grad_fn) {
    impl->leaf_hooks.push_back(std::move(hook));
    return;
  }
  Node& n = *impl->grad_fn;
  if (n.hooks.size() <= impl->output_nr) n.hooks.resize(n.outputs.size());
  n.hooks[impl->output_nr].push_back(std::move(hook));
}

void retain_grad(const Tensor& t) {
  EMBER_CHECK(t.requires_grad(), RuntimeError, "retain_grad: can't retain_grad on Tensor that has requires_grad=False");
  TensorImpl* impl = t.impl();
  if (!impl->grad_fn) return;   // leaves keep their grad anyway
  impl->retains_grad = true;
  Node& n = *impl->grad_fn;
  if (n.retained.size() < n.outputs.size()) n.retained.resize(n.outputs.size());
  n.retained[impl->output_nr] = t.impl_ptr();
}

}  // namespace autograd
}  // namespace ember
