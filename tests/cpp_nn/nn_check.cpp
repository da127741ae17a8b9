// Prints parameters, outputs and gradients of the C++ nn layers and optimizers after fixed seeds, one line per
// tensor ("case name shape v0 v1 ..."; values as %.9g, exact for float32); tests/test_cpp_example.py builds it against
// the installed ember and compares every line with the same computation through the Python API.
#include <cstdio>
#include <string>

#include "ember/autograd.h"
#include "ember/data.h"
#include "ember/nn.h"
#include "ember/node.h"
#include "ember/optim.h"

using namespace ember;

namespace {

void print(const std::string& where, const std::string& what, const Tensor& t_in) {
  Tensor t = contiguous(to_dtype(detach(t_in), DType::Float64));
  std::printf("%s %s %s", where.c_str(), what.c_str(), shape_str(t.shape()).c_str());
  for (int64_t i = 0; i < t.numel(); ++i) std::printf(" %.9g", t.data<double>()[i]);
  std::printf("\n");
}

void print_module(const std::string& where, const nn::Module& m) {
  for (const auto& entry : m.named_parameters()) print(where, entry.first, entry.second);
}

void print_grads(const std::string& where, const nn::Module& m) {
  for (const auto& entry : m.named_parameters()) print(where, entry.first + ".grad", entry.second.grad());
}

void backward_sum(const Tensor& y) { autograd::backward({sum(y)}, {Tensor()}, false); }

Tensor int64_tensor(const Shape& shape, const std::vector<int64_t>& values) {
  Tensor t = empty(shape, DType::Int64);
  for (size_t i = 0; i < values.size(); ++i) t.data<int64_t>()[i] = values[i];
  return t;
}

void check_layers() {
  manual_seed(1);
  nn::Linear linear(5, 3);
  Tensor x = rand({4, 5});
  Tensor y = linear(x);
  backward_sum(y);
  print_module("linear", linear), print("linear", "out", y), print_grads("linear", linear);

  manual_seed(2);
  ConvOptions conv_options;
  conv_options.pad_h = conv_options.pad_w = 1;
  nn::Conv2d conv(3, 4, 3, conv_options);
  Tensor image = rand({2, 3, 6, 6});
  Tensor features = conv(image);
  Tensor pooled = nn::MaxPool2d(2)(features) + nn::AvgPool2d(2)(features);
  Tensor flat = nn::Flatten()(pooled);
  backward_sum(flat);
  print_module("conv", conv), print("conv", "out", flat), print_grads("conv", conv);

  manual_seed(3);
  nn::LayerNorm norm({6});
  Tensor z = randn({2, 6});
  Tensor normed = norm(z);
  backward_sum(normed * normed);
  print_module("layernorm", norm), print("layernorm", "out", normed), print_grads("layernorm", norm);

  manual_seed(4);
  nn::Embedding embedding(10, 4, 1);
  Tensor looked_up = embedding(int64_tensor({2, 2}, {1, 2, 3, 9}));
  backward_sum(looked_up);
  print_module("embedding", embedding), print("embedding", "out", looked_up), print_grads("embedding", embedding);

  manual_seed(5);
  nn::MultiheadAttention attention(8, 2, 0.0, true, true);
  Tensor tokens = rand({2, 3, 8});
  Tensor attended = attention(tokens, tokens, tokens);
  Tensor causal = attention(tokens, tokens, tokens, Tensor(), true);
  backward_sum(attended + causal);
  print_module("mha", attention), print("mha", "out", attended), print("mha", "causal", causal);
  print_grads("mha", attention);

  manual_seed(6);
  nn::MultiheadAttention seq_first(8, 2);
  Tensor sequence = rand({3, 2, 8}), memory = rand({4, 2, 8});
  Tensor mask = binary(BinaryOp::Gt, rand({3, 4}), Scalar(0.7));
  print("mha_seq_first", "out", seq_first(sequence, memory, memory, mask));

  manual_seed(7);
  nn::Sequential model{std::make_shared<nn::Linear>(4, 8), std::make_shared<nn::GELU>(),
                       std::make_shared<nn::Dropout>(0.5), std::make_shared<nn::Linear>(8, 3),
                       std::make_shared<nn::Tanh>(), std::make_shared<nn::Sigmoid>()};
  Tensor inputs = rand({5, 4});
  Tensor outputs = model(inputs);
  Tensor targets = int64_tensor({5}, {0, 2, 1, 1, 0});
  Tensor loss = nn::CrossEntropyLoss()(outputs, targets) + nn::MSELoss()(outputs, zeros({5, 3}));
  autograd::backward({loss}, {Tensor()}, false);
  print_module("mlp", model), print("mlp", "out", outputs), print("mlp", "loss", loss), print_grads("mlp", model);

  // Conv2d + ReLU and Linear + ReLU run fused inside Sequential (Python's nn.Sequential does the same).
  manual_seed(8);
  ConvOptions same;
  same.pad_h = same.pad_w = 1;
  nn::Sequential fused{std::make_shared<nn::Conv2d>(2, 3, 3, same), std::make_shared<nn::ReLU>(),
                       std::make_shared<nn::Flatten>(), std::make_shared<nn::Linear>(48, 5),
                       std::make_shared<nn::ReLU>(), std::make_shared<nn::Linear>(5, 2)};
  Tensor fused_out = fused(rand({2, 2, 4, 4}) - 0.5);
  backward_sum(fused_out);
  print_module("fused", fused), print("fused", "out", fused_out), print_grads("fused", fused);
}

template <typename MakeOptimizer>
void check_optimizer(const std::string& where, uint64_t seed, MakeOptimizer make) {
  manual_seed(seed);
  nn::Linear layer(4, 3);
  auto optimizer = make(layer.parameters());
  optim::CosineAnnealingLR scheduler(*optimizer, 2);
  Tensor x = rand({6, 4});
  for (int step = 0; step < 4; ++step) {
    optimizer->zero_grad();
    Tensor loss = nn::functional::mse_loss(layer(x), zeros({6, 3}));
    autograd::backward({loss}, {Tensor()}, false);
    optimizer->step();
    scheduler.step();
  }
  print_module(where, layer);
}

void check_optimizers() {
  check_optimizer("sgd", 11, [](std::vector<Tensor> p) {
    SgdOptions o;
    o.lr = 0.1, o.momentum = 0.9, o.nesterov = true, o.weight_decay = 0.01;
    return std::make_unique<optim::SGD>(std::move(p), o);
  });
  check_optimizer("adam", 12, [](std::vector<Tensor> p) {
    AdamOptions o;
    o.lr = 0.01, o.weight_decay = 0.1;
    return std::make_unique<optim::Adam>(std::move(p), o);
  });
  check_optimizer("adamw", 13, [](std::vector<Tensor> p) {
    AdamOptions o = optim::AdamW::defaults();
    o.lr = 0.01;
    return std::make_unique<optim::AdamW>(std::move(p), o);
  });
  manual_seed(0);
  nn::Linear layer(2, 2);
  optim::SGD sgd(layer.parameters(), SgdOptions{0.5});
  optim::CosineAnnealingLR cosine(sgd, 3, 0.01);
  std::printf("cosine lrs");
  for (int i = 0; i < 10; ++i) cosine.step(), std::printf(" %.17g", sgd.lr());
  std::printf("\n");
}

void check_loader() {
  Tensor samples = arange(0, 10, 1, DType::Int64);
  data::DataLoader loader({samples}, 4, true, uint64_t{3});
  for (int epoch = 0; epoch < 2; ++epoch) {
    std::printf("loader epoch%d", epoch);
    loader.for_each_batch([](const std::vector<Tensor>& batch) {
      for (int64_t i = 0; i < batch[0].numel(); ++i) std::printf(" %lld", static_cast<long long>(batch[0].data<int64_t>()[i]));
    });
    std::printf("\n");
  }
}

}  // namespace

int main() {
  try {
    check_layers();
    check_optimizers();
    check_loader();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "nn_check: %s\n", e.what());
    return 1;
  }
  return 0;
}
