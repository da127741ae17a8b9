// matmul (PyTorch semantics: 1-D and N-D operands, broadcast batch dims) and bmm, forward and backward side
// by side. Every product is one call into the GEMM driver on strided operands: the transposes of the backward
// (dA = dC B^T, dB = A^T dC) are swapped strides absorbed by packing, never materialised.
#include <vector>

#include "ember/node.h"
#include "kernels/gemm/gemm.h"
#include "ops/gemm_operands.h"
#include "ember/ops.h"

namespace ember {
namespace {

using gemm_operands::check_float_dtypes;
using gemm_operands::fold_dims;

// op(a) @ op(b) as a batch of (M, K) x (K, N) products; a 1-D a is (1, K), a 1-D b is (K, 1).
struct MatmulPlan {
  Shape batch;                           // broadcast batch shape
  int64_t batch_numel = 1;
  int64_t M = 1, N = 1, K = 1;
  bool a_vector = false, b_vector = false;
  Shape a_batch_sizes, b_batch_sizes;    // aligned to `batch` (1 where absent)
  Shape a_batch_strides, b_batch_strides;   // aligned to `batch` (0 where size 1)
  int64_t rsA = 0, csA = 1, rsB = 0, csB = 0;
  Shape out_shape;
};

MatmulPlan plan_matmul(const Tensor& a, const Tensor& b, const char* op) {
  EMBER_CHECK(a.dim() >= 1 && b.dim() >= 1, ValueError, op, ": both arguments need to be at least 1D, but they are ",
              a.dim(), "D and ", b.dim(), "D");
  check_float_dtypes(a, b, op);
  MatmulPlan p;
  const Shape &as = a.shape(), &ast = a.strides(), &bs = b.shape(), &bst = b.strides();
  const int64_t na = a.dim(), nb = b.dim();
  p.a_vector = na == 1;
  p.b_vector = nb == 1;
  p.K = as[na - 1];
  p.csA = ast[na - 1];
  if (!p.a_vector) { p.M = as[na - 2]; p.rsA = ast[na - 2]; }
  int64_t kb;
  if (p.b_vector) {
    kb = bs[0];
    p.rsB = bst[0];
  } else {
    kb = bs[nb - 2];
    p.N = bs[nb - 1];
    p.rsB = bst[nb - 2];
    p.csB = bst[nb - 1];
  }
  EMBER_CHECK(p.K == kb, ValueError, op, ": shapes ", shape_str(as), " and ", shape_str(bs),
              " cannot be multiplied (", p.K, " != ", kb, ")");
  const int64_t a_batch_dims = std::max<int64_t>(na - 2, 0), b_batch_dims = std::max<int64_t>(nb - 2, 0);
  const int64_t rank = std::max(a_batch_dims, b_batch_dims);
  p.batch.assign(rank, 1);
  p.a_batch_sizes.assign(rank, 1);
  p.b_batch_sizes.assign(rank, 1);
  p.a_batch_strides.assign(rank, 0);
  p.b_batch_strides.assign(rank, 0);
  for (int64_t d = 0; d < rank; ++d) {
    int64_t da = d - (rank - a_batch_dims), db = d - (rank - b_batch_dims);
    if (da >= 0) { p.a_batch_sizes[d] = as[da]; p.a_batch_strides[d] = as[da] == 1 ? 0 : ast[da]; }
    if (db >= 0) { p.b_batch_sizes[d] = bs[db]; p.b_batch_strides[d] = bs[db] == 1 ? 0 : bst[db]; }
    int64_t sa = p.a_batch_sizes[d], sb = p.b_batch_sizes[d];
    EMBER_CHECK(sa == sb || sa == 1 || sb == 1, ValueError, op, ": batch dimensions of shapes ", shape_str(as),
                " and ", shape_str(bs), " cannot be broadcast (", sa, " vs ", sb, " at batch dim ", d, ")");
    p.batch[d] = sa == 1 ? sb : sa;
    p.batch_numel *= p.batch[d];
  }
  p.out_shape = p.batch;
  if (!p.a_vector) p.out_shape.push_back(p.M);
  if (!p.b_vector) p.out_shape.push_back(p.N);
  return p;
}

// Element offsets of every batch index (row-major over `batch`) for per-dim `strides`.
std::vector<int64_t> batch_offsets(const Shape& batch, const Shape& strides, int64_t count) {
  std::vector<int64_t> offsets(static_cast<size_t>(count));
  Shape index(batch.size(), 0);
  int64_t offset = 0;
  for (int64_t i = 0; i < count; ++i) {
    offsets[i] = offset;
    for (int64_t d = static_cast<int64_t>(batch.size()) - 1; d >= 0; --d) {
      if (++index[d] < batch[d]) { offset += strides[d]; break; }
      offset -= strides[d] * (index[d] - 1);
      index[d] = 0;
    }
  }
  return offsets;
}

// Contiguous strides of an operand's own batch dims, aligned to the broadcast batch (0 where size 1).
Shape aligned_contiguous_batch_strides(const Shape& sizes, int64_t matrix_numel) {
  Shape strides(sizes.size(), 0);
  int64_t s = matrix_numel;
  for (int64_t d = static_cast<int64_t>(sizes.size()) - 1; d >= 0; --d) {
    strides[d] = sizes[d] == 1 ? 0 : s;
    s *= sizes[d];
  }
  return strides;
}

bool covers_batch(const Shape& sizes, const Shape& batch) { return sizes == batch; }
bool is_broadcast_everywhere(const Shape& sizes) {
  for (int64_t s : sizes) if (s != 1) return false;
  return true;
}

// One strided operand of a batched product: base pointer, per-batch-dim strides, matrix strides.
template <typename T>
struct Operand {
  T* data;
  Shape batch_strides;
  int64_t rs, cs;
};

// C[b] (+)= A[b] B[b] over the broadcast batch. `c_covers` says every batch index owns its own C slice (else
// slices shared by several batch indices accumulate, in batch order, so results do not depend on threads).
// `fold_rows`: A's and C's batch dims fold into their rows (then one GEMM of batch*M rows does it all).
template <typename T>
void batched_product(const Shape& batch, int64_t batch_numel, int64_t M, int64_t N, int64_t K,
                     const Operand<const T>& A, const Operand<const T>& B, const Operand<T>& C, bool c_covers,
                     bool b_shared) {
  if (batch_numel == 0 || M == 0 || N == 0) return;
  Shape fold_sizes = batch;
  fold_sizes.push_back(M);
  int64_t fold_rs_a = 0, fold_rs_c = 0;
  if (b_shared && c_covers) {
    Shape a_strides = A.batch_strides, c_strides = C.batch_strides;
    a_strides.push_back(A.rs);
    c_strides.push_back(C.rs);
    if (fold_dims(fold_sizes, a_strides, 0, fold_sizes.size(), fold_rs_a) &&
        fold_dims(fold_sizes, c_strides, 0, fold_sizes.size(), fold_rs_c)) {
      kernels::gemm(batch_numel * M, N, K, T(1), A.data, fold_rs_a, A.cs, B.data, B.rs, B.cs, T(0), C.data,
                    fold_rs_c, C.cs);
      return;
    }
  }
  std::vector<int64_t> oa = batch_offsets(batch, A.batch_strides, batch_numel);
  std::vector<int64_t> ob = batch_offsets(batch, B.batch_strides, batch_numel);
  std::vector<int64_t> oc = batch_offsets(batch, C.batch_strides, batch_numel);
  if (c_covers) {
    std::vector<const T*> pa(batch_numel), pb(batch_numel);
    std::vector<T*> pc(batch_numel);
    for (int64_t i = 0; i < batch_numel; ++i) { pa[i] = A.data + oa[i]; pb[i] = B.data + ob[i]; pc[i] = C.data + oc[i]; }
    kernels::gemm_batched(batch_numel, M, N, K, T(1), pa.data(), A.rs, A.cs, pb.data(), B.rs, B.cs, T(0), pc.data(),
                          C.rs, C.cs);
    return;
  }
  // Reduction over broadcast batch dims: the first product into a slice overwrites, later ones accumulate.
  std::vector<int64_t> first_writer;
  std::vector<bool> written;
  int64_t max_offset = 0;
  for (int64_t o : oc) max_offset = std::max(max_offset, o);
  written.assign(static_cast<size_t>(max_offset + 1), false);
  for (int64_t i = 0; i < batch_numel; ++i) {
    const T beta = written[oc[i]] ? T(1) : T(0);
    written[oc[i]] = true;
    kernels::gemm(M, N, K, T(1), A.data + oa[i], A.rs, A.cs, B.data + ob[i], B.rs, B.cs, beta, C.data + oc[i], C.rs,
                  C.cs);
  }
}

template <typename T>
Tensor matmul_forward(const Tensor& a, const Tensor& b, const MatmulPlan& p) {
  Tensor out = empty(p.out_shape, a.dtype());
  const int64_t rsC = p.b_vector ? 1 : p.N;
  Operand<const T> A{a.data<T>(), p.a_batch_strides, p.rsA, p.csA};
  Operand<const T> B{b.data<T>(), p.b_batch_strides, p.rsB, p.csB};
  Operand<T> C{out.data<T>(), aligned_contiguous_batch_strides(p.batch, p.M * p.N), rsC, 1};
  batched_product<T>(p.batch, p.batch_numel, p.M, p.N, p.K, A, B, C, true, is_broadcast_everywhere(p.b_batch_sizes));
  return out;
}

// dA = dC B^T (shape of a), dB = A^T dC (shape of b); broadcast batch dims are summed by accumulation.
template <typename T>
void matmul_backward(const Tensor& a, const Tensor& b, const Tensor& grad, const MatmulPlan& p, Tensor* da,
                     Tensor* db) {
  const size_t nbatch = p.batch.size();
  const Shape& gst = grad.strides();
  Operand<const T> G{grad.data<T>(), Shape(gst.begin(), gst.begin() + nbatch), 0, 0};
  if (!p.a_vector) G.rs = gst[nbatch];
  if (!p.b_vector) G.cs = gst[gst.size() - 1];
  if (da) {
    *da = empty(a.shape(), a.dtype());
    Operand<T> DA{da->data<T>(), aligned_contiguous_batch_strides(p.a_batch_sizes, p.M * p.K), p.K, 1};
    if (p.batch_numel == 0 || p.N == 0) std::memset(da->raw_data(), 0, da->numel() * sizeof(T));
    Operand<const T> BT{b.data<T>(), p.b_batch_strides, p.csB, p.rsB};
    batched_product<T>(p.batch, p.batch_numel, p.M, p.K, p.N, G, BT, DA, covers_batch(p.a_batch_sizes, p.batch),
                       is_broadcast_everywhere(p.b_batch_sizes));
  }
  if (db) {
    *db = empty(b.shape(), b.dtype());
    Operand<T> DB{db->data<T>(), aligned_contiguous_batch_strides(p.b_batch_sizes, p.K * p.N), p.b_vector ? 1 : p.N, 1};
    if (p.batch_numel == 0 || p.M == 0) std::memset(db->raw_data(), 0, db->numel() * sizeof(T));
    if (is_broadcast_everywhere(p.b_batch_sizes) && !p.a_vector) {
      // dB = sum_b A_b^T G_b = (A folded over batch and M)^T (G folded): one GEMM when both fold.
      Shape sizes = p.batch, a_strides = p.a_batch_strides, g_strides = G.batch_strides;
      sizes.push_back(p.M);
      a_strides.push_back(p.rsA);
      g_strides.push_back(G.rs);
      int64_t ra, rg;
      if (p.batch_numel > 0 && covers_batch(p.a_batch_sizes, p.batch) &&
          fold_dims(sizes, a_strides, 0, sizes.size(), ra) && fold_dims(sizes, g_strides, 0, sizes.size(), rg)) {
        kernels::gemm(p.K, p.N, p.batch_numel * p.M, T(1), a.data<T>(), p.csA, ra, G.data, rg, G.cs, T(0), DB.data,
                      DB.rs, 1);
        return;
      }
    }
    Operand<const T> AT{a.data<T>(), p.a_batch_strides, p.csA, p.rsA};
    // Transposed problem: (K x M) (M x N) per batch index; the "row fold" trick does not apply (rows are K).
    batched_product<T>(p.batch, p.batch_numel, p.K, p.N, p.M, AT, G, DB, covers_batch(p.b_batch_sizes, p.batch), false);
  }
}

struct MatmulBackward : autograd::Node {
  autograd::SavedTensor a, b;
  const char* op = "matmul";
  const char* name() const override { return op[0] == 'b' ? "BmmBackward0" : "MmBackward0"; }
  std::vector<Tensor> apply(std::vector<Tensor>& grads) override {
    Tensor av = a.get(), bv = b.get();
    MatmulPlan p = plan_matmul(av, bv, op);
    Tensor da, db;
    const bool need_a = next_edges[0].fn != nullptr, need_b = next_edges[1].fn != nullptr;
    dispatch_floating(av.dtype(), [&](auto tag) {
      using T = decltype(tag);
      matmul_backward<T>(av, bv, grads[0], p, need_a ? &da : nullptr, need_b ? &db : nullptr);
    });
    return {da, db};
  }
  void release_saved() override { a.reset(); b.reset(); }
};

Tensor matmul_impl(const Tensor& a, const Tensor& b, const char* op) {
  EMBER_CHECK(a.defined() && b.defined(), ValueError, op, ": expected two tensors");
  MatmulPlan p = plan_matmul(a, b, op);
  Tensor out = dispatch_floating(a.dtype(), [&](auto tag) {
    using T = decltype(tag);
    return matmul_forward<T>(a, b, p);
  });
  if (auto node = autograd::make_node<MatmulBackward>({&a, &b})) {
    node->a = autograd::SavedTensor(a);
    node->b = autograd::SavedTensor(b);
    node->op = op;
    autograd::set_history(out, node);
  }
  return out;
}

}  // namespace

Tensor matmul(const Tensor& a, const Tensor& b) { return matmul_impl(a, b, "matmul"); }

Tensor bmm(const Tensor& a, const Tensor& b) {
  EMBER_CHECK(a.defined() && b.defined(), ValueError, "bmm: expected two tensors");
  EMBER_CHECK(a.dim() == 3 && b.dim() == 3, ValueError, "bmm: expected 3-D tensors, got ", a.dim(), "-D and ",
              b.dim(), "-D");
  EMBER_CHECK(a.shape()[0] == b.shape()[0], ValueError, "bmm: batch sizes of shapes ", shape_str(a.shape()), " and ",
              shape_str(b.shape()), " differ (", a.shape()[0], " != ", b.shape()[0], ")");
  return matmul_impl(a, b, "bmm");
}

}  // namespace ember
