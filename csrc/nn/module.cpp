// nn::Module (parameter and child registries, train/eval, zero_grad, forward hooks) and nn::Sequential.
#include "ember/nn.h"

#include <typeinfo>

#include "ember/node.h"

namespace ember {
namespace nn {

Tensor Module::forward(const Tensor&) {
  throw NotImplementedError(str(name(), ": forward(input) is not defined for this module"));
}

Tensor Module::operator()(const Tensor& input) {
  EMBER_CHECK(input.defined(), ValueError, name(), ": the input tensor is undefined");
  return run_hooks({input}, forward(input));
}

Tensor Module::run_hooks(const std::vector<Tensor>& inputs, Tensor output) {
  // copy: a hook may remove itself
  std::vector<std::pair<int64_t, ForwardHook>> hooks = hooks_;
  for (auto& entry : hooks) {
    Tensor replaced = entry.second(*this, inputs, output);
    if (replaced.defined()) output = replaced;
  }
  return output;
}

std::vector<std::pair<std::string, Tensor>> Module::named_parameters(bool recurse) const {
  std::vector<std::pair<std::string, Tensor>> out = parameters_;
  if (!recurse) return out;
  for (const auto& child : children_)
    for (auto& entry : child.second->named_parameters(true)) out.emplace_back(child.first + "." + entry.first, entry.second);
  return out;
}

std::vector<Tensor> Module::parameters(bool recurse) const {
  std::vector<Tensor> out;
  for (auto& entry : named_parameters(recurse)) out.push_back(entry.second);
  return out;
}

std::vector<ModulePtr> Module::children() const {
  std::vector<ModulePtr> out;
  for (const auto& child : children_) out.push_back(child.second);
  return out;
}

Module& Module::train(bool on) {
  training_ = on;
  for (const auto& child : children_) child.second->train(on);
  return *this;
}

void Module::zero_grad(bool set_to_none) {
  for (Tensor& p : parameters()) {
    Tensor g = p.grad();
    if (!g.defined()) continue;
    if (set_to_none) {
      p.set_grad(Tensor());
    } else {
      if (g.grad_fn()) {
        g = detach(g);
        p.set_grad(g);
      }
      autograd::GradModeGuard no_grad(false);
      zero_(g);
    }
  }
}

int64_t Module::register_forward_hook(ForwardHook hook) {
  EMBER_CHECK(static_cast<bool>(hook), ValueError, name(), ".register_forward_hook: the hook is empty");
  hooks_.emplace_back(next_hook_, std::move(hook));
  return next_hook_++;
}

void Module::remove_forward_hook(int64_t handle) {
  for (auto it = hooks_.begin(); it != hooks_.end(); ++it) {
    if (it->first == handle) {
      hooks_.erase(it);
      return;
    }
  }
  throw ValueError(str(name(), ".remove_forward_hook: no hook with handle ", handle));
}

Tensor Module::register_parameter(const std::string& param_name, Tensor value) {
  EMBER_CHECK(!param_name.empty() && param_name.find('.') == std::string::npos, ValueError, name(),
              ": parameter name '", param_name, "' must be non-empty and contain no '.'");
  for (const auto& entry : parameters_)
    EMBER_CHECK(entry.first != param_name, ValueError, name(), ": parameter '", param_name, "' already exists");
  if (!value.defined()) return value;
  EMBER_CHECK(is_floating(value.dtype()), TypeError, name(), ": parameter '", param_name,
              "' must be float32 or float64, got ", dtype_name(value.dtype()));
  EMBER_CHECK(value.is_leaf(), ValueError, name(), ": parameter '", param_name, "' must be a leaf tensor");
  value.set_requires_grad(true);
  parameters_.emplace_back(param_name, value);
  return value;
}

void Module::add_child(const std::string& child_name, ModulePtr module) {
  EMBER_CHECK(module != nullptr, ValueError, name(), ": child module '", child_name, "' is null");
  EMBER_CHECK(!child_name.empty() && child_name.find('.') == std::string::npos, ValueError, name(),
              ": child name '", child_name, "' must be non-empty and contain no '.'");
  for (const auto& entry : children_)
    EMBER_CHECK(entry.first != child_name, ValueError, name(), ": child '", child_name, "' already exists");
  children_.emplace_back(child_name, std::move(module));
}

Sequential::Sequential(std::initializer_list<ModulePtr> modules) {
  for (const ModulePtr& m : modules) push_back(m);
}

Sequential& Sequential::push_back(ModulePtr module) {
  add_child(std::to_string(size()), std::move(module));
  return *this;
}

// Linear directly followed by ReLU or GELU, or Conv2d by ReLU, neither with hooks, runs as one op with the
// activation in the layer's epilogue (as Python's nn.Sequential): the same result (GELU's to float rounding), one
// pass and one saved tensor fewer.
Tensor Sequential::forward(const Tensor& input) {
  Tensor x = input;
  const auto& children = named_children();
  for (size_t i = 0; i < children.size(); ++i) {
    Module& m = *children[i].second;
    const Module* next = i + 1 < children.size() && !m.has_forward_hooks() &&
                                 !children[i + 1].second->has_forward_hooks()
                             ? children[i + 1].second.get() : nullptr;
    const bool relu_next = next && typeid(*next) == typeid(ReLU);
    if (next && typeid(m) == typeid(Linear) && (relu_next || typeid(*next) == typeid(GELU))) {
      const Activation act = relu_next ? Activation::Relu
                             : static_cast<const GELU&>(*next).tanh_approximation ? Activation::GeluTanh
                                                                                  : Activation::Gelu;
      x = static_cast<Linear&>(m).forward_activated(x, act);
      ++i;
    } else if (relu_next && typeid(m) == typeid(Conv2d)) {
      x = static_cast<Conv2d&>(m).forward_relu(x);
      ++i;
    } else {
      x = m(x);
    }
  }
  return x;
}

ModulePtr Sequential::operator[](size_t index) const {
  EMBER_CHECK(index < size(), IndexError, "Sequential: index ", index, " is out of range for ", size(), " modules");
  return named_children()[index].second;
}

}  // namespace nn
}  // namespace ember
