// Bindings for the linalg area (filled in by its issue).
#include "bindings/common.h"

namespace ember {

void bind_linalg(py::module_& m) { (void)m; }

}  // namespace ember
