// The convolution paths: ref (naive oracle), im2col + GEMM, pointwise (1x1 stride 1: plain GEMM on the image),
// and direct (stride-1 SIMD kernels on zero-padded "wide grid" planes, float32). Work is split over images:
// each worker owns a range of images and its scratch (sized once per call). The backward splits images into a
// fixed number of slices (set by the problem, never the thread count), each with a private weight gradient
// summed in slice order, so dW is bitwise the same for any thread count. A single image (or too little work)
// runs on one worker with a threaded GEMM.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <utility>
#include <vector>

#include "ember/threads.h"
#include "kernels/gemm/gemm.h"
#include "ops/conv_paths.h"

namespace ember {
namespace conv_paths {
namespace {

using kernels::ConvGeometry;

// Below this many flops per call everything stays on the calling thread.
constexpr double kParallelFlops = 1.0e6;

int64_t round_up(int64_t v, int64_t m) { return (v + m - 1) / m * m; }
int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

double forward_flops(const ConvGeometry& g) {
  return 2.0 * g.N * g.C_out * g.OH * g.OW * g.col_rows();
}

// Number of image-range workers: one per thread when there are enough images and enough work.
int64_t worker_count(const ConvGeometry& g) {
  if (forward_flops(g) < kParallelFlops) return 1;
  return std::max<int64_t>(1, std::min<int64_t>(get_num_threads(), g.N));
}

// Image slices of the weight gradient: at most 8, fewer when the partial gradients would exceed ~32 MB.
int64_t weight_grad_slices(const ConvGeometry& g, int64_t w_size, size_t element_bytes) {
  if (forward_flops(g) < kParallelFlops) return 1;
  const int64_t by_memory = (int64_t{32} << 20) / std::max<int64_t>(1, w_size * static_cast<int64_t>(element_bytes));
  return std::max<int64_t>(1, std::min<int64_t>({g.N, int64_t{8}, by_memory}));
}

// Runs f(worker, first image, end image) for `workers` contiguous image ranges, in parallel.
template <typename F>
void for_each_worker(int64_t images, int64_t workers, F&& f) {
  parallel_for(workers, 1, [&](int64_t w0, int64_t w1) {
    for (int64_t w = w0; w < w1; ++w) f(w, w * images / workers, (w + 1) * images / workers);
  });
}

// C = act(A B + beta C + bias) through the GEMM of the run's ISA level (float) or the float64 GEMM.
void gemm(const ConvRun& run, int threads, int64_t M, int64_t N, int64_t K, const float* A, int64_t rsA, int64_t csA,
          const float* B, int64_t rsB, int64_t csB, float beta, float* C, int64_t rsC,
          const kernels::Epilogue<float>* ep = nullptr) {
  kernels::sgemm_with(*run.table, threads, M, N, K, 1.0f, A, rsA, csA, B, rsB, csB, beta, C, rsC, 1, ep);
}
void gemm(const ConvRun&, int, int64_t M, int64_t N, int64_t K, const double* A, int64_t rsA, int64_t csA,
          const double* B, int64_t rsB, int64_t csB, double beta, double* C, int64_t rsC,
          const kernels::Epilogue<double>* ep = nullptr) {
  kernels::dgemm(M, N, K, 1.0, A, rsA, csA, B, rsB, csB, beta, C, rsC, 1, ep);
}

// Adds the per-worker partial weight gradients (workers, size) into dw (size).
template <typename T>
void sum_partials(const std::vector<T>& partials, int64_t workers, int64_t size, T* dw) {
  for (int64_t i = 0; i < size; ++i) {
    T s = 0;
    for (int64_t w = 0; w < workers; ++w) s += partials[w * size + i];
    dw[i] = s;
  }
}

// ---------------------------------------------------------------- ref
template <typename T>
void ref_forward(const ConvRun& run, const T* x, const T* w, const T* bias, T* y) {
  kernels::conv2d_ref_forward(x, w, bias, y, run.geo);
  if (run.relu) {
    const int64_t n = run.geo.N * run.geo.C_out * run.geo.OH * run.geo.OW;
    for (int64_t i = 0; i < n; ++i) y[i] = y[i] > T(0) || y[i] != y[i] ? y[i] : T(0);   // NaN stays NaN
  }
}

// ---------------------------------------------------------------- im2col / pointwise (GEMM)
template <typename T>
void gemm_forward(const ConvRun& run, const T* x, const T* w, const T* bias, T* y) {
  const ConvGeometry& g = run.geo;
  const bool pointwise = run.path == ConvPath::Pointwise;
  const int64_t cig = g.c_in_group(), cog = g.c_out_group(), K = g.col_rows(), P = g.out_plane();
  const int64_t workers = worker_count(g);
  const int gemm_threads = workers > 1 ? 1 : get_num_threads();
  for_each_worker(g.N, workers, [&](int64_t, int64_t n0, int64_t n1) {
    std::vector<T> col(pointwise ? 0 : static_cast<size_t>(K * P));
    for (int64_t n = n0; n < n1; ++n)
      for (int64_t grp = 0; grp < g.groups; ++grp) {
        const T* x_group = x + (n * g.C_in + grp * cig) * g.in_plane();
        const T* B = x_group;
        if (!pointwise) {
          kernels::im2col(x_group, g, col.data());
          B = col.data();
        }
        kernels::Epilogue<T> ep;
        ep.bias = bias ? bias + grp * cog : nullptr;
        ep.bias_per_row = true;
        ep.act = run.relu ? kernels::GemmActivation::Relu : kernels::GemmActivation::None;
        const bool use_ep = ep.bias || run.relu;
        gemm(run, gemm_threads, cog, P, K, w + grp * cog * K, K, 1, B, P, 1, T(0),
             y + (n * g.C_out + grp * cog) * P, P, use_ep ? &ep : nullptr);
      }
  });
}

template <typename T>
void gemm_backward(const ConvRun& run, const T* x, const T* w, const T* dy, T* dx, T* dw) {
  const ConvGeometry& g = run.geo;
  const bool pointwise = run.path == ConvPath::Pointwise;
  const int64_t cig = g.c_in_group(), cog = g.c_out_group(), K = g.col_rows(), P = g.out_plane();
  const int64_t w_size = g.C_out * K;
  const int64_t workers = weight_grad_slices(g, w_size, sizeof(T));
  const int gemm_threads = workers > 1 ? 1 : get_num_threads();
  std::vector<T> partials(dw ? static_cast<size_t>(workers * w_size) : 0, T(0));
  for_each_worker(g.N, workers, [&](int64_t worker, int64_t n0, int64_t n1) {
    std::vector<T> col(pointwise ? 0 : static_cast<size_t>(K * P));
    T* dw_part = dw ? partials.data() + worker * w_size : nullptr;
    for (int64_t n = n0; n < n1; ++n)
      for (int64_t grp = 0; grp < g.groups; ++grp) {
        const T* x_group = x + (n * g.C_in + grp * cig) * g.in_plane();
        const T* dy_group = dy + (n * g.C_out + grp * cog) * P;
        const T* w_group = w + grp * cog * K;
        if (dw) {
          // dW_g (cog, K) += dY_g (cog, P) @ col^T (P, K)
          const T* B = x_group;
          if (!pointwise) {
            kernels::im2col(x_group, g, col.data());
            B = col.data();
          }
          gemm(run, gemm_threads, cog, K, P, dy_group, P, 1, B, 1, P, T(1), dw_part + grp * cog * K, K);
        }
        if (dx) {
          // dcol (K, P) = W_g^T (K, cog) @ dY_g (cog, P), scattered back onto the input (or, pointwise, it is dX).
          T* dx_group = dx + (n * g.C_in + grp * cig) * g.in_plane();
          if (pointwise) {
            gemm(run, gemm_threads, K, P, cog, w_group, 1, K, dy_group, P, 1, T(0), dx_group, P);
          } else {
            gemm(run, gemm_threads, K, P, cog, w_group, 1, K, dy_group, P, 1, T(0), col.data(), P);
            std::memset(dx_group, 0, sizeof(T) * cig * g.in_plane());
            kernels::col2im_add(col.data(), g, dx_group);
          }
        }
      }
  });
  if (dw) sum_partials(partials, workers, w_size, dw);
}

// ---------------------------------------------------------------- direct (float32, stride 1)
// Zero-filled scratch planes whose data is 64-byte aligned, so that planes of a multiple of 16 floats start on a
// cache line (the weight gradient's dY loads are then never split: LeNet conv2's dW ~15% faster).
class Planes {
 public:
  void resize(int64_t floats) {
    storage_.assign(static_cast<size_t>(floats + 15), 0.0f);
    offset_ = (64 - reinterpret_cast<uintptr_t>(storage_.data()) % 64) % 64 / sizeof(float);
  }
  float* data() { return storage_.data() + offset_; }

 private:
  std::vector<float> storage_;
  size_t offset_ = 0;
};

struct WidePlanes {
  int64_t hp, wp, x_plane, y_plane;
  std::vector<int64_t> tap_offsets;
};

// Layout of padded input planes (hp, wp) and wide output planes (the weight gradient's dY) for a stride-1 conv
// producing (out_h, out_w).
WidePlanes wide_planes(int64_t out_h, int64_t out_w, const ConvGeometry& g) {
  WidePlanes p;
  p.hp = out_h + (g.KH - 1) * g.dilation_h;
  p.wp = out_w + (g.KW - 1) * g.dilation_w;
  p.x_plane = round_up(p.hp * p.wp + (g.KW - 1) * g.dilation_w + kernels::kDirectSlack, kernels::kDirectAlign);
  p.y_plane = round_up(out_h * p.wp, kernels::kDirectAlign);
  for (int64_t kh = 0; kh < g.KH; ++kh)
    for (int64_t kw = 0; kw < g.KW; ++kw) p.tap_offsets.push_back(kh * g.dilation_h * p.wp + kw * g.dilation_w);
  return p;
}

// Rows [first, second) of an hp-row padded plane that pad_planes fills from h source rows placed at `top`.
std::pair<int64_t, int64_t> data_rows(int64_t top, int64_t h, int64_t hp) {
  return {std::max<int64_t>(0, top), std::max<int64_t>(0, std::min(h + top, hp))};
}

// Work units of the direct forward: each image, split into `splits` output-channel ranges when there are fewer
// images than threads (whole groups when grouped, else blocks of 8 channels), so batch 1 still uses every core.
struct ChannelSplit {
  int64_t splits;
  void range(const ConvGeometry& g, int64_t s, int64_t& c0, int64_t& c1) const {
    if (g.groups > 1) {
      c0 = s * g.groups / splits * g.c_out_group();
      c1 = (s + 1) * g.groups / splits * g.c_out_group();
    } else {
      const int64_t blocks = (g.C_out + 7) / 8;
      c0 = std::min(g.C_out, s * blocks / splits * 8);
      c1 = std::min(g.C_out, (s + 1) * blocks / splits * 8);
    }
  }
};

void direct_forward(const ConvRun& run, const float* x, const float* w, const float* bias, float* y) {
  const ConvGeometry& g = run.geo;
  const int64_t cig = g.c_in_group(), cog = g.c_out_group(), taps = g.taps();
  const WidePlanes planes = wide_planes(g.OH, g.OW, g);
  const int64_t threads = worker_count(g) > 1 ? get_num_threads() : 1;
  ChannelSplit split{1};
  if (g.N < threads) split.splits = std::min(ceil_div(threads, g.N), g.groups > 1 ? g.groups : ceil_div(g.C_out, 8));
  const int64_t units = g.N * split.splits;
  // The kernel calls below (each group's part of each channel range) with their weights packed once.
  auto for_each_call = [&](int64_t s, auto&& f) {
    int64_t c0, c1;
    split.range(g, s, c0, c1);
    for (int64_t grp = c0 / cog; c1 > c0 && grp <= (c1 - 1) / cog; ++grp)
      f(grp, std::max(c0, grp * cog), std::min(c1, (grp + 1) * cog));
  };
  std::vector<float> w_packed(static_cast<size_t>(g.C_out * cig * taps));
  for (int64_t s = 0; s < split.splits; ++s)
    for_each_call(s, [&](int64_t, int64_t first, int64_t last) {
      const int64_t at = first * cig * taps;
      run.direct->pack_forward_weights(w + at, last - first, cig, taps, w_packed.data() + at);
    });
  const kernels::DirectStorePlan store = kernels::direct_store_plan(g.OH, g.OW, planes.wp, run.direct->lanes);
  const auto x_rows = data_rows(g.pad_top, g.H, planes.hp);
  for_each_worker(units, std::min(threads, units), [&](int64_t, int64_t u0, int64_t u1) {
    Planes xp, partial;   // zero-filled once: the padding stays 0
    xp.resize(g.C_in * planes.x_plane);
    partial.resize(g.C_out * round_up(g.OH * planes.wp, kernels::kDirectAlign));
    for (int64_t u = u0; u < u1; ++u) {
      const int64_t n = u / split.splits;
      int64_t c0, c1;
      split.range(g, u % split.splits, c0, c1);
      if (c1 <= c0) continue;
      const int64_t g0 = c0 / cog, g1 = (c1 - 1) / cog + 1;   // groups touched by [c0, c1)
      kernels::pad_planes(x + (n * g.C_in + g0 * cig) * g.in_plane(), (g1 - g0) * cig, g.H, g.W,
                          xp.data() + g0 * cig * planes.x_plane, planes.x_plane, planes.hp, planes.wp, g.pad_top,
                          g.pad_left);
      for_each_call(u % split.splits, [&](int64_t grp, int64_t first, int64_t last) {
        kernels::DirectForwardArgs a{xp.data() + grp * cig * planes.x_plane, cig, planes.x_plane,
                                     w_packed.data() + first * cig * taps, planes.tap_offsets.data(), taps,
                                     planes.wp, g.KW, g.dilation_h, x_rows.first, x_rows.second,
                                     y + (n * g.C_out + first) * g.out_plane(), last - first, g.out_plane(),
                                     g.OH * planes.wp, store.mask.data(), store.offset.data(),
                                     bias ? bias + first : nullptr, run.relu, partial.data()};
        run.direct->forward(a);
      });
    }
  });
}

// Images per weight-gradient kernel call: as many as keep one call's planes (a few dy channels and one x
// channel per image) within about half of L1, at most 8, so every tap block re-reads them from L1.
int64_t grad_images_per_call(const WidePlanes& planes) {
  const int64_t bytes_per_image = (4 * planes.y_plane + planes.x_plane) * static_cast<int64_t>(sizeof(float));
  return std::max<int64_t>(1, std::min<int64_t>(8, 24576 / bytes_per_image));
}

void direct_backward(const ConvRun& run, const float* x, const float* w, const float* dy, float* dx, float* dw) {
  const ConvGeometry& g = run.geo;
  const int64_t cig = g.c_in_group(), cog = g.c_out_group(), taps = g.taps();
  const WidePlanes fwd = wide_planes(g.OH, g.OW, g);   // x planes and wide dy planes for dW
  const WidePlanes bwd = wide_planes(g.H, g.W, g);      // padded dy planes and the dX layout
  const kernels::DirectStorePlan dx_store = kernels::direct_store_plan(g.H, g.W, bwd.wp, run.direct->lanes);
  const int64_t dy_top = (g.KH - 1) * g.dilation_h - g.pad_top;   // where pad_planes puts dY's first row
  const auto dy_rows = data_rows(dy_top, g.OH, bwd.hp);
  // dX is the stride-1 convolution of dY padded by (K-1)*d - pad with the flipped, transposed weights.
  std::vector<float> w_flipped, w_packed;
  if (dx) {
    w_flipped.resize(static_cast<size_t>(g.C_out * cig * taps));
    w_packed.resize(w_flipped.size());
    for (int64_t grp = 0; grp < g.groups; ++grp) {
      for (int64_t ci = 0; ci < cig; ++ci)
        for (int64_t co = 0; co < cog; ++co)
          for (int64_t t = 0; t < taps; ++t)
            w_flipped[((grp * cig + ci) * cog + co) * taps + t] = w[((grp * cog + co) * cig + ci) * taps + taps - 1 - t];
      run.direct->pack_forward_weights(w_flipped.data() + grp * cig * cog * taps, cig, cog, taps,
                                       w_packed.data() + grp * cig * cog * taps);
    }
  }
  const int64_t w_size = g.C_out * cig * taps;
  const int64_t workers = weight_grad_slices(g, w_size, sizeof(float));
  std::vector<float> partials(dw ? static_cast<size_t>(workers * w_size) : 0, 0.0f);
  for_each_worker(g.N, workers, [&](int64_t worker, int64_t n0, int64_t n1) {
    const int64_t chunk = std::min<int64_t>(grad_images_per_call(fwd), std::max<int64_t>(n1 - n0, 1));
    Planes xp, dyw, dyp, partial;   // zero-filled once: the padding and gap columns stay 0
    if (dw) {
      xp.resize(chunk * g.C_in * fwd.x_plane);
      dyw.resize(chunk * g.C_out * fwd.y_plane);
    }
    if (dx) {
      dyp.resize(g.C_out * bwd.x_plane);
      partial.resize(cig * round_up(g.H * bwd.wp, kernels::kDirectAlign));
    }
    for (int64_t n = n0; n < n1; n += chunk) {
      const int64_t images = std::min(chunk, n1 - n);
      if (dw) {
        for (int64_t i = 0; i < images; ++i) {
          kernels::pad_planes(x + (n + i) * g.C_in * g.in_plane(), g.C_in, g.H, g.W, xp.data() + i * g.C_in * fwd.x_plane,
                              fwd.x_plane, fwd.hp, fwd.wp, g.pad_top, g.pad_left);
          kernels::widen_planes(dy + (n + i) * g.C_out * g.out_plane(), g.C_out, g.OH, g.OW,
                                dyw.data() + i * g.C_out * fwd.y_plane, fwd.y_plane, fwd.wp);
        }
        for (int64_t grp = 0; grp < g.groups; ++grp) {
          kernels::DirectWeightGradArgs a{dyw.data() + grp * cog * fwd.y_plane, g.C_out * fwd.y_plane,
                                          xp.data() + grp * cig * fwd.x_plane, g.C_in * fwd.x_plane, fwd.x_plane, cig,
                                          fwd.tap_offsets.data(), taps, images, cog, fwd.y_plane,
                                          partials.data() + worker * w_size + grp * cog * cig * taps};
          run.direct->weight_grad(a);
        }
      }
      if (dx) {
        for (int64_t i = 0; i < images; ++i) {
          kernels::pad_planes(dy + (n + i) * g.C_out * g.out_plane(), g.C_out, g.OH, g.OW, dyp.data(), bwd.x_plane,
                              bwd.hp, bwd.wp, dy_top, (g.KW - 1) * g.dilation_w - g.pad_left);
          for (int64_t grp = 0; grp < g.groups; ++grp) {
            kernels::DirectForwardArgs a{dyp.data() + grp * cog * bwd.x_plane, cog, bwd.x_plane,
                                         w_packed.data() + grp * cig * cog * taps, bwd.tap_offsets.data(), taps,
                                         bwd.wp, g.KW, g.dilation_h, dy_rows.first, dy_rows.second,
                                         dx + ((n + i) * g.C_in + grp * cig) * g.in_plane(), cig, g.in_plane(),
                                         g.H * bwd.wp, dx_store.mask.data(), dx_store.offset.data(), nullptr, false,
                                         partial.data()};
            run.direct->forward(a);
          }
        }
      }
    }
  });
  if (dw) sum_partials(partials, workers, w_size, dw);
}

}  // namespace

template <typename T>
void forward(const ConvRun& run, const T* x, const T* w, const T* bias, T* y) {
  if (run.geo.N == 0 || run.geo.C_out == 0) return;
  switch (run.path) {
    case ConvPath::Ref: return ref_forward(run, x, w, bias, y);
    case ConvPath::Direct:
      if constexpr (std::is_same_v<T, float>) return direct_forward(run, x, w, bias, y);
      throw ValueError("conv2d: the direct path is float32 only");
    default: return gemm_forward(run, x, w, bias, y);
  }
}

template <typename T>
void backward(const ConvRun& run, const T* x, const T* w, const T* dy, T* dx, T* dw) {
  const ConvGeometry& g = run.geo;
  if (g.N == 0 || g.C_out == 0 || g.C_in == 0) {
    if (dx) std::memset(dx, 0, sizeof(T) * g.N * g.C_in * g.H * g.W);
    if (dw) std::memset(dw, 0, sizeof(T) * g.C_out * g.col_rows());
    return;
  }
  switch (run.path) {
    case ConvPath::Ref:
      if (dx) kernels::conv2d_ref_backward_input(dy, w, dx, g);
      if (dw) kernels::conv2d_ref_backward_weight(dy, x, dw, g);
      return;
    case ConvPath::Direct:
      if constexpr (std::is_same_v<T, float>) return direct_backward(run, x, w, dy, dx, dw);
      throw ValueError("conv2d: the direct path is float32 only");
    default: return gemm_backward(run, x, w, dy, dx, dw);
  }
}

template void forward<float>(const ConvRun&, const float*, const float*, const float*, float*);
template void forward<double>(const ConvRun&, const double*, const double*, const double*, double*);
template void backward<float>(const ConvRun&, const float*, const float*, const float*, float*, float*);
template void backward<double>(const ConvRun&, const double*, const double*, const double*, double*, double*);

}  // namespace conv_paths
}  // namespace ember
