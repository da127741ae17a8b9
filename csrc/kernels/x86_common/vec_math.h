// Vector math shared by the AVX2 and AVX-512 kernels: exp, log, tanh, sigmoid and the normal CDF behind exact
// GELU, written once against a vector layer S (avx2::Avx2 or avx512::Avx512). Include only from kernels/x86_*.
// Everything here has internal linkage, so each ISA's object files keep their own copies (no ODR mixing of
// AVX-512 code into AVX2 files).
//
// Polynomial coefficients were fitted by weighted least squares (relative error) on 4000 Chebyshev nodes in
// float64, then rounded to float; the max relative error of each fit is noted beside it.
#pragma once

namespace ember {
namespace kernels {
namespace {

template <class S>
struct VecMath {
  using V = typename S::V;
  using Mask = typename S::Mask;

  // c0 x^k + c1 x^(k-1) + ... (coefficients from the highest power down).
  template <class... Rest>
  static V horner(V x, float c0, Rest... rest) {
    V acc = S::set1(c0);
    ((acc = S::fmadd(acc, x, S::set1(rest))), ...);
    return acc;
  }

  // e^x. Range reduction x = n ln2 + r (|r| <= ln2/2, Cody-Waite split of ln2), e^r = 1 + r + r^2 P(r)
  // (fit error 4e-9), then scaled by 2^n. Overflow gives inf, underflow 0 (subnormals rounded once), NaN
  // propagates. Max error about 1 ulp.
  static V exp(V x) {
    // clamp with the NaN-passing operand order (min/max return their second operand on NaN)
    x = S::max_raw(S::set1(-104.0f), S::min_raw(S::set1(89.0f), x));
    V n = S::round_nearest(S::mul(x, S::set1(1.44269504088896341f)));
    V r = S::fnmadd(n, S::set1(0.693359375f), x);
    r = S::fnmadd(n, S::set1(-2.12194440e-4f), r);
    V p = horner(r, 0.0013751407386735082f, 0.008368915878236294f, 0.04166953265666962f, 0.166665181517601f,
                     0.49999988079071045f);
    p = S::fmadd(p, S::mul(r, r), r);
    return S::ldexp(S::add(p, S::set1(1.0f)), n);
  }

  // log(x). x = m 2^e with m in [sqrt(1/2), sqrt(2)), log(1+f) = f - f^2/2 + f^3 P(f) for f = m - 1 (fit
  // error 7e-9), plus e ln2 split in two. log(0) = -inf, log(<0) = NaN, log(inf) = inf, subnormals exact.
  static V log(V x) {
    const V min_normal = S::set1(1.17549435e-38f);
    Mask subnormal = S::lt(x, min_normal);
    V scaled = S::select(subnormal, S::mul(x, S::set1(8388608.0f)), x);   // * 2^23
    V e;
    V m = S::split_exponent(scaled, &e);
    e = S::select(subnormal, S::sub(e, S::set1(23.0f)), e);
    Mask big = S::gt(m, S::set1(1.41421356f));
    m = S::select(big, S::mul(m, S::set1(0.5f)), m);
    e = S::select(big, S::add(e, S::set1(1.0f)), e);
    V f = S::sub(m, S::set1(1.0f));
    V f2 = S::mul(f, f);
    V p = horner(f, -0.07362867891788483f, 0.1262032687664032f, -0.13202103972434998f, 0.14227114617824554f,
                     -0.16621370613574982f, 0.19999825954437256f, -0.2500085234642029f, 0.3333335518836975f);
    V y = S::mul(S::mul(p, f), f2);
    y = S::fmadd(e, S::set1(-2.12194440e-4f), y);
    y = S::fnmadd(S::set1(0.5f), f2, y);
    V r = S::fmadd(e, S::set1(0.693359375f), S::add(f, y));
    const V inf = S::set1(__builtin_inff());
    r = S::select(S::eq(x, inf), inf, r);
    r = S::select(S::lt(x, S::zero()), S::set1(__builtin_nanf("")), r);
    r = S::select(S::unordered(x, x), x, r);
    return S::select(S::eq(x, S::zero()), S::set1(-__builtin_inff()), r);
  }

  // tanh(x): x + x^3 P(x^2) for |x| < 0.625 (fit error 3e-9), else sign(x) (1 - 2 / (e^{2|x|} + 1)), which
  // saturates to +-1 for large |x| without overflow trouble.
  static V tanh(V x) {
    V a = S::abs(x);
    V x2 = S::mul(x, x);
    V p = horner(x2, 0.002148990985006094f, -0.00818466953933239f, 0.02170400321483612f, -0.05394745618104935f,
                      0.13333211839199066f, -0.3333333134651184f);
    V small = S::fmadd(S::mul(p, x2), x, x);
    V e = exp(S::add(a, a));
    V large = S::sub(S::set1(1.0f), S::div(S::set1(2.0f), S::add(e, S::set1(1.0f))));
    large = S::bits_or(large, S::bits_and(x, S::sign_bit()));
    return S::select(S::lt(a, S::set1(0.625f)), small, large);
  }

  // 1 / (1 + e^-x), as the reference computes it.
  static V sigmoid(V x) {
    V e = exp(S::bits_xor(x, S::sign_bit()));
    return S::div(S::set1(1.0f), S::add(S::set1(1.0f), e));
  }

  // 1 + erf(z) accurate in relative terms also where it is tiny (z << 0), and e^{-z^2} (GELU's backward needs
  // it). |z| < 0.875: erf(z) = z P(z^2) (fit error 8e-8). Otherwise erfc(|z|) = e^{-z^2} Q(t), t = 1/(1 + |z|/2)
  // (fit error 7e-8 on [0.875, 4], beyond which erf(z) rounds to +-1), and 1 + erf = 2 - erfc or erfc.
  static V one_plus_erf(V z, V* exp_minus_z2) {
    V z2 = S::mul(z, z);
    V a = S::abs(z);
    V e = exp(S::bits_xor(z2, S::sign_bit()));
    *exp_minus_z2 = e;
    V p = horner(z2, -0.0006254286272451282f, 0.005042349454015493f, -0.02679867297410965f, 0.11282670497894287f,
                      -0.3761257529258728f, 1.1283791065216064f);
    V small = S::fmadd(p, z, S::set1(1.0f));
    V t = S::div(S::set1(1.0f), S::fmadd(a, S::set1(0.5f), S::set1(1.0f)));
    V q = horner(t, -0.049907274544239044f, -0.06722155958414078f, 0.4148419499397278f, 0.09485332667827606f,
                     0.3329046964645386f, 0.273270845413208f, 0.0006302728434093297f);
    V erfc = S::mul(e, q);
    V large = S::select(S::gt(z, S::zero()), S::sub(S::set1(2.0f), erfc), erfc);
    return S::select(S::lt(a, S::set1(0.875f)), small, large);
  }
};

}  // namespace
}  // namespace kernels
}  // namespace ember
