// SPDX-License-Identifier: Apache-2.0
// Differentiable elementwise ops on ad::var. Each doc comment gives the op and its adjoint.
#pragma once

#include <cmath>
#include <type_traits>

#include "tessera/ad/node.hpp"

namespace tessera::ad {

// ------------------------------------------------------------------ binary arithmetic ----------

/// y = a + b (broadcasting);  ā += ȳ, b̄ += ȳ (each summed to its shape)
template <class T, class S>
var<T, S> add(const var<T, S>& a, const var<T, S>& b) {
  return make_op(add(a.value(), b.value()), {a, b}, [](auto& c) {
    if (c.needs(0)) c.acc(0, c.gy());
    if (c.needs(1)) c.acc(1, c.gy());
  });
}
/// y = a - b;  ā += ȳ, b̄ -= ȳ
template <class T, class S>
var<T, S> sub(const var<T, S>& a, const var<T, S>& b) {
  return make_op(sub(a.value(), b.value()), {a, b}, [](auto& c) {
    if (c.needs(0)) c.acc(0, c.gy());
    if (c.needs(1)) c.acc(1, -c.gy());
  });
}
/// y = a·b;  ā += ȳ·b, b̄ += ȳ·a
template <class T, class S>
var<T, S> mul(const var<T, S>& a, const var<T, S>& b) {
  return make_op(mul(a.value(), b.value()), {a, b}, [](auto& c) {
    if (c.needs(0)) c.acc(0, c.gy() * c.x(1));
    if (c.needs(1)) c.acc(1, c.gy() * c.x(0));
  });
}
/// y = a / b;  ā += ȳ / b, b̄ -= ȳ·y / b
template <class T, class S>
var<T, S> div(const var<T, S>& a, const var<T, S>& b) {
  return make_op(div(a.value(), b.value()), {a, b}, [](auto& c) {
    if (c.needs(0)) c.acc(0, c.gy() / c.x(1));
    if (c.needs(1)) c.acc(1, -(c.gy() * c.y()) / c.x(1));
  });
}
/// y = a^b;  ā += ȳ·b·a^(b-1), b̄ += ȳ·y·log a. Where a is 0, b̄ takes log 1 = 0 for log a
/// (0^b is constant in b for b > 0, and 0·log 0 would be NaN); where b is 0, ā takes a^0 for
/// a^(b−1) (a^0 is constant in a, and 0·0^(−1) would be NaN), as PyTorch masks them.
template <class T, class S>
var<T, S> pow(const var<T, S>& a, const var<T, S>& b) {
  return make_op(pow(a.value(), b.value()), {a, b}, [](auto& c) {
    if (c.needs(0)) {
      const tensor<T, S> b0 = eq(c.xv(1), zeros_like(c.xv(1)));
      c.acc(0, c.gy() * c.x(1) * pow(c.x(0), c.x(1) - T(1) + c.lift(b0)));
    }
    if (c.needs(1)) {
      const tensor<T, S> a0 = eq(c.xv(0), zeros_like(c.xv(0)));
      c.acc(1, c.gy() * c.y() * log(c.x(0) + c.lift(a0)));
    }
  });
}
/// y = max(a, b);  the adjoint goes to a where a >= b, else to b
template <class T, class S>
var<T, S> maximum(const var<T, S>& a, const var<T, S>& b) {
  return make_op(maximum(a.value(), b.value()), {a, b}, [](auto& c) {
    const tensor<T, S> m = ge(c.xv(0), c.xv(1));
    if (c.needs(0)) c.acc(0, c.gy() * c.lift(m));
    if (c.needs(1)) c.acc(1, c.gy() * c.lift(rsub(m, T(1))));
  });
}
/// y = min(a, b);  the adjoint goes to a where a <= b, else to b
template <class T, class S>
var<T, S> minimum(const var<T, S>& a, const var<T, S>& b) {
  return make_op(minimum(a.value(), b.value()), {a, b}, [](auto& c) {
    const tensor<T, S> m = le(c.xv(0), c.xv(1));
    if (c.needs(0)) c.acc(0, c.gy() * c.lift(m));
    if (c.needs(1)) c.acc(1, c.gy() * c.lift(rsub(m, T(1))));
  });
}
/// y = cond ? a : b with a constant condition;  ā += ȳ·[cond], b̄ += ȳ·[¬cond]
template <class T, class S>
var<T, S> where(const tensor<T, S>& cond, const var<T, S>& a, const var<T, S>& b) {
  return make_op(where(cond, a.value(), b.value()), {a, b}, [cond](auto& c) {
    const tensor<T, S> m = ne(cond, detail::filled<T, S>(shape_t{}, T(0)));
    if (c.needs(0)) c.acc(0, c.gy() * c.lift(m));
    if (c.needs(1)) c.acc(1, c.gy() * c.lift(rsub(m, T(1))));
  });
}

// ------------------------------------------------------------------ with a scalar --------------

/// y = x + s;  x̄ += ȳ
template <class T, class S>
var<T, S> add(const var<T, S>& x, T s) {
  return make_op(add(x.value(), s), {x}, [](auto& c) { c.acc(0, c.gy()); });
}
/// y = x·s;  x̄ += s·ȳ
template <class T, class S>
var<T, S> mul(const var<T, S>& x, T s) {
  return make_op(mul(x.value(), s), {x}, [s](auto& c) { c.acc(0, c.gy() * s); });
}
/// y = s - x;  x̄ -= ȳ
template <class T, class S>
var<T, S> rsub(const var<T, S>& x, T s) {
  return make_op(rsub(x.value(), s), {x}, [](auto& c) { c.acc(0, -c.gy()); });
}
/// y = s / x;  x̄ -= ȳ·y / x
template <class T, class S>
var<T, S> rdiv(const var<T, S>& x, T s) {
  return make_op(rdiv(x.value(), s), {x}, [](auto& c) { c.acc(0, -(c.gy() * c.y()) / c.x(0)); });
}
/// y = x^p;  x̄ += ȳ·p·x^(p-1) (nothing for p = 0: x^0 is constant, and 0·0^(−1) would be NaN)
template <class T, class S>
var<T, S> pow(const var<T, S>& x, T p) {
  return make_op(pow(x.value(), p), {x}, [p](auto& c) {
    if (p == T(0)) return;
    if (p == T(2))
      c.acc(0, c.gy() * c.x(0) * T(2));
    else
      c.acc(0, c.gy() * pow(c.x(0), p - T(1)) * p);
  });
}

// ------------------------------------------------------------------ unary ----------------------

/// y = -x;  x̄ -= ȳ
template <class T, class S>
var<T, S> neg(const var<T, S>& x) {
  return make_op(neg(x.value()), {x}, [](auto& c) { c.acc(0, -c.gy()); });
}
/// y = |x|;  x̄ += ȳ·sign(x)
template <class T, class S>
var<T, S> abs(const var<T, S>& x) {
  return make_op(abs(x.value()), {x}, [](auto& c) { c.acc(0, c.gy() * c.lift(sign(c.xv(0)))); });
}
/// y = sign(x) (piecewise constant);  x̄ += 0
template <class T, class S>
var<T, S> sign(const var<T, S>& x) {
  return constant(sign(x.value()));
}
/// y = [x > 0] (piecewise constant);  x̄ += 0
template <class T, class S>
var<T, S> heaviside(const var<T, S>& x) {
  return constant(heaviside(x.value()));
}
/// y = eˣ;  x̄ += ȳ·y
template <class T, class S>
var<T, S> exp(const var<T, S>& x) {
  return make_op(exp(x.value()), {x}, [](auto& c) { c.acc(0, c.gy() * c.y()); });
}
/// y = eˣ - 1;  x̄ += ȳ·(y + 1)
template <class T, class S>
var<T, S> expm1(const var<T, S>& x) {
  return make_op(expm1(x.value()), {x}, [](auto& c) { c.acc(0, c.gy() * (c.y() + T(1))); });
}
/// y = log x;  x̄ += ȳ / x
template <class T, class S>
var<T, S> log(const var<T, S>& x) {
  return make_op(log(x.value()), {x}, [](auto& c) { c.acc(0, c.gy() / c.x(0)); });
}
/// y = log(1 + x);  x̄ += ȳ / (1 + x)
template <class T, class S>
var<T, S> log1p(const var<T, S>& x) {
  return make_op(log1p(x.value()), {x}, [](auto& c) { c.acc(0, c.gy() / (c.x(0) + T(1))); });
}
/// y = √x;  x̄ += ȳ / (2y)
template <class T, class S>
var<T, S> sqrt(const var<T, S>& x) {
  return make_op(sqrt(x.value()), {x}, [](auto& c) { c.acc(0, c.gy() / (c.y() * T(2))); });
}
/// y = 1/√x;  x̄ += -½·ȳ·y³
template <class T, class S>
var<T, S> rsqrt(const var<T, S>& x) {
  return make_op(rsqrt(x.value()), {x},
                 [](auto& c) { c.acc(0, c.gy() * (c.y() * c.y() * c.y()) * T(-0.5)); });
}
/// y = x²;  x̄ += 2·ȳ·x
template <class T, class S>
var<T, S> square(const var<T, S>& x) {
  return make_op(square(x.value()), {x}, [](auto& c) { c.acc(0, c.gy() * c.x(0) * T(2)); });
}
/// y = 1/x;  x̄ -= ȳ·y²
template <class T, class S>
var<T, S> reciprocal(const var<T, S>& x) {
  return make_op(reciprocal(x.value()), {x}, [](auto& c) { c.acc(0, -(c.gy() * c.y() * c.y())); });
}
/// y = sin x;  x̄ += ȳ·cos x
template <class T, class S>
var<T, S> sin(const var<T, S>& x) {
  return make_op(sin(x.value()), {x}, [](auto& c) { c.acc(0, c.gy() * cos(c.x(0))); });
}
/// y = cos x;  x̄ -= ȳ·sin x
template <class T, class S>
var<T, S> cos(const var<T, S>& x) {
  return make_op(cos(x.value()), {x}, [](auto& c) { c.acc(0, -(c.gy() * sin(c.x(0)))); });
}
/// y = erf x;  x̄ += ȳ·(2/√π)·e^(-x²)
template <class T, class S>
var<T, S> erf(const var<T, S>& x) {
  return make_op(erf(x.value()), {x},
                 [](auto& c) { c.acc(0, c.gy() * exp(-square(c.x(0))) * T(1.1283791670955126)); });
}
/// y = tanh x;  x̄ += ȳ·(1 - y²)
template <class T, class S>
var<T, S> tanh(const var<T, S>& x) {
  return make_op(tanh(x.value()), {x}, [](auto& c) {
    if constexpr (std::decay_t<decltype(c)>::graph)
      c.acc(0, c.gy() * (T(1) - square(c.y())));
    else if constexpr (std::is_same_v<S, host>)  // one fused pass
      c.acc(0, tessera::detail::binary_map<T>("tanh_backward", c.gy(), c.y(),
                                              [](T g, T t) { return g * (T(1) - t * t); }));
    else  // the space's fused kernel (cuda/elementwise.cuh): one launch instead of three
      c.acc(0, tanh_backward(c.gy(), c.y()));
  });
}
/// y = σ(x);  x̄ += ȳ·y·(1 - y)
template <class T, class S>
var<T, S> sigmoid(const var<T, S>& x) {
  return make_op(sigmoid(x.value()), {x}, [](auto& c) {
    if constexpr (std::decay_t<decltype(c)>::graph)
      c.acc(0, c.gy() * c.y() * (T(1) - c.y()));
    else if constexpr (std::is_same_v<S, host>)
      c.acc(0, tessera::detail::binary_map<T>("sigmoid_backward", c.gy(), c.y(),
                                              [](T g, T s) { return g * s * (T(1) - s); }));
    else
      c.acc(0, sigmoid_backward(c.gy(), c.y()));
  });
}
/// y = max(x, 0);  x̄ += ȳ·[x > 0]
template <class T, class S>
var<T, S> relu(const var<T, S>& x) {
  return make_op(relu(x.value()), {x}, [](auto& c) {
    if constexpr (std::decay_t<decltype(c)>::graph)
      c.acc(0, c.gy() * c.lift(heaviside(c.xv(0))));
    else if constexpr (std::is_same_v<S, host>)  // one fused pass, no mask tensor
      c.acc(0, tessera::detail::binary_map<T>("relu_backward", c.gy(), c.xv(0),
                                              [](T g, T v) { return v > T(0) ? g : T(0); }));
    else  // the space's fused kernel (cuda/elementwise.cuh)
      c.acc(0, relu_backward(c.gy(), c.xv(0)));
  });
}
/// y = x·Φ(x);  x̄ += ȳ·(Φ(x) + x·φ(x))
template <class T, class S>
var<T, S> gelu(const var<T, S>& x) {
  return make_op(gelu(x.value()), {x}, [](auto& c) {
    if constexpr (std::decay_t<decltype(c)>::graph) {
      const auto& v = c.x(0);
      c.acc(0, c.gy() * ((erf(v * T(0.7071067811865476)) + T(1)) * T(0.5) +
                         v * exp(square(v) * T(-0.5)) * T(0.3989422804014327)));
    } else if constexpr (std::is_same_v<S, host>) {  // one fused, vectorised pass from x
      c.acc(0, tessera::detail::gelu_backward(c.gy(), c.xv(0)));
    } else {  // the space's fused kernel (cuda/elementwise.cuh)
      c.acc(0, gelu_backward(c.gy(), c.xv(0)));
    }
  });
}
/// y = gelu(a + b) (b broadcasting to a or the other way), one pass each way on cuda;
/// ā += ȳ·gelu'(a + b), b̄ += the same summed to b's shape.
template <class T, class S>
var<T, S> add_gelu(const var<T, S>& a, const var<T, S>& b) {
  return make_op(add_gelu(a.value(), b.value()), {a, b}, [](auto& c) {
    if constexpr (std::decay_t<decltype(c)>::graph) {
      const auto v = c.x(0) + c.x(1);
      const auto g = c.gy() * ((erf(v * T(0.7071067811865476)) + T(1)) * T(0.5) +
                               v * exp(square(v) * T(-0.5)) * T(0.3989422804014327));
      c.acc(0, g);
      c.acc(1, g);
    } else {  // one fused pass on cuda (cuda/elementwise.cuh)
      tensor<T, S> g = add_gelu_backward(c.gy(), c.xv(0), c.xv(1));
      c.acc(1, g);
      c.acc(0, std::move(g));
    }
  });
}
/// y = ½x(1 + tanh u), u = √(2/π)(x + 0.044715x³);
/// x̄ += ȳ·(½(1 + tanh u) + ½x(1 - tanh²u)·√(2/π)(1 + 3·0.044715x²))
template <class T, class S>
var<T, S> gelu_tanh(const var<T, S>& x) {
  return make_op(gelu_tanh(x.value()), {x}, [](auto& c) {
    if constexpr (std::decay_t<decltype(c)>::graph) {
      const auto& v = c.x(0);
      constexpr T k = T(0.7978845608028654), a = T(0.044715);
      const auto t = tanh((v + v * v * v * a) * k);
      c.acc(0, c.gy() * ((t + T(1)) * T(0.5) +
                         v * (T(1) - square(t)) * (square(v) * (T(3) * a) + T(1)) * (k * T(0.5))));
    } else if constexpr (std::is_same_v<S, host>) {  // one fused, vectorised pass from x
      c.acc(0, tessera::detail::gelu_backward<true>(c.gy(), c.xv(0)));
    } else {
      c.acc(0, gelu_tanh_backward(c.gy(), c.xv(0)));
    }
  });
}
/// y = x·σ(x);  x̄ += ȳ·σ(x)·(1 + x·(1 - σ(x)))
template <class T, class S>
var<T, S> silu(const var<T, S>& x) {
  return make_op(silu(x.value()), {x}, [](auto& c) {
    const auto s = sigmoid(c.x(0));
    c.acc(0, c.gy() * s * (c.x(0) * (T(1) - s) + T(1)));
  });
}
/// y = log(1 + eˣ);  x̄ += ȳ·σ(x)
template <class T, class S>
var<T, S> softplus(const var<T, S>& x) {
  return make_op(softplus(x.value()), {x}, [](auto& c) { c.acc(0, c.gy() * sigmoid(c.x(0))); });
}
/// y = min(max(x, lo), hi);  x̄ += ȳ·[lo <= x <= hi]
template <class T, class S>
var<T, S> clamp(const var<T, S>& x, T lo, T hi) {
  return make_op(clamp(x.value(), lo, hi), {x},
                 [lo, hi](auto& c) { c.acc(0, c.gy() * c.lift(inside_mask(c.xv(0), lo, hi))); });
}

// ------------------------------------------------------------------ comparisons (constants) -----

/// 0/1 masks; not differentiable (their results are constants).
template <class T, class S>
var<T, S> eq(const var<T, S>& a, const var<T, S>& b) {
  return constant(eq(a.value(), b.value()));
}
template <class T, class S>
var<T, S> lt(const var<T, S>& a, const var<T, S>& b) {
  return constant(lt(a.value(), b.value()));
}
template <class T, class S>
var<T, S> gt(const var<T, S>& a, const var<T, S>& b) {
  return constant(gt(a.value(), b.value()));
}

// ------------------------------------------------------------------ operators ------------------

template <class T, class S>
var<T, S> operator+(const var<T, S>& a, const var<T, S>& b) {
  return add(a, b);
}
template <class T, class S>
var<T, S> operator-(const var<T, S>& a, const var<T, S>& b) {
  return sub(a, b);
}
template <class T, class S>
var<T, S> operator*(const var<T, S>& a, const var<T, S>& b) {
  return mul(a, b);
}
template <class T, class S>
var<T, S> operator/(const var<T, S>& a, const var<T, S>& b) {
  return div(a, b);
}
template <class T, class S>
var<T, S> operator-(const var<T, S>& a) {
  return neg(a);
}
template <class T, class S>
var<T, S> operator+(const var<T, S>& a, std::type_identity_t<T> s) {
  return add(a, s);
}
template <class T, class S>
var<T, S> operator+(std::type_identity_t<T> s, const var<T, S>& a) {
  return add(a, s);
}
template <class T, class S>
var<T, S> operator-(const var<T, S>& a, std::type_identity_t<T> s) {
  return add(a, -s);
}
template <class T, class S>
var<T, S> operator-(std::type_identity_t<T> s, const var<T, S>& a) {
  return rsub(a, s);
}
template <class T, class S>
var<T, S> operator*(const var<T, S>& a, std::type_identity_t<T> s) {
  return mul(a, s);
}
template <class T, class S>
var<T, S> operator*(std::type_identity_t<T> s, const var<T, S>& a) {
  return mul(a, s);
}
template <class T, class S>
var<T, S> operator/(const var<T, S>& a, std::type_identity_t<T> s) {
  return mul(a, T(1) / s);
}
template <class T, class S>
var<T, S> operator/(std::type_identity_t<T> s, const var<T, S>& a) {
  return rdiv(a, s);
}
/// Mixed var/tensor arithmetic treats the tensor as a constant.
template <class T, class S>
var<T, S> operator+(const var<T, S>& a, const tensor<T, S>& b) {
  return add(a, constant(b));
}
template <class T, class S>
var<T, S> operator-(const var<T, S>& a, const tensor<T, S>& b) {
  return sub(a, constant(b));
}
template <class T, class S>
var<T, S> operator*(const var<T, S>& a, const tensor<T, S>& b) {
  return mul(a, constant(b));
}
template <class T, class S>
var<T, S> operator/(const var<T, S>& a, const tensor<T, S>& b) {
  return div(a, constant(b));
}

}  // namespace tessera::ad
