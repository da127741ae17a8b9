// Bindings for the nn area (filled in by its issue).
#include "bindings/common.h"

namespace ember {

void bind_nn(py::module_& m) { (void)m; }

}  // namespace ember
