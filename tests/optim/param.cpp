// SPDX-License-Identifier: Apache-2.0
// topt::param_slot, slots_of over parameter-like objects, zero_grad.
#include <array>
#include <boost/test/unit_test.hpp>
#include <memory>
#include <vector>

#include "helpers.hpp"
#include "tessera/optim/adam.hpp"
#include "tessera/optim/param.hpp"

using namespace tessera;
namespace topt = tessera::optim;
using optim_test::check_values;
using optim_test::vec;

namespace {

/// Shaped like ad::parameter<T>: mutable references to persistent value and grad tensors.
template <class T>
class mock_parameter {
 public:
  explicit mock_parameter(tensor<T> v) : value_(std::move(v)), grad_(zeros_like(value_)) {}
  tensor<T>& value() noexcept { return value_; }
  const tensor<T>& value() const noexcept { return value_; }
  tensor<T>& grad() noexcept { return grad_; }
  const tensor<T>& grad() const noexcept { return grad_; }

 private:
  tensor<T> value_, grad_;
};

struct by_value_only {  // grad() returns a copy: cannot be updated in place
  tensor<float> v;
  tensor<float>& value() { return v; }
  tensor<float> grad() { return v; }
};

}  // namespace

static_assert(topt::parameter_like<mock_parameter<float>>);
static_assert(!topt::parameter_like<const mock_parameter<float>>);
static_assert(!topt::parameter_like<by_value_only>);
static_assert(!topt::parameter_like<tensor<float>>);

BOOST_AUTO_TEST_SUITE(optim)
BOOST_AUTO_TEST_SUITE(param)

BOOST_AUTO_TEST_CASE(slots_of_objects_pointers_and_smart_pointers) {
  std::vector<mock_parameter<double>> params;
  params.emplace_back(vec<double>({1, 2}));
  params.emplace_back(vec<double>({3}));
  const auto s = topt::slots_of(params);
  static_assert(std::is_same_v<decltype(s), const std::vector<topt::param_slot<double>>>);
  BOOST_TEST(s.size() == 2u);
  BOOST_TEST(s[0].value == &params[0].value());
  BOOST_TEST(s[1].grad == &params[1].grad());

  std::vector<mock_parameter<double>*> ptrs{&params[1], &params[0]};
  const auto sp = topt::slots_of(ptrs);
  BOOST_TEST(sp[0].value == &params[1].value());

  std::vector<std::unique_ptr<mock_parameter<float>>> owned;
  owned.push_back(std::make_unique<mock_parameter<float>>(vec<float>({5})));
  const auto su = topt::slots_of(owned);
  BOOST_TEST(su[0].grad == &owned[0]->grad());

  std::array<mock_parameter<float>, 1> arr{mock_parameter<float>(vec<float>({7}))};
  BOOST_TEST(topt::slots_of(arr)[0].value == &arr[0].value());
}

BOOST_AUTO_TEST_CASE(optimizer_over_parameter_objects) {
  std::vector<mock_parameter<double>> params;
  params.emplace_back(vec<double>({1, 2}));
  params.emplace_back(vec<double>({3}));
  topt::adam<double> opt(topt::slots_of(params), {.lr = 0.5, .eps = 0});
  params[0].grad().fill_(-1.0);
  params[1].grad().fill_(4.0);
  opt.step();  // first Adam step: p − η sign(g)
  check_values(params[0].value(), {1.5, 2.5}, 1e-15);
  check_values(params[1].value(), {2.5}, 1e-15);
  opt.zero_grad();
  check_values(params[0].grad(), {0, 0}, 0.0);
  check_values(params[1].grad(), {0}, 0.0);
}

BOOST_AUTO_TEST_CASE(zero_grad_skips_undefined) {
  tensor<float> a = vec<float>({1}), ga = vec<float>({2}), b = vec<float>({3}), gb;
  topt::zero_grad<float>({{&a, &ga}, {&b, &gb}, {&b, nullptr}});
  BOOST_TEST(ga.item() == 0.0f);
  BOOST_TEST(!gb.defined());
}

BOOST_AUTO_TEST_SUITE_END()
BOOST_AUTO_TEST_SUITE_END()
