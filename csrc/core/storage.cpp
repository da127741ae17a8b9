// Aligned allocation for tensor storage. Large blocks are returned to the OS on free.
#include "core/storage.h"

#include <cstdlib>
#include <new>

namespace ember {

std::shared_ptr<Storage> Storage::allocate(size_t nbytes) {
  auto s = std::make_shared<Storage>();
  size_t rounded = (nbytes + 63) / 64 * 64;
  if (rounded == 0) rounded = 64;
  if (rounded < nbytes || rounded > SIZE_MAX - 64) throw std::bad_alloc();
  // malloc + manual alignment: glibc's aligned_alloc costs several times a malloc for the small blocks that
  // dominate per-op overhead. The byte before the aligned block records how far it was shifted (1..64).
  char* raw = static_cast<char*>(std::malloc(rounded + 64));
  if (!raw) throw std::bad_alloc();
  char* aligned = raw + (64 - reinterpret_cast<uintptr_t>(raw) % 64);
  aligned[-1] = static_cast<char>(aligned - raw);
  s->data = aligned;
  s->nbytes = nbytes;
  s->release = [](void* q) {
    char* block = static_cast<char*>(q);
    std::free(block - static_cast<unsigned char>(block[-1]));
  };
  return s;
}

std::shared_ptr<Storage> Storage::wrap(void* data, size_t nbytes, std::function<void(void*)> release) {
  auto s = std::make_shared<Storage>();
  s->data = data;
  s->nbytes = nbytes;
  s->release = std::move(release);
  return s;
}

}  // namespace ember
