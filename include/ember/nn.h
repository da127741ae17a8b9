// ember::nn, the C++ layers: a Module base (parameters, children, train/eval, zero_grad, forward hooks) and
// PyTorch's layers and losses with its parameter names, shapes and default initialisation. Every draw comes from
// ember's global RNG in the same order as the Python modules (python/ember/nn), so one manual_seed gives identical
// weights in both languages. Build modules in the order Python does (a braced list is evaluated left to right).
// Implementations: csrc/nn/ (module.cpp, init.cpp, layers.cpp, conv_pool.cpp, attention.cpp, loss.cpp).
#pragma once
#include <functional>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "ember/conv.h"
#include "ember/ops.h"

namespace ember {
namespace nn {

class Module;
using ModulePtr = std::shared_ptr<Module>;
// Called after forward with the module, its inputs and its output; a defined return value replaces the output.
using ForwardHook = std::function<Tensor(Module&, const std::vector<Tensor>& inputs, const Tensor& output)>;

class Module {
 public:
  virtual ~Module() = default;
  Module() = default;
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  // The one-input forward; modules with other signatures (losses, attention) add their own overloads.
  virtual Tensor forward(const Tensor& input);
  // forward + the forward hooks.
  Tensor operator()(const Tensor& input);

  virtual std::string name() const = 0;   // the class name, as in PyTorch's repr
  // Parameters in registration order, children after their parent's own ("0.weight", "out_proj.bias", ...).
  std::vector<std::pair<std::string, Tensor>> named_parameters(bool recurse = true) const;
  std::vector<Tensor> parameters(bool recurse = true) const;
  const std::vector<std::pair<std::string, ModulePtr>>& named_children() const { return children_; }
  std::vector<ModulePtr> children() const;

  Module& train(bool on = true);   // recursive, as PyTorch
  Module& eval() { return train(false); }
  bool is_training() const { return training_; }
  // Resets every parameter's gradient: to undefined (set_to_none, the default) or to zeros in place.
  void zero_grad(bool set_to_none = true);

  // Returns a handle for remove_forward_hook.
  int64_t register_forward_hook(ForwardHook hook);
  void remove_forward_hook(int64_t handle);
  bool has_forward_hooks() const { return !hooks_.empty(); }

 protected:
  // Registers a parameter (requires_grad is set) and returns it; an undefined tensor registers nothing (PyTorch's
  // register_parameter(name, None)).
  Tensor register_parameter(const std::string& name, Tensor value);
  template <typename M>
  std::shared_ptr<M> register_module(const std::string& name, std::shared_ptr<M> module) {
    add_child(name, module);
    return module;
  }
  void add_child(const std::string& name, ModulePtr module);
  Tensor run_hooks(const std::vector<Tensor>& inputs, Tensor output);

 private:
  std::vector<std::pair<std::string, Tensor>> parameters_;
  std::vector<std::pair<std::string, ModulePtr>> children_;
  std::vector<std::pair<int64_t, ForwardHook>> hooks_;
  int64_t next_hook_ = 0;
  bool training_ = true;
};

// ---- initialisers (csrc/nn/init.cpp): in place, without autograd, drawing from ember's global RNG
namespace init {
std::pair<int64_t, int64_t> fan_in_and_fan_out(const Tensor& tensor);
Tensor& uniform_(Tensor& tensor, double low, double high);          // rand * (high - low) + low
Tensor& normal_(Tensor& tensor, double mean = 0.0, double std = 1.0);   // randn * std + mean
Tensor& constant_(Tensor& tensor, double value);
// U(-bound, bound), bound = sqrt(2 / (1 + a^2)) * sqrt(3 / fan_in) (leaky_relu gain, fan_in mode)
Tensor& kaiming_uniform_(Tensor& tensor, double a = 0.0);
Tensor& xavier_uniform_(Tensor& tensor, double gain = 1.0);
// U(-1/sqrt(fan_in), 1/sqrt(fan_in)) with the fan_in of `weight` (the default bias of Linear and Conv)
Tensor& bias_uniform_(Tensor& bias, const Tensor& weight);
}  // namespace init

// ---- functional forms that are more than one op
namespace functional {
// Zeroes each element with probability p (mask from ember::rand) and scales the rest by 1 / (1 - p).
Tensor dropout(const Tensor& input, double p, bool training);
Tensor mse_loss(const Tensor& input, const Tensor& target, Reduction reduction = Reduction::Mean);
}  // namespace functional

// ---- layers (csrc/nn/layers.cpp, conv_pool.cpp, attention.cpp)
class Linear : public Module {
 public:
  Linear(int64_t in_features, int64_t out_features, bool bias = true, DType dtype = DType::Float32);
  Tensor forward(const Tensor& input) override;
  // relu(forward(input)) with the ReLU in the GEMM's epilogue (Sequential uses it for Linear + ReLU).
  Tensor forward_relu(const Tensor& input) { return forward_activated(input, Activation::Relu); }
  // act(forward(input)) with the activation in the GEMM's epilogue (Sequential: Linear + ReLU / GELU).
  Tensor forward_activated(const Tensor& input, Activation act);
  std::string name() const override { return "Linear"; }
  void reset_parameters();
  int64_t in_features, out_features;
  Tensor weight, bias;   // (out, in), (out) or undefined

 private:
  void forward_checks(const Tensor& input) const;
};

class Conv2d : public Module {
 public:
  // options: stride, padding (or same), dilation, groups; options.act and options.path are left as given.
  Conv2d(int64_t in_channels, int64_t out_channels, int64_t kernel_h, int64_t kernel_w,
         const ConvOptions& options = ConvOptions(), bool bias = true, DType dtype = DType::Float32);
  Conv2d(int64_t in_channels, int64_t out_channels, int64_t kernel_size, const ConvOptions& options = ConvOptions(),
         bool bias = true, DType dtype = DType::Float32)
      : Conv2d(in_channels, out_channels, kernel_size, kernel_size, options, bias, dtype) {}
  Tensor forward(const Tensor& input) override;
  // relu(forward(input)) with the ReLU in the convolution's epilogue (Sequential uses it for Conv2d + ReLU).
  Tensor forward_relu(const Tensor& input);
  std::string name() const override { return "Conv2d"; }
  void reset_parameters();
  int64_t in_channels, out_channels;
  ConvOptions options;
  Tensor weight, bias;   // (C_out, C_in / groups, KH, KW), (C_out) or undefined

 private:
  void forward_checks(const Tensor& input) const;
};

// Pooling: options.stride_* <= 0 means "the kernel size" (PyTorch's default stride=None).
class MaxPool2d : public Module {
 public:
  explicit MaxPool2d(int64_t kernel_size, int64_t stride = 0, int64_t padding = 0);
  explicit MaxPool2d(const PoolOptions& options);
  Tensor forward(const Tensor& input) override;
  std::string name() const override { return "MaxPool2d"; }
  PoolOptions options;
};

class AvgPool2d : public Module {
 public:
  explicit AvgPool2d(int64_t kernel_size, int64_t stride = 0, int64_t padding = 0, bool count_include_pad = true);
  AvgPool2d(const PoolOptions& options, bool count_include_pad, int64_t divisor_override = 0);
  Tensor forward(const Tensor& input) override;
  std::string name() const override { return "AvgPool2d"; }
  PoolOptions options;
  bool count_include_pad;
  int64_t divisor_override;   // <= 0: none
};

class Flatten : public Module {
 public:
  explicit Flatten(int64_t start_dim = 1, int64_t end_dim = -1) : start_dim(start_dim), end_dim(end_dim) {}
  Tensor forward(const Tensor& input) override { return flatten(input, start_dim, end_dim); }
  std::string name() const override { return "Flatten"; }
  int64_t start_dim, end_dim;
};

class LayerNorm : public Module {
 public:
  LayerNorm(Shape normalized_shape, double eps = 1e-5, bool elementwise_affine = true, bool bias = true,
            DType dtype = DType::Float32);
  Tensor forward(const Tensor& input) override;
  std::string name() const override { return "LayerNorm"; }
  void reset_parameters();
  Shape normalized_shape;
  double eps;
  Tensor weight, bias;   // normalized_shape each, or undefined
};

class Embedding : public Module {
 public:
  Embedding(int64_t num_embeddings, int64_t embedding_dim, std::optional<int64_t> padding_idx = std::nullopt,
            DType dtype = DType::Float32);
  Tensor forward(const Tensor& indices) override;
  std::string name() const override { return "Embedding"; }
  void reset_parameters();
  int64_t num_embeddings, embedding_dim;
  std::optional<int64_t> padding_idx;   // normalised to [0, num_embeddings)
  Tensor weight;   // (num_embeddings, embedding_dim)
};

class Dropout : public Module {
 public:
  explicit Dropout(double p = 0.5);
  Tensor forward(const Tensor& input) override { return functional::dropout(input, p, is_training()); }
  std::string name() const override { return "Dropout"; }
  double p;
};

class ReLU : public Module {
 public:
  Tensor forward(const Tensor& input) override { return relu(input); }
  std::string name() const override { return "ReLU"; }
};

class GELU : public Module {
 public:
  explicit GELU(bool tanh_approximation = false) : tanh_approximation(tanh_approximation) {}
  Tensor forward(const Tensor& input) override { return gelu(input, tanh_approximation); }
  std::string name() const override { return "GELU"; }
  bool tanh_approximation;
};

class Tanh : public Module {
 public:
  Tensor forward(const Tensor& input) override { return tanh(input); }
  std::string name() const override { return "Tanh"; }
};

class Sigmoid : public Module {
 public:
  Tensor forward(const Tensor& input) override { return sigmoid(input); }
  std::string name() const override { return "Sigmoid"; }
};

// Runs its children in order; children are named "0", "1", ...
class Sequential : public Module {
 public:
  Sequential() = default;
  Sequential(std::initializer_list<ModulePtr> modules);
  Sequential& push_back(ModulePtr module);
  Tensor forward(const Tensor& input) override;
  std::string name() const override { return "Sequential"; }
  size_t size() const { return named_children().size(); }
  ModulePtr operator[](size_t index) const;
};

// Multi-head attention with PyTorch's parameters (in_proj_weight (3E, E), in_proj_bias (3E), out_proj) and
// initialisation. Inputs (B, T, E) when batch_first, else (T, B, E). The fused attention op computes it (no
// attention weights are returned: PyTorch's need_weights=False). attn_mask (T, S): bool true = masked out, or
// additive float. is_causal: query i attends keys j <= i (here it needs no attn_mask, unlike PyTorch's hint).
class MultiheadAttention : public Module {
 public:
  MultiheadAttention(int64_t embed_dim, int64_t num_heads, double dropout = 0.0, bool bias = true,
                     bool batch_first = false, DType dtype = DType::Float32);
  Tensor forward(const Tensor& query, const Tensor& key, const Tensor& value, const Tensor& attn_mask = Tensor(),
                 bool is_causal = false);
  Tensor forward(const Tensor& x) override { return forward(x, x, x); }   // self-attention
  Tensor operator()(const Tensor& query, const Tensor& key, const Tensor& value, const Tensor& attn_mask = Tensor(),
                    bool is_causal = false);
  using Module::operator();
  std::string name() const override { return "MultiheadAttention"; }
  int64_t embed_dim, num_heads, head_dim;
  double dropout;
  bool batch_first;
  Tensor in_proj_weight, in_proj_bias;
  std::shared_ptr<Linear> out_proj;
};

// ---- losses (csrc/nn/loss.cpp): modules whose forward takes (input, target)
class CrossEntropyLoss : public Module {
 public:
  explicit CrossEntropyLoss(Reduction reduction = Reduction::Mean, int64_t ignore_index = -100,
                            double label_smoothing = 0.0, Tensor weight = Tensor());
  Tensor forward(const Tensor& input, const Tensor& target);
  Tensor operator()(const Tensor& input, const Tensor& target);
  std::string name() const override { return "CrossEntropyLoss"; }
  using Module::forward;
  Reduction reduction;
  int64_t ignore_index;
  double label_smoothing;
  Tensor weight;   // per-class weights or undefined
};

class MSELoss : public Module {
 public:
  explicit MSELoss(Reduction reduction = Reduction::Mean) : reduction(reduction) {}
  Tensor forward(const Tensor& input, const Tensor& target) { return functional::mse_loss(input, target, reduction); }
  Tensor operator()(const Tensor& input, const Tensor& target);
  std::string name() const override { return "MSELoss"; }
  using Module::forward;
  Reduction reduction;
};

}  // namespace nn
}  // namespace ember
