// Reference-counted, 64-byte-aligned memory behind tensors; may also wrap memory owned by NumPy or DLPack.
#pragma once
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>

namespace ember {

struct Storage {
  void* data = nullptr;
  size_t nbytes = 0;
  std::function<void(void*)> release;   // frees `data` (ours) or drops a foreign owner's reference
  std::atomic<uint32_t> version{0};     // bumped by every in-place write; autograd checks it

  Storage() = default;
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;
  ~Storage() { if (release) release(data); }

  // Allocates nbytes (uninitialised), 64-byte aligned. Throws std::bad_alloc on failure.
  static std::shared_ptr<Storage> allocate(size_t nbytes);
  // Wraps foreign memory; `release` is called once when the last tensor using it dies.
  static std::shared_ptr<Storage> wrap(void* data, size_t nbytes, std::function<void(void*)> release);
};

// Returns the cached large blocks to the system (ember._C.empty_cache()).
void empty_storage_cache();

}  // namespace ember
