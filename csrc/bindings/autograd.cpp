// Autograd bindings: backward, autograd.grad, grad mode, hooks, retain_grad, grad_fn nodes.
#include "ember/autograd.h"
#include "bindings/common.h"

namespace ember {
namespace {

std::vector<Tensor> tensor_list(py::handle obj, const char* op) {
  std::vector<Tensor> out;
  Tensor t;
  if (try_tensor(obj, t)) return {t};
  for (auto item : py::reinterpret_borrow<py::sequence>(obj)) {
    if (item.is_none()) { out.emplace_back(); continue; }
    EMBER_CHECK(try_tensor(item, t), TypeError, op, ": expected a Tensor or a sequence of Tensors");
    out.push_back(t);
  }
  return out;
}

TensorHook python_hook(py::function fn) {
  // the deleter takes the GIL: the node holding the hook may die while the GIL is released
  std::shared_ptr<py::function> holder(new py::function(std::move(fn)), [](py::function* f) {
    py::gil_scoped_acquire gil;
    delete f;
  });
  return [holder](const Tensor& g) -> Tensor {
    py::gil_scoped_acquire gil;
    py::object r = (*holder)(g);
    if (r.is_none()) return Tensor();
    Tensor out;
    EMBER_CHECK(try_tensor(r, out), TypeError, "hook: a gradient hook must return a Tensor or None");
    EMBER_CHECK(out.shape() == g.shape(), RuntimeError, "hook: hook returned a gradient of shape ",
                shape_str(out.shape()), " for a gradient of shape ", shape_str(g.shape()));
    return out;
  };
}

}  // namespace

void bind_autograd(py::module_& m) {
  auto cls = py::reinterpret_borrow<py::class_<TensorImpl, std::shared_ptr<TensorImpl>>>(m.attr("Tensor"));

  py::class_<autograd::Node, std::shared_ptr<autograd::Node>>(m, "Node")
      .def("name", [](const autograd::Node& n) { return std::string(n.name()); })
      .def_property_readonly("next_functions", [](const autograd::Node& n) {
        py::list out;
        for (const auto& e : n.next_edges) out.append(py::make_tuple(e.fn ? py::cast(e.fn) : py::none(), e.input_nr));
        return py::tuple(out);
      })
      .def("__repr__", [](const autograd::Node& n) { return std::string("<") + n.name() + " object>"; });

  m.def("_backward", [](py::object tensors, py::object grads, bool retain_graph, bool create_graph) {
    EMBER_CHECK(!create_graph, NotImplementedError, "backward: create_graph=True (higher-order gradients) is not supported");
    std::vector<Tensor> roots = tensor_list(tensors, "backward");
    std::vector<Tensor> gs = grads.is_none() ? std::vector<Tensor>(roots.size()) : tensor_list(grads, "backward");
    keep_interrupt_handler();
    py::gil_scoped_release release;
    autograd::backward(roots, gs, retain_graph);
  }, py::arg("tensors"), py::arg("grad_tensors") = py::none(), py::arg("retain_graph") = false,
     py::arg("create_graph") = false);

  cls.def("backward", [](const Tensor& t, py::object gradient, py::object retain_graph, bool create_graph) {
    EMBER_CHECK(!create_graph, NotImplementedError, "backward: create_graph=True (higher-order gradients) is not supported");
    Tensor g;
    if (!gradient.is_none()) EMBER_CHECK(try_tensor(gradient, g), TypeError, "backward: gradient must be a Tensor");
    bool retain = !retain_graph.is_none() && retain_graph.cast<bool>();
    keep_interrupt_handler();
    py::gil_scoped_release release;
    autograd::backward({t}, {g}, retain);
  }, py::arg("gradient") = py::none(), py::arg("retain_graph") = py::none(), py::arg("create_graph") = false);

  m.def("_grad", [](py::object outputs, py::object inputs, py::object grad_outputs, py::object retain_graph,
                    bool create_graph, bool allow_unused) {
    EMBER_CHECK(!create_graph, NotImplementedError, "grad: create_graph=True (higher-order gradients) is not supported");
    std::vector<Tensor> outs = tensor_list(outputs, "grad");
    std::vector<Tensor> ins = tensor_list(inputs, "grad");
    std::vector<Tensor> gs = grad_outputs.is_none() ? std::vector<Tensor>(outs.size()) : tensor_list(grad_outputs, "grad");
    bool retain = !retain_graph.is_none() && retain_graph.cast<bool>();
    std::vector<Tensor> result;
    {
      keep_interrupt_handler();
      py::gil_scoped_release release;
      result = autograd::grad(outs, gs, ins, retain, allow_unused);
    }
    py::tuple t(result.size());
    for (size_t i = 0; i < result.size(); ++i) t[i] = py::cast(result[i]);
    return t;
  }, py::arg("outputs"), py::arg("inputs"), py::arg("grad_outputs") = py::none(), py::arg("retain_graph") = py::none(),
     py::arg("create_graph") = false, py::arg("allow_unused") = false);

  m.def("is_grad_enabled", &autograd::grad_enabled);
  m.def("_set_grad_enabled", &autograd::set_grad_enabled);

  cls.def("register_hook", [](const Tensor& t, py::function fn) {
    autograd::register_hook(t, python_hook(std::move(fn)));
  });
  cls.def("retain_grad", [](const Tensor& t) { autograd::retain_grad(t); });
  cls.def_property_readonly("retains_grad", [](const Tensor& t) { return t.impl()->retains_grad; });
}

}  // namespace ember
