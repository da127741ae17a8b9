// Bindings for the interop area (filled in by its issue).
#include "bindings/common.h"

namespace ember {

void bind_interop(py::module_& m) { (void)m; }

}  // namespace ember
