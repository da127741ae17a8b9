// load_digits (the Python load_digits' arrays, dtype and scaling) and the C++ DataLoader, whose batch order is the
// Python DataLoader's: the same permutations (randperm_seeded(n, seed, epoch) or randperm) cut into batches.
#include "ember/data.h"
#include "ember/ops.h"

namespace ember {
namespace data {
namespace {

const NpyArray& member(const std::vector<std::pair<std::string, NpyArray>>& arrays, const std::string& name,
                       const std::string& path) {
  for (const auto& entry : arrays)
    if (entry.first == name) return entry.second;
  throw ValueError(str("load_digits: '", path, "' has no array '", name, "' (expected pixels, labels, is_test)"));
}

}  // namespace

std::pair<Tensor, Tensor> load_digits(const std::string& npz_path, const std::string& split) {
  EMBER_CHECK(split.empty() || split == "train" || split == "test", ValueError,
              "load_digits: split must be 'train', 'test' or '' (all), got '", split, "'");
  const auto arrays = load_npz(npz_path);
  const NpyArray& pixels = member(arrays, "pixels", npz_path);
  const NpyArray& labels = member(arrays, "labels", npz_path);
  const NpyArray& is_test = member(arrays, "is_test", npz_path);
  EMBER_CHECK(pixels.shape.size() == 2 && pixels.kind != 'f', ValueError, "load_digits: pixels must be a 2-D "
              "integer array, got ", pixels.descr(), " ", shape_str(pixels.shape));
  const int64_t n = pixels.shape[0];
  EMBER_CHECK(labels.shape == Shape{n} && labels.kind != 'f', ValueError, "load_digits: labels must be an integer "
              "array of shape (", n, ",), got ", labels.descr(), " ", shape_str(labels.shape));
  EMBER_CHECK(is_test.shape == Shape{n} && is_test.kind == 'b', ValueError, "load_digits: is_test must be a bool "
              "array of shape (", n, ",), got ", is_test.descr(), " ", shape_str(is_test.shape));
  Tensor X = pixels.to_tensor(DType::Float32), y = labels.to_tensor(DType::Int64);
  float* x = X.data<float>();
  for (int64_t i = 0; i < X.numel(); ++i) x[i] /= 16.0f;   // X /= np.float32(16.0)
  if (split.empty()) return {X, y};
  const unsigned char* test = is_test.bytes.data();
  std::vector<int64_t> keep;
  for (int64_t i = 0; i < n; ++i)
    if ((test[i] != 0) == (split == "test")) keep.push_back(i);
  Tensor index = empty({static_cast<int64_t>(keep.size())}, DType::Int64);
  std::copy(keep.begin(), keep.end(), index.data<int64_t>());
  return {index_select(X, 0, index), index_select(y, 0, index)};
}

DataLoader::DataLoader(std::vector<Tensor> tensors, int64_t batch_size, bool shuffle, std::optional<uint64_t> seed,
                       bool drop_last)
    : tensors_(std::move(tensors)), batch_size_(batch_size), length_(0), shuffle_(shuffle), drop_last_(drop_last),
      seed_(seed) {
  EMBER_CHECK(!tensors_.empty(), ValueError, "DataLoader: expected at least one tensor");
  EMBER_CHECK(batch_size > 0, ValueError, "DataLoader: batch_size must be a positive int, got ", batch_size);
  for (size_t i = 0; i < tensors_.size(); ++i) {
    EMBER_CHECK(tensors_[i].defined() && tensors_[i].dim() > 0, ValueError, "DataLoader: tensor ", i,
                " must be defined and at least 1-D");
    EMBER_CHECK(tensors_[i].size(0) == tensors_[0].size(0), ValueError, "DataLoader: size mismatch between "
                "tensors (", tensors_[0].size(0), " vs ", tensors_[i].size(0), " samples)");
  }
  length_ = tensors_[0].size(0);
}

int64_t DataLoader::size() const {
  return drop_last_ ? length_ / batch_size_ : (length_ + batch_size_ - 1) / batch_size_;
}

void DataLoader::for_each_batch(const std::function<void(const std::vector<Tensor>&)>& f) {
  Tensor order;
  if (!shuffle_) order = arange(0, static_cast<double>(length_), 1, DType::Int64);
  else if (seed_) order = randperm_seeded(length_, *seed_, epoch_++);
  else order = randperm(length_);
  const int64_t stop = drop_last_ ? (length_ / batch_size_) * batch_size_ : length_;
  for (int64_t start = 0; start < stop; start += batch_size_) {
    Tensor indices = slice(order, 0, start, std::min(start + batch_size_, length_));
    std::vector<Tensor> batch;
    for (const Tensor& t : tensors_) batch.push_back(index_select(t, 0, indices));
    f(batch);
  }
}

}  // namespace data
}  // namespace ember
