// Bindings for the indexing area (filled in by its issue).
#include "bindings/common.h"

namespace ember {

void bind_indexing(py::module_& m) { (void)m; }

}  // namespace ember
