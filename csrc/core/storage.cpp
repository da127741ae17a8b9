// Aligned allocation for tensor storage. Large blocks are returned to the OS on free.
#include "core/storage.h"

#include <cstdlib>
#include <new>

namespace ember {

std::shared_ptr<Storage> Storage::allocate(size_t nbytes) {
  auto s = std::make_shared<Storage>();
  size_t rounded = (nbytes + 63) / 64 * 64;
  if (rounded == 0) rounded = 64;
  if (rounded < nbytes) throw std::bad_alloc();
  void* p = std::aligned_alloc(64, rounded);
  if (!p) throw std::bad_alloc();
  s->data = p;
  s->nbytes = nbytes;
  s->release = [](void* q) { std::free(q); };
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
