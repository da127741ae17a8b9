// Bindings for the optim area (filled in by its issue).
#include "bindings/common.h"

namespace ember {

void bind_optim(py::module_& m) { (void)m; }

}  // namespace ember
