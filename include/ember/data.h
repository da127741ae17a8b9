// ember::data for C++ programs: a reader for NumPy's .npy files and stored (uncompressed) .npz archives that checks
// every header, size and CRC and names the file in its errors; the bundled digits split exactly as
// ember.data.load_digits builds it; and a DataLoader that batches tensors in the same order as the Python
// DataLoader (shuffle uses ember's randperm_seeded / randperm, so both languages see the same batches).
// Implementations: csrc/data/npy.cpp, csrc/data/npz.cpp, csrc/data/loader.cpp.
#pragma once
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "ember/tensor.h"

namespace ember {
namespace data {

// One array as stored: NumPy's type code ('b' bool, 'i' signed, 'u' unsigned, 'f' float), item size in bytes,
// the shape and the raw little-endian C-order bytes.
struct NpyArray {
  char kind = 'f';
  int itemsize = 4;
  Shape shape;
  std::vector<unsigned char> bytes;
  int64_t numel() const;
  std::string descr() const;   // e.g. "<f4", "|u1"
  // The values converted to an ember dtype (bool, int64, float32, float64), like NumPy's astype: ints and bools
  // to any type, floats to float types (float -> int and float -> bool are refused rather than truncated).
  Tensor to_tensor(DType dtype) const;
};

// Parses the bytes of a .npy file (format versions 1.0, 2.0 and 3.0; little-endian or single-byte types; C order;
// Fortran order only for 0-D and 1-D arrays). `what` names the source in error messages.
NpyArray parse_npy(const unsigned char* data, size_t size, const std::string& what);
NpyArray load_npy(const std::string& path);
// Every member "name.npy" of a .npz archive, in archive order, keyed by "name". Members must be stored
// (np.savez, not np.savez_compressed): a compressed member raises an error saying so.
std::vector<std::pair<std::string, NpyArray>> load_npz(const std::string& path);

// The UCI 8x8 digits from ember's digits.npz (python/ember/data/digits.npz): split "train" (1438), "test" (359)
// or "" (all 1797). X float32 (N, 64) scaled to [0, 1] (pixels / 16, in float32, as load_digits), y int64 (N).
std::pair<Tensor, Tensor> load_digits(const std::string& npz_path, const std::string& split);

// Batches of equally long tensors, split along dim 0. shuffle: a new permutation every epoch, from `seed`
// (epoch k uses randperm_seeded(n, seed, k): the Python DataLoader's order for the same seed) or, without a
// seed, from ember's global RNG (randperm). Batches are contiguous copies (index_select).
class DataLoader {
 public:
  DataLoader(std::vector<Tensor> tensors, int64_t batch_size, bool shuffle = false,
             std::optional<uint64_t> seed = std::nullopt, bool drop_last = false);
  int64_t size() const;   // batches per epoch
  // Runs one epoch: calls f with each batch (one tensor per input tensor).
  void for_each_batch(const std::function<void(const std::vector<Tensor>&)>& f);

 private:
  std::vector<Tensor> tensors_;
  int64_t batch_size_, length_;
  bool shuffle_, drop_last_;
  std::optional<uint64_t> seed_;
  uint64_t epoch_ = 0;
};

}  // namespace data
}  // namespace ember
