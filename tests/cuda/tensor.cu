// SPDX-License-Identifier: Apache-2.0
// tensor<T, cuda> itself: host<->device transfers, views and clones, fills, the stream-ordered
// pool reaching a steady state, streams, and Philox streams equal to the host's.
// Boost.Test first: under nvcc, <boost/mpl/list.hpp> included before it turns off the
// variadic BOOST_TEST forms.
#include <boost/test/unit_test.hpp>

#include <string>

#include <boost/mpl/list.hpp>
#include <cstring>

#include "backend_support.hpp"

namespace tessera::test {
namespace {

using scalar_types = boost::mpl::list<float, double>;

BOOST_AUTO_TEST_SUITE(cuda_tensor)

BOOST_AUTO_TEST_CASE_TEMPLATE(round_trip_and_views, T, scalar_types) {
  const tensor<T> h = uniform<T>({7, 9, 3}, 1);
  const tensor<T, cuda> d = to<cuda>(h);
  BOOST_TEST(d.shape() == h.shape());
  BOOST_TEST(to<host>(d).to_vector() == h.to_vector(), boost::test_tools::per_element());
  // to<> within one space shares storage; a strided view goes over as its elements.
  BOOST_TEST(shares_storage(to<cuda>(d), d));
  const auto view = h.permute({2, 0, 1}).slice(1, 1, 7, 2);
  BOOST_TEST(to<host>(to<cuda>(view)).to_vector() == view.to_vector(),
             boost::test_tools::per_element());
  // Device-side views, reshape of a non-contiguous view (a copy kernel), clone.
  const auto dv = d.permute({2, 0, 1}).slice(1, 1, 7, 2);
  BOOST_TEST(to<host>(dv).to_vector() == view.to_vector(), boost::test_tools::per_element());
  BOOST_TEST(to<host>(dv.reshape({-1})).to_vector() == view.reshape({-1}).to_vector(),
             boost::test_tools::per_element());
  const tensor<T, cuda> c = d.clone();
  BOOST_TEST(!shares_storage(c, d));
  c.fill_(T(2));
  BOOST_TEST(to<host>(d).to_vector() == h.to_vector(), boost::test_tools::per_element());
  const std::vector<T> twos = to<host>(c).to_vector();
  BOOST_TEST(std::all_of(twos.begin(), twos.end(), [](T v) { return v == T(2); }));
  // Empty and rank-0 tensors.
  BOOST_TEST(to<host>(to<cuda>(tensor<T>(shape_t{0, 4}))).numel() == 0);
  BOOST_TEST(to<host>(full<T, cuda>({}, T(5))).item() == T(5));
  BOOST_TEST(to<host>(zeros<T, cuda>({3})).to_vector() == std::vector<T>(3, T(0)),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE_TEMPLATE(philox_streams_equal_host, T, scalar_types) {
  generator gh(1234), gd(1234);
  for (int draw = 0; draw < 3; ++draw) {
    const tensor<T> hu = rand<T>({1001}, gh);
    const tensor<T> du = to<host>(rand<T, cuda>({1001}, gd));
    BOOST_TEST(std::memcmp(hu.data(), du.data(), 1001 * sizeof(T)) == 0, "uniform draw " << draw);
  }
  BOOST_TEST(gh.position() == gd.position());
  const tensor<T> hb = rand<T>({513}, gh, T(-3), T(7));
  const tensor<T> db = to<host>(rand<T, cuda>({513}, gd, T(-3), T(7)));
  BOOST_TEST(nmse(hb, db) <= 1e-30);  // equal unless the host contracted a + b·u into an FMA
  // Box–Muller goes through log, sin and cos: equal to a few ulps.
  const tensor<T> hn = randn<T>({4097}, gh, T(1), T(2));
  const tensor<T> dn = to<host>(randn<T, cuda>({4097}, gd, T(1), T(2)));
  BOOST_TEST(nmse(hn, dn) <= (std::is_same_v<T, float> ? 1e-12 : 1e-28));
}

BOOST_AUTO_TEST_CASE(pool_reaches_a_steady_state) {
  generator g(5);
  const auto x = rand<float, cuda>({1024, 256}, g);
  auto step = [&] {
    auto y = exp(x) * x + x;
    return sum(y, {1});
  };
  (void)step();
  cuda_rt::synchronize();
  const auto before = cuda_rt::memory_pool_usage();
  for (int i = 0; i < 20; ++i) (void)step();
  cuda_rt::synchronize();
  const auto after = cuda_rt::memory_pool_usage();
  // Freed blocks stay in the pool and are reused: no growth from the driver.
  BOOST_TEST(after.reserved == before.reserved);
}

BOOST_AUTO_TEST_CASE(small_blocks_are_reused_on_the_default_stream) {
  using cache = cuda_rt::detail::device_block_cache;
  cuda_rt::synchronize();
  cache::release();
  const float* first = nullptr;
  {
    const auto a = full<float, cuda>({16}, 1.f);
    first = a.data();
  }
  BOOST_TEST(cache::cached_bytes() == cache::min_block);  // 64 B rounds up to the 512 B class
  {
    const auto b = full<float, cuda>({100}, 2.f);  // the same class: the same block
    BOOST_TEST(b.data() == first);
    BOOST_TEST(cache::cached_bytes() == 0u);
    BOOST_TEST(to<host>(b).to_vector() == std::vector<float>(100, 2.f),
               boost::test_tools::per_element());
  }
  // Larger than the largest class, or on another stream: straight from the pool.
  const std::size_t kept = cache::cached_bytes();
  { (void)full<float, cuda>({(1 << 18) + 1}, 0.f); }
  BOOST_TEST(cache::cached_bytes() == kept);
  {
    cuda_rt::stream s;
    cuda_rt::stream_guard guard(s.get());
    { (void)full<float, cuda>({16}, 0.f); }
    BOOST_TEST(cache::cached_bytes() == kept);
    cuda_rt::synchronize();
  }
  // Work through reused blocks stays correct: a chain of small ops against the host.
  generator g(4);
  const tensor<float> h = rand<float>({37}, g);
  auto chain = [](auto x) {
    for (int i = 0; i < 50; ++i) x = exp(tanh(x) - 0.5f);
    return x;
  };
  BOOST_TEST(nmse(chain(h), to<host>(chain(to<cuda>(h)))) <= 1e-12);
  cache::release();
  BOOST_TEST(cache::cached_bytes() == 0u);
}

BOOST_AUTO_TEST_CASE(own_stream_orders_work) {
  cuda_rt::stream s;
  tensor<float> r;
  {
    cuda_rt::stream_guard guard(s.get());
    BOOST_TEST(cuda_rt::current_stream() == s.get());
    generator g(9);
    const auto a = rand<float, cuda>({300, 200}, g);
    const auto b = sum(a * a, {0});
    r = to<host>(b);  // waits on s
  }
  BOOST_TEST(cuda_rt::current_stream() == cudaStream_t{nullptr});
  generator g(9);
  const tensor<float> h = rand<float>({300, 200}, g);
  BOOST_TEST(nmse(sum(h * h, {0}), r) <= 1e-11);
}

BOOST_AUTO_TEST_CASE(a_failed_call_does_not_fail_later_launches) {
  // A failed runtime call leaves its (non-sticky) error in the thread's last-error slot; once
  // thrown it must be cleared, or every later launch check reports it again (a model that
  // failed with out-of-memory in fno_deq --device cuda would fail the next models too).
  const tensor<float> h = uniform<float>({1000}, 7);
  const auto x = to<cuda>(h);
  using device_tensor = tensor<float, cuda>;
  BOOST_CHECK_THROW(device_tensor(shape_t{index_t(1) << 44}), cuda_error);  // 64 TiB
  try {
    BOOST_TEST(to<host>(add(x, x)).to_vector() == (h + h).to_vector(),
               boost::test_tools::per_element());
  } catch (const std::exception& e) {
    BOOST_ERROR("an op after a failed allocation threw: " << e.what());
  }
  // A capture invalidated by a synchronising call: the graph throws, later work still runs.
  BOOST_CHECK_THROW(cuda_rt::graph([&] { (void)to<host>(x); }), cuda_error);
  try {
    BOOST_TEST(to<host>(mul(x, x)).to_vector() == (h * h).to_vector(),
               boost::test_tools::per_element());
  } catch (const std::exception& e) {
    BOOST_ERROR("an op after a failed capture threw: " << e.what());
  }
  // A copy from the host inside a capture is refused by name (it recorded a copy from host
  // memory that may be gone at replay; from pinned memory its wait ended the capture), and the
  // stream works afterwards.
  BOOST_CHECK_EXCEPTION(cuda_rt::graph([&] { (void)to<cuda>(h); }), invalid_argument,
                        [](const invalid_argument& e) {
                          return std::string(e.what()).find("to<cuda>") != std::string::npos;
                        });
  try {
    BOOST_TEST(to<host>(add(x, to<cuda>(h))).to_vector() == (h + h).to_vector(),
               boost::test_tools::per_element());
  } catch (const std::exception& e) {
    BOOST_ERROR("an op after a refused capture threw: " << e.what());
  }
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace
}  // namespace tessera::test
