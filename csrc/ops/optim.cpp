// Fused optimizer steps over a parameter group: validation, per-tensor scalars (bias corrections, step counts),
// then the kernels of kernels/optim.h over chunks of every tensor, in parallel. Must not record autograd history.
#include "ember/fused_optim.h"

#include <cmath>
#include <algorithm>
#include <utility>

#include "ember/threads.h"
#include "ember/ops.h"
#include "kernels/kernels.h"

namespace ember {
namespace {

// Below this many elements in the whole group the step runs on the calling thread.
constexpr int64_t kParallelElements = int64_t{1} << 16;
// Elements per parallel work item (a multiple of every register width).
constexpr int64_t kChunkElements = int64_t{1} << 15;

struct Span {
  int64_t entry, begin, end;   // entry indexes the active list
};

const kernels::Table& table_named(const std::string& isa) {
  if (isa.empty()) return kernels::table();
  const kernels::Table* table = kernels::table_for(isa.c_str());
  EMBER_CHECK(table != nullptr, ValueError, "optimizer step: kernel level '", isa,
              "' is not available on this CPU (expected 'ref', 'avx2' or 'avx512')");
  return *table;
}

// Runs update(entry, begin, end) over all active tensors, split into chunks run in parallel when worth it.
template <typename F>
void for_each_chunk(const std::vector<int64_t>& numels, F&& update) {
  int64_t total = 0;
  for (int64_t n : numels) total += n;
  if (total < kParallelElements) {
    for (size_t e = 0; e < numels.size(); ++e)
      if (numels[e] > 0) update(static_cast<int64_t>(e), int64_t{0}, numels[e]);
    return;
  }
  std::vector<Span> spans;
  spans.reserve(static_cast<size_t>(total / kChunkElements + numels.size()));
  for (size_t e = 0; e < numels.size(); ++e)
    for (int64_t b = 0; b < numels[e]; b += kChunkElements)
      spans.push_back({static_cast<int64_t>(e), b, std::min(numels[e], b + kChunkElements)});
  parallel_for(static_cast<int64_t>(spans.size()), 1, [&](int64_t first, int64_t last) {
    for (int64_t s = first; s < last; ++s) update(spans[s].entry, spans[s].begin, spans[s].end);
  });
}

// Checks the list lengths and every tensor of the entries that have a gradient; returns those entries' indices.
struct GroupChecker {
  const char* op;
  const std::vector<Tensor>& params;
  const std::vector<Tensor>& grads;

  std::vector<int64_t> active() const {
    EMBER_CHECK(grads.size() == params.size(), ValueError, op, ": got ", params.size(), " params but ", grads.size(),
                " grads");
    std::vector<int64_t> out;
    out.reserve(params.size());
    for (size_t i = 0; i < params.size(); ++i) {
      const Tensor& p = params[i];
      EMBER_CHECK(p.defined(), TypeError, op, ": params[", i, "] is None");
      if (!grads[i].defined()) continue;
      EMBER_CHECK(is_floating(p.dtype()), TypeError, op, ": params[", i, "] has dtype ", dtype_name(p.dtype()),
                  "; only float32 and float64 parameters can be optimized");
      EMBER_CHECK(p.is_contiguous(), ValueError, op, ": params[", i, "] is not contiguous");
      same_layout(grads[i], "grads", i);
      out.push_back(static_cast<int64_t>(i));
    }
    return out;
  }

  void list_size(const std::vector<Tensor>& list, const char* name) const {
    EMBER_CHECK(list.size() == params.size(), ValueError, op, ": got ", params.size(), " params but ", list.size(),
                " ", name);
  }

  // A state tensor or gradient: defined, the param's dtype and shape, contiguous.
  void same_layout(const Tensor& t, const char* name, size_t i) const {
    const Tensor& p = params[i];
    EMBER_CHECK(t.defined(), ValueError, op, ": ", name, "[", i, "] is missing for a parameter with a gradient");
    EMBER_CHECK(t.dtype() == p.dtype(), TypeError, op, ": ", name, "[", i, "] has dtype ", dtype_name(t.dtype()),
                " but params[", i, "] has dtype ", dtype_name(p.dtype()));
    EMBER_CHECK(t.shape() == p.shape(), ValueError, op, ": ", name, "[", i, "] has shape ", shape_str(t.shape()),
                " but params[", i, "] has shape ", shape_str(p.shape()));
    EMBER_CHECK(t.is_contiguous(), ValueError, op, ": ", name, "[", i, "] is not contiguous");
    EMBER_CHECK(!(t.same(p) || (t.storage() == p.storage() && t.offset() == p.offset())), ValueError, op, ": ",
                name, "[", i, "] shares memory with params[", i, "]");
  }

  void step_tensor(const Tensor& t, size_t i) const {
    EMBER_CHECK(t.defined(), ValueError, op, ": state_steps[", i, "] is missing for a parameter with a gradient");
    EMBER_CHECK(t.numel() == 1 && is_floating(t.dtype()), TypeError, op, ": state_steps[", i,
                "] must be a one-element float tensor");
  }

  void no_duplicates(const std::vector<int64_t>& active) const {
    std::vector<std::pair<const void*, int64_t>> starts;
    starts.reserve(active.size());
    for (int64_t i : active)
      if (params[i].numel() > 0) starts.emplace_back(params[i].raw_data(), i);
    std::sort(starts.begin(), starts.end());
    for (size_t k = 1; k < starts.size(); ++k)
      EMBER_CHECK(starts[k].first != starts[k - 1].first, ValueError, op, ": params[",
                  std::max(starts[k].second, starts[k - 1].second),
                  "] appears more than once (or shares memory with another parameter)");
  }
};

// step_t += 1 in the tensor's own dtype (PyTorch keeps a float32 count); returns the new count.
double increment_step(const Tensor& step) {
  double value;
  if (step.dtype() == DType::Float32) {
    float* p = step.data<float>();
    *p += 1.0f;
    value = *p;
  } else {
    double* p = step.data<double>();
    *p += 1.0;
    value = *p;
  }
  step.bump_version();
  return value;
}

template <typename T>
T* data_or_null(const std::vector<Tensor>& list, int64_t i, bool used) {
  return used ? list[i].data<T>() : nullptr;
}

std::vector<int64_t> numels_of(const std::vector<Tensor>& params, const std::vector<int64_t>& active) {
  std::vector<int64_t> out;
  out.reserve(active.size());
  for (int64_t i : active) out.push_back(params[i].numel());
  return out;
}

}  // namespace

void sgd_step(const std::vector<Tensor>& params, const std::vector<Tensor>& grads,
              std::vector<Tensor>& momentum_buffers, const SgdOptions& options, const std::string& isa) {
  const kernels::Table& table = table_named(isa);
  GroupChecker check{"sgd_step", params, grads};
  const bool uses_momentum = options.momentum != 0;
  if (uses_momentum) check.list_size(momentum_buffers, "momentum_buffers");
  std::vector<int64_t> active = check.active();
  check.no_duplicates(active);
  if (uses_momentum)
    for (int64_t i : active)
      if (momentum_buffers[i].defined()) check.same_layout(momentum_buffers[i], "momentum_buffers", i);
  std::vector<kernels::SgdConfig> configs(active.size());
  for (size_t e = 0; e < active.size(); ++e) {
    int64_t i = active[e];
    kernels::SgdConfig& c = configs[e];
    c.lr = options.lr; c.momentum = options.momentum; c.dampening = options.dampening;
    c.weight_decay = options.weight_decay; c.nesterov = options.nesterov; c.maximize = options.maximize;
    if (uses_momentum && !momentum_buffers[i].defined()) {
      momentum_buffers[i] = empty(params[i].shape(), params[i].dtype());
      c.first_step = true;
    }
  }
  for_each_chunk(numels_of(params, active), [&](int64_t e, int64_t begin, int64_t end) {
    int64_t i = active[e];
    if (params[i].dtype() == DType::Float32) {
      table.sgd_step(params[i].data<float>() + begin, grads[i].data<float>() + begin,
                     uses_momentum ? momentum_buffers[i].data<float>() + begin : nullptr, end - begin, configs[e]);
    } else {
      kernels::ref::sgd_step_f64(params[i].data<double>() + begin, grads[i].data<double>() + begin,
                                 uses_momentum ? momentum_buffers[i].data<double>() + begin : nullptr, end - begin,
                                 configs[e]);
    }
  });
  for (int64_t i : active) {
    params[i].bump_version();
    if (uses_momentum) momentum_buffers[i].bump_version();
  }
}

void adam_step(const std::vector<Tensor>& params, const std::vector<Tensor>& grads,
               const std::vector<Tensor>& exp_avgs, const std::vector<Tensor>& exp_avg_sqs,
               const std::vector<Tensor>& max_exp_avg_sqs, const std::vector<Tensor>& state_steps,
               const AdamOptions& options, const std::string& isa) {
  const kernels::Table& table = table_named(isa);
  GroupChecker check{options.decoupled_weight_decay ? "adamw_step" : "adam_step", params, grads};
  check.list_size(exp_avgs, "exp_avgs");
  check.list_size(exp_avg_sqs, "exp_avg_sqs");
  check.list_size(state_steps, "state_steps");
  if (options.amsgrad) check.list_size(max_exp_avg_sqs, "max_exp_avg_sqs");
  std::vector<int64_t> active = check.active();
  check.no_duplicates(active);
  for (int64_t i : active) {
    check.same_layout(exp_avgs[i], "exp_avgs", i);
    check.same_layout(exp_avg_sqs[i], "exp_avg_sqs", i);
    if (options.amsgrad) check.same_layout(max_exp_avg_sqs[i], "max_exp_avg_sqs", i);
    check.step_tensor(state_steps[i], i);
  }
  std::vector<kernels::AdamConfig> configs(active.size());
  for (size_t e = 0; e < active.size(); ++e) {
    double step = increment_step(state_steps[active[e]]);
    kernels::AdamConfig& c = configs[e];
    c.lr = options.lr; c.beta1 = options.beta1; c.beta2 = options.beta2; c.eps = options.eps;
    c.weight_decay = options.weight_decay; c.amsgrad = options.amsgrad; c.maximize = options.maximize;
    c.decoupled_weight_decay = options.decoupled_weight_decay;
    c.step_size = options.lr / (1 - std::pow(options.beta1, step));
    c.bias_correction2_sqrt = std::sqrt(1 - std::pow(options.beta2, step));
  }
  for_each_chunk(numels_of(params, active), [&](int64_t e, int64_t begin, int64_t end) {
    int64_t i = active[e];
    if (params[i].dtype() == DType::Float32) {
      float* max_sq = data_or_null<float>(max_exp_avg_sqs, i, options.amsgrad);
      table.adam_step(params[i].data<float>() + begin, grads[i].data<float>() + begin,
                      exp_avgs[i].data<float>() + begin, exp_avg_sqs[i].data<float>() + begin,
                      max_sq ? max_sq + begin : nullptr, end - begin, configs[e]);
    } else {
      double* max_sq = data_or_null<double>(max_exp_avg_sqs, i, options.amsgrad);
      kernels::ref::adam_step_f64(params[i].data<double>() + begin, grads[i].data<double>() + begin,
                                  exp_avgs[i].data<double>() + begin, exp_avg_sqs[i].data<double>() + begin,
                                  max_sq ? max_sq + begin : nullptr, end - begin, configs[e]);
    }
  });
  for (int64_t i : active) {
    params[i].bump_version();
    exp_avgs[i].bump_version();
    exp_avg_sqs[i].bump_version();
    if (options.amsgrad) max_exp_avg_sqs[i].bump_version();
  }
}

void adagrad_step(const std::vector<Tensor>& params, const std::vector<Tensor>& grads,
                  const std::vector<Tensor>& state_sums, const std::vector<Tensor>& state_steps,
                  const AdagradOptions& options, const std::string& isa) {
  const kernels::Table& table = table_named(isa);
  GroupChecker check{"adagrad_step", params, grads};
  check.list_size(state_sums, "state_sums");
  check.list_size(state_steps, "state_steps");
  std::vector<int64_t> active = check.active();
  check.no_duplicates(active);
  for (int64_t i : active) {
    check.same_layout(state_sums[i], "state_sums", i);
    check.step_tensor(state_steps[i], i);
  }
  std::vector<kernels::AdagradConfig> configs(active.size());
  for (size_t e = 0; e < active.size(); ++e) {
    double step = increment_step(state_steps[active[e]]);
    kernels::AdagradConfig& c = configs[e];
    c.clr = options.lr / (1 + (step - 1) * options.lr_decay);
    c.weight_decay = options.weight_decay; c.eps = options.eps; c.maximize = options.maximize;
  }
  for_each_chunk(numels_of(params, active), [&](int64_t e, int64_t begin, int64_t end) {
    int64_t i = active[e];
    if (params[i].dtype() == DType::Float32) {
      table.adagrad_step(params[i].data<float>() + begin, grads[i].data<float>() + begin,
                         state_sums[i].data<float>() + begin, end - begin, configs[e]);
    } else {
      kernels::ref::adagrad_step_f64(params[i].data<double>() + begin, grads[i].data<double>() + begin,
                                     state_sums[i].data<double>() + begin, end - begin, configs[e]);
    }
  });
  for (int64_t i : active) {
    params[i].bump_version();
    state_sums[i].bump_version();
  }
}

void rmsprop_step(const std::vector<Tensor>& params, const std::vector<Tensor>& grads,
                  const std::vector<Tensor>& square_avgs, const std::vector<Tensor>& grad_avgs,
                  const std::vector<Tensor>& momentum_buffers, const std::vector<Tensor>& state_steps,
                  const RmspropOptions& options, const std::string& isa) {
  const kernels::Table& table = table_named(isa);
  GroupChecker check{"rmsprop_step", params, grads};
  const bool uses_momentum = options.momentum > 0;
  check.list_size(square_avgs, "square_avgs");
  check.list_size(state_steps, "state_steps");
  if (options.centered) check.list_size(grad_avgs, "grad_avgs");
  if (uses_momentum) check.list_size(momentum_buffers, "momentum_buffers");
  std::vector<int64_t> active = check.active();
  check.no_duplicates(active);
  for (int64_t i : active) {
    check.same_layout(square_avgs[i], "square_avgs", i);
    if (options.centered) check.same_layout(grad_avgs[i], "grad_avgs", i);
    if (uses_momentum) check.same_layout(momentum_buffers[i], "momentum_buffers", i);
    check.step_tensor(state_steps[i], i);
  }
  kernels::RmspropConfig config;
  config.lr = options.lr; config.alpha = options.alpha; config.eps = options.eps;
  config.weight_decay = options.weight_decay; config.momentum = options.momentum;
  config.centered = options.centered; config.maximize = options.maximize;
  for (int64_t i : active) increment_step(state_steps[i]);
  for_each_chunk(numels_of(params, active), [&](int64_t e, int64_t begin, int64_t end) {
    int64_t i = active[e];
    if (params[i].dtype() == DType::Float32) {
      float* avg = data_or_null<float>(grad_avgs, i, options.centered);
      float* buf = data_or_null<float>(momentum_buffers, i, uses_momentum);
      table.rmsprop_step(params[i].data<float>() + begin, grads[i].data<float>() + begin,
                         square_avgs[i].data<float>() + begin, avg ? avg + begin : nullptr,
                         buf ? buf + begin : nullptr, end - begin, config);
    } else {
      double* avg = data_or_null<double>(grad_avgs, i, options.centered);
      double* buf = data_or_null<double>(momentum_buffers, i, uses_momentum);
      kernels::ref::rmsprop_step_f64(params[i].data<double>() + begin, grads[i].data<double>() + begin,
                                     square_avgs[i].data<double>() + begin, avg ? avg + begin : nullptr,
                                     buf ? buf + begin : nullptr, end - begin, config);
    }
  });
  for (int64_t i : active) {
    params[i].bump_version();
    square_avgs[i].bump_version();
    if (options.centered) grad_avgs[i].bump_version();
    if (uses_momentum) momentum_buffers[i].bump_version();
  }
}

}  // namespace ember
