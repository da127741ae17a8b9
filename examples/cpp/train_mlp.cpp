// Trains the MLP of examples/mlp_classifier.py on the bundled 8x8 digits in C++ with no Python: same model,
// optimizer, schedule, seed and batch order, so it prints the same per-epoch losses (bit for bit with one thread).
//   train_mlp [--epochs 40] [--batch-size 32] [--lr 2e-3] [--threads N] [--seed 0] [--data path/to/digits.npz]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <memory>
#include <optional>
#include <string>

#include <ember/ember.h>

namespace {

struct Args {
  int64_t epochs = 40, batch_size = 32, seed = 0;
  double lr = 2e-3;
  std::optional<int> threads;
  std::string data;
};

const char* kUsage =
    "usage: train_mlp [--epochs N] [--batch-size N] [--lr X] [--threads N] [--seed N] [--data digits.npz]\n";

int64_t parse_int(const std::string& flag, const char* text, int64_t min) {
  char* end = nullptr;
  long long v = std::strtoll(text, &end, 10);
  if (end == text || *end != '\0' || v < min)
    throw ember::ValueError("train_mlp: " + flag + " expects an integer >= " + std::to_string(min) + ", got '" + text + "'");
  return v;
}

Args parse_args(int argc, char** argv) {
  Args args;
#ifdef TRAIN_MLP_DEFAULT_DATA
  args.data = TRAIN_MLP_DEFAULT_DATA;
#endif
  if (const char* env = std::getenv("EMBER_DIGITS_NPZ")) args.data = env;
  for (int i = 1; i < argc; ++i) {
    std::string flag = argv[i];
    if (flag == "-h" || flag == "--help") {
      std::fputs(kUsage, stdout);
      std::exit(0);
    }
    if (i + 1 >= argc) throw ember::ValueError("train_mlp: " + flag + " needs a value\n" + kUsage);
    const char* value = argv[++i];
    if (flag == "--epochs") args.epochs = parse_int(flag, value, 1);
    else if (flag == "--batch-size") args.batch_size = parse_int(flag, value, 1);
    else if (flag == "--seed") args.seed = parse_int(flag, value, 0);
    else if (flag == "--threads") args.threads = static_cast<int>(parse_int(flag, value, 1));
    else if (flag == "--data") args.data = value;
    else if (flag == "--lr") {
      char* end = nullptr;
      args.lr = std::strtod(value, &end);
      if (end == value || *end != '\0' || !(args.lr >= 0))
        throw ember::ValueError(std::string("train_mlp: --lr expects a non-negative number, got '") + value + "'");
    } else {
      throw ember::ValueError("train_mlp: unknown argument " + flag + "\n" + kUsage);
    }
  }
  if (args.data.empty())
    throw ember::ValueError("train_mlp: where is digits.npz? Pass --data or set EMBER_DIGITS_NPZ, e.g. --data $(python "
                            "-c \"import ember.data.datasets as d; print(d._DIGITS_FILE)\")");
  return args;
}

std::shared_ptr<ember::nn::Sequential> build_model() {
  using namespace ember::nn;   // a braced list runs the constructors (and their RNG draws) left to right
  return std::make_shared<Sequential>(std::initializer_list<ModulePtr>{
      std::make_shared<Linear>(64, 256), std::make_shared<ReLU>(), std::make_shared<Dropout>(0.2),
      std::make_shared<Linear>(256, 128), std::make_shared<ReLU>(), std::make_shared<Linear>(128, 10)});
}

double evaluate(ember::nn::Module& model, const ember::Tensor& x, const ember::Tensor& y) {
  model.eval();
  double accuracy;
  {
    ember::autograd::GradModeGuard no_grad(false);
    ember::Tensor predictions = ember::argmax(model(x), 1);
    accuracy = ember::item(ember::mean(ember::to_dtype(ember::binary(ember::BinaryOp::Eq, predictions, y),
                                                       ember::DType::Float32)));
  }
  model.train();
  return accuracy;
}

int run(const Args& args) {
  if (args.threads) ember::set_num_threads(*args.threads);
  ember::manual_seed(static_cast<uint64_t>(args.seed));

  auto [x_train, y_train] = ember::data::load_digits(args.data, "train");
  auto [x_test, y_test] = ember::data::load_digits(args.data, "test");
  ember::data::DataLoader loader({x_train, y_train}, args.batch_size, true, static_cast<uint64_t>(args.seed));
  auto model = build_model();
  ember::AdamOptions options = ember::optim::AdamW::defaults();
  options.lr = args.lr;
  options.weight_decay = 1e-2;
  ember::optim::AdamW optimizer(model->parameters(), options);
  ember::optim::CosineAnnealingLR scheduler(optimizer, args.epochs);
  ember::nn::CrossEntropyLoss loss_fn;

  auto start = std::chrono::steady_clock::now();
  for (int64_t epoch = 1; epoch <= args.epochs; ++epoch) {
    double total = 0.0;
    int64_t batches = 0;
    loader.for_each_batch([&](const std::vector<ember::Tensor>& batch) {
      optimizer.zero_grad();
      ember::Tensor loss = loss_fn((*model)(batch[0]), batch[1]);
      ember::autograd::backward({loss}, {ember::Tensor()}, false);
      optimizer.step();
      total += ember::item(loss);
      batches += 1;
    });
    scheduler.step();
    std::printf("epoch %3lld  loss %.6f\n", static_cast<long long>(epoch), total / static_cast<double>(batches));
    std::fflush(stdout);
  }
  double accuracy = evaluate(*model, x_test, y_test);
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("test accuracy %.4f  (%.1f s)\n", accuracy, seconds);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(parse_args(argc, argv));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 1;
  }
}
