// The Python benchmarks' workloads timed from C++ through the public API (ember/ember.h, libember.so): the same
// training steps as bench/train_step.py, bench/conv.py and bench/attention.py, and the tiny calls of
// bench/overhead.py, so that (Python time / C++ time) shows what the Python layer costs. Each workload is
// validated (a finite loss that decreases over a few steps on one batch, or known values) before it is timed.
// Usage: ember_bench_cpp [--threads N] [--quick]
// Prints one JSON object: {"threads": N, "results": {NAME: {"median_s": s, "runs_s": [s, ...]}, ...}}.
#include <ember/ember.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

using ember::Shape;
using ember::Tensor;

// ---- parameters and the two optimizers (PyTorch's defaults: zero_grad(set_to_none=True), fused steps)

Tensor parameter(const Shape& shape, double scale) {
  Tensor p = ember::randn(shape) * scale;
  return p.set_requires_grad(true);
}

// PyTorch's default Linear/Conv init: U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
Tensor uniform_parameter(const Shape& shape, int64_t fan_in) {
  double bound = 1.0 / std::sqrt(static_cast<double>(fan_in));
  Tensor p = (ember::rand(shape) * 2.0 - 1.0) * bound;
  return p.set_requires_grad(true);
}

std::vector<Tensor> grads_of(const std::vector<Tensor>& params) {
  std::vector<Tensor> grads;
  grads.reserve(params.size());
  for (const Tensor& p : params) grads.push_back(p.grad());
  return grads;
}

void zero_grad(const std::vector<Tensor>& params) {
  for (const Tensor& p : params) p.impl()->grad.reset();
}

struct Sgd {
  std::vector<Tensor> params, momentum_buffers;
  ember::SgdOptions options;
  Sgd(std::vector<Tensor> ps, double lr, double momentum) : params(std::move(ps)), momentum_buffers(params.size()) {
    options.lr = lr;
    options.momentum = momentum;
  }
  void step() { ember::sgd_step(params, grads_of(params), momentum_buffers, options); }
};

struct Adam {
  std::vector<Tensor> params, exp_avgs, exp_avg_sqs, steps;
  ember::AdamOptions options;
  Adam(std::vector<Tensor> ps, double lr, double weight_decay, bool decoupled) : params(std::move(ps)) {
    for (const Tensor& p : params) {
      exp_avgs.push_back(ember::zeros(p.shape()));
      exp_avg_sqs.push_back(ember::zeros(p.shape()));
      steps.push_back(ember::zeros({}));
    }
    options.lr = lr;
    options.weight_decay = weight_decay;
    options.decoupled_weight_decay = decoupled;
  }
  void step() { ember::adam_step(params, grads_of(params), exp_avgs, exp_avg_sqs, {}, steps, options); }
};

void backward(const Tensor& loss) { ember::autograd::backward({loss}, {Tensor()}, false); }

struct Linear {
  Tensor weight, bias;
  Linear(int64_t in, int64_t out, bool with_bias = true) {
    weight = uniform_parameter({out, in}, in);
    if (with_bias) bias = uniform_parameter({out}, in);
  }
  Tensor operator()(const Tensor& x, ember::Activation act = ember::Activation::None) const {
    return ember::linear(x, weight, bias, act);
  }
  void collect(std::vector<Tensor>& params) const {
    params.push_back(weight);
    if (bias.defined()) params.push_back(bias);
  }
};

// A training step: returns the loss of this step (computed before the update).
using Step = std::function<double()>;

// ---- bench/train_step.py: MLP 784-512-256-10 (ReLU), batch 128, CrossEntropy, Adam lr 1e-3; weights N(0, 0.05)

Step mlp_adam_step() {
  struct Model {
    std::vector<Linear> layers;
    std::vector<Tensor> params;
    Tensor x, y;
    Adam* adam = nullptr;
  };
  auto m = std::make_shared<Model>();
  const int64_t sizes[] = {784, 512, 256, 10};
  for (int i = 0; i < 3; ++i) {
    Linear layer(sizes[i], sizes[i + 1]);
    layer.weight = parameter({sizes[i + 1], sizes[i]}, 0.05);
    layer.bias = parameter({sizes[i + 1]}, 0.05);
    layer.collect(m->params);
    m->layers.push_back(layer);
  }
  m->x = ember::randn({128, 784});
  m->y = ember::randint(0, 10, {128});
  auto adam = std::make_shared<Adam>(m->params, 1e-3, 0.0, false);
  return [m, adam]() {
    zero_grad(m->params);
    Tensor h = m->x;
    for (size_t i = 0; i < m->layers.size(); ++i)   // ReLU fused into the hidden layers' GEMM, as nn.Sequential
      h = m->layers[i](h, i + 1 < m->layers.size() ? ember::Activation::Relu : ember::Activation::None);
    Tensor loss = ember::cross_entropy(h, m->y);
    backward(loss);
    adam->step();
    return ember::item(loss);
  };
}

// ---- bench/train_step.py: tiny step, Linear(8, 8), batch 1, CrossEntropy, SGD lr 1e-2

Step tiny_sgd_step() {
  auto fc = std::make_shared<Linear>(8, 8);
  fc->weight = parameter({8, 8}, 0.05);
  fc->bias = parameter({8}, 0.05);
  std::vector<Tensor> params;
  fc->collect(params);
  auto sgd = std::make_shared<Sgd>(params, 1e-2, 0.0);
  Tensor x = ember::randn({1, 8}), y = ember::randint(0, 8, {1});
  return [fc, sgd, x, y]() {
    zero_grad(sgd->params);
    Tensor loss = ember::cross_entropy((*fc)(x), y);
    backward(loss);
    sgd->step();
    return ember::item(loss);
  };
}

// ---- bench/conv.py: LeNet-5, batch 64, 1x28x28, SGD lr 0.01 momentum 0.9

Step lenet_sgd_step() {
  struct Model {
    Tensor c1w, c1b, c2w, c2b;
    Linear f1{400, 120}, f2{120, 84}, f3{84, 10};
    Tensor x, y;
  };
  auto m = std::make_shared<Model>();
  m->c1w = uniform_parameter({6, 1, 5, 5}, 25);
  m->c1b = uniform_parameter({6}, 25);
  m->c2w = uniform_parameter({16, 6, 5, 5}, 150);
  m->c2b = uniform_parameter({16}, 150);
  std::vector<Tensor> params = {m->c1w, m->c1b, m->c2w, m->c2b};
  m->f1.collect(params);
  m->f2.collect(params);
  m->f3.collect(params);
  m->x = ember::randn({64, 1, 28, 28});
  m->y = ember::randint(0, 10, {64});
  auto sgd = std::make_shared<Sgd>(params, 0.01, 0.9);
  ember::ConvOptions pad2, pad0;   // ReLU fused into each convolution and hidden Linear, as nn.Sequential
  pad2.pad_h = pad2.pad_w = 2;
  pad2.act = pad0.act = ember::Activation::Relu;
  ember::PoolOptions pool;
  pool.kernel_h = pool.kernel_w = pool.stride_h = pool.stride_w = 2;
  return [m, sgd, pad2, pad0, pool]() {
    zero_grad(sgd->params);
    Tensor h = ember::max_pool2d(ember::conv2d(m->x, m->c1w, m->c1b, pad2), pool, false).first;
    h = ember::max_pool2d(ember::conv2d(h, m->c2w, m->c2b, pad0), pool, false).first;
    h = ember::flatten(h, 1);
    h = m->f3(m->f2(m->f1(h, ember::Activation::Relu), ember::Activation::Relu));
    Tensor loss = ember::cross_entropy(h, m->y);
    backward(loss);
    sgd->step();
    return ember::item(loss);
  };
}

// ---- bench/attention.py: examples/char_gpt.py's CharGPT, 4 layers, 4 heads, d 256, T 128, vocab 96, batch 16,
// AdamW lr 1e-3 wd 0.01; weights N(0, 0.02), biases 0, LayerNorm (1, 0)

Step char_gpt_adamw_step() {
  const int64_t L = 4, H = 4, C = 256, T = 128, V = 96, B = 16;
  struct LayerNorm {   // over d = 256
    Tensor weight = ember::ones({256}).set_requires_grad(true), bias = ember::zeros({256}).set_requires_grad(true);
    Tensor operator()(const Tensor& x) const { return ember::layer_norm(x, {256}, weight, bias, 1e-5); }
  };
  struct Block {
    LayerNorm ln1, ln2;
    Linear qkv{256, 768}, proj{256, 256}, fc{256, 1024}, fc_proj{1024, 256};
  };
  struct Model {
    Tensor token, position;
    std::vector<Block> blocks;
    LayerNorm ln;
    Linear head{256, 96, false};
    Tensor idx, targets, positions;
  };
  auto m = std::make_shared<Model>();
  std::vector<Tensor> params;
  m->blocks.resize(L);
  auto init = [](Linear& l) {
    l.weight = parameter(l.weight.shape(), 0.02);
    if (l.bias.defined()) l.bias = ember::zeros(l.bias.shape()).set_requires_grad(true);
  };
  m->token = parameter({V, C}, 0.02);
  m->position = parameter({T, C}, 0.02);
  params = {m->token, m->position};
  for (Block& b : m->blocks) {
    for (Linear* l : {&b.qkv, &b.proj, &b.fc, &b.fc_proj}) init(*l);
    for (const Tensor& p : {b.ln1.weight, b.ln1.bias}) params.push_back(p);
    b.qkv.collect(params);
    b.proj.collect(params);
    for (const Tensor& p : {b.ln2.weight, b.ln2.bias}) params.push_back(p);
    b.fc.collect(params);
    b.fc_proj.collect(params);
  }
  params.push_back(m->ln.weight);
  params.push_back(m->ln.bias);
  init(m->head);
  m->head.collect(params);
  m->idx = ember::randint(0, V, {B, T});
  m->targets = ember::randint(0, V, {B, T});
  m->positions = ember::arange(0, T, 1, ember::DType::Int64);
  auto adamw = std::make_shared<Adam>(params, 1e-3, 0.01, true);
  return [m, adamw, H, C, T, V, B]() {
    zero_grad(adamw->params);
    Tensor x = ember::embedding(m->token, m->idx) + ember::embedding(m->position, m->positions);
    for (const Block& b : m->blocks) {
      Tensor qkv = ember::reshape(b.qkv(b.ln1(x)), {B, T, 3, H, C / H});
      std::vector<Tensor> parts = ember::unbind(qkv, 2);   // one backward node for q, k and v
      Tensor q = ember::transpose(parts[0], 1, 2);             // (B, H, T, D) views
      Tensor k = ember::transpose(parts[1], 1, 2);
      Tensor v = ember::transpose(parts[2], 1, 2);
      Tensor y = ember::scaled_dot_product_attention(q, k, v, Tensor(), 0.0, true);
      x = x + b.proj(ember::reshape(ember::transpose(y, 1, 2), {B, T, C}));
      x = x + b.fc_proj(b.fc(b.ln2(x), ember::Activation::Gelu));   // bias + GELU fused, as char_gpt.py
    }
    Tensor logits = m->head(m->ln(x));
    Tensor loss = ember::cross_entropy(ember::reshape(logits, {-1, V}), ember::reshape(m->targets, {-1}));
    backward(loss);
    adamw->step();
    return ember::item(loss);
  };
}

// ---- bench/overhead.py's tiny calls

std::function<void()> add_1x1() {
  Tensor a = ember::ones({1, 1}), b = ember::ones({1, 1});
  if (ember::item(a + b) != 2.0) throw std::runtime_error("add_1x1: 1 + 1 != 2");
  return [a, b]() { Tensor c = a + b; (void)c; };
}

std::function<void()> linear_8x8_forward() {
  auto fc = std::make_shared<Linear>(8, 8);
  Tensor x = ember::randn({1, 8});
  {
    ember::autograd::GradModeGuard no_grad(false);
    Tensor want = ember::matmul(x, ember::t(fc->weight)) + fc->bias;
    if (ember::item(ember::amax(ember::abs((*fc)(x) - want))) > 1e-5)
      throw std::runtime_error("linear_8x8_forward: linear disagrees with matmul + bias");
  }
  return [fc, x]() {
    ember::autograd::GradModeGuard no_grad(false);
    Tensor y = (*fc)(x);
    (void)y;
  };
}

// Runs a few steps on its fixed batch: the loss must be finite and go down.
void validate_training(const char* name, const Step& step) {
  double first = step(), last = first;
  for (int i = 0; i < 4; ++i) last = step();
  if (!std::isfinite(first) || !std::isfinite(last) || !(last < first)) {
    throw std::runtime_error(std::string(name) + ": loss did not decrease over 5 steps (" + std::to_string(first) +
                             " -> " + std::to_string(last) + ")");
  }
}

// ---- timing

using Clock = std::chrono::steady_clock;

double seconds_per_call(const std::function<void()>& fn, int64_t calls) {
  auto start = Clock::now();
  for (int64_t i = 0; i < calls; ++i) fn();
  return std::chrono::duration<double>(Clock::now() - start).count() / static_cast<double>(calls);
}

// rounds of `calls` calls each, calls picked so a round lasts about `round_seconds`; seconds per call per round.
std::vector<double> time_rounds(const std::function<void()>& fn, int rounds, double round_seconds) {
  double single = seconds_per_call(fn, 1);   // also the warm-up
  if (single < round_seconds / 4) {          // a better estimate from many calls
    int64_t calls = 2;
    while (calls < 100000000 && single * static_cast<double>(calls) < round_seconds / 4) calls *= 2;
    single = seconds_per_call(fn, calls);
  }
  int64_t calls = std::max<int64_t>(1, static_cast<int64_t>(round_seconds / std::max(single, 1e-9)));
  std::vector<double> runs;
  for (int r = 0; r < rounds; ++r) runs.push_back(seconds_per_call(fn, calls));
  return runs;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

int usage(const char* argv0) {
  std::fprintf(stderr, "usage: %s [--threads N] [--quick]\n", argv0);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  int threads = 0;
  bool quick = false;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--quick") {
      quick = true;
    } else if (arg == "--threads" && i + 1 < argc) {
      char* end = nullptr;
      long n = std::strtol(argv[++i], &end, 10);
      if (*end != '\0' || n < 1) return usage(argv[0]);
      threads = static_cast<int>(n);
    } else {
      return usage(argv[0]);
    }
  }
  try {
    if (threads > 0) ember::set_num_threads(threads);
    ember::manual_seed(0);
    const int rounds = quick ? 3 : 7;
    const double round_seconds = quick ? 0.05 : 0.25;

    std::vector<std::pair<std::string, std::function<void()>>> workloads;
    for (auto [name, make] : std::vector<std::pair<const char*, Step (*)()>>{
             {"mlp_adam_step", mlp_adam_step}, {"lenet_sgd_step", lenet_sgd_step},
             {"char_gpt_adamw_step", char_gpt_adamw_step}, {"tiny_sgd_step", tiny_sgd_step}}) {
      Step step = make();
      validate_training(name, step);
      workloads.emplace_back(name, [step]() { step(); });
    }
    workloads.emplace_back("add_1x1", add_1x1());
    workloads.emplace_back("linear_8x8_forward", linear_8x8_forward());

    std::printf("{\"threads\": %d, \"results\": {", ember::get_num_threads());
    for (size_t w = 0; w < workloads.size(); ++w) {
      std::vector<double> runs = time_rounds(workloads[w].second, rounds, round_seconds);
      std::printf("%s\"%s\": {\"median_s\": %.6e, \"runs_s\": [", w ? ", " : "", workloads[w].first.c_str(),
                  median(runs));
      for (size_t r = 0; r < runs.size(); ++r) std::printf("%s%.6e", r ? ", " : "", runs[r]);
      std::printf("]}");
      std::fflush(stdout);
    }
    std::printf("}}\n");
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ember_bench_cpp: %s\n", e.what());
    return 1;
  }
  return 0;
}
