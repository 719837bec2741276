// SPDX-License-Identifier: Apache-2.0
// The host allocator behind tensor storage: 64-byte alignment at every size, and the
// per-thread cache of large blocks (reuse, size classes, bounds, frees from other threads).
#include <boost/test/unit_test.hpp>

#include <chrono>
#include <cstdint>
#include <thread>
#include <vector>

#include <tessera/core.hpp>

using namespace tessera;
using cache = tessera::detail::host_block_cache;

BOOST_AUTO_TEST_SUITE(host_allocator)

BOOST_AUTO_TEST_CASE(storage_is_64_byte_aligned_at_every_size) {
  for (index_t n : {0, 1, 3, 16, 17, 127, 128, 129, 1000, 20000, 100000}) {
    const tensor<float> f(shape_t{n});
    const tensor<double> d(shape_t{n});
    BOOST_TEST(reinterpret_cast<std::uintptr_t>(f.data()) % 64 == 0u, "float n=" << n);
    BOOST_TEST(reinterpret_cast<std::uintptr_t>(d.data()) % 64 == 0u, "double n=" << n);
  }
}

BOOST_AUTO_TEST_CASE(size_classes_bound_the_slack) {
  for (std::size_t b = cache::min_block; b < (std::size_t(64) << 20); b = b * 9 / 8 + 1) {
    const std::size_t c = cache::size_class(b);
    BOOST_TEST(c >= b);
    BOOST_TEST(double(c) <= 1.25 * double(b) + 1);
    BOOST_TEST(cache::size_class(c) == c);  // a class is its own class
  }
}

#if !TESSERA_DETAIL_HAS_ASAN && !defined(__SANITIZE_ADDRESS__)
BOOST_AUTO_TEST_CASE(a_freed_large_block_is_reused_by_the_same_size) {
  cache::release();
  const float* first = nullptr;
  {
    const tensor<float> t(shape_t{100000});  // 400 kB
    first = t.data();
    BOOST_TEST(cache::cached_bytes() == 0u);
  }
  BOOST_TEST(cache::cached_bytes() >= 400000u);
  {
    const tensor<float> t(shape_t{99000});  // same size class
    BOOST_TEST(t.data() == first);
    BOOST_TEST(cache::cached_bytes() == 0u);
  }
  cache::release();
  BOOST_TEST(cache::cached_bytes() == 0u);
}

BOOST_AUTO_TEST_CASE(cache_bound_follows_the_threads_peak) {
  cache::release();
  BOOST_TEST(cache::limit() == cache::floor_bytes);     // nothing live: the floor
  constexpr std::size_t block = std::size_t(16) << 20;  // 16 MiB, its own size class
  {
    std::vector<tensor<double>> many;
    // 40 blocks of 16 MiB = 640 MiB in flight: the peak, above the 256 MiB floor.
    for (int i = 0; i < 40; ++i) many.emplace_back(shape_t{index_t(2) << 20});
    BOOST_TEST(cache::limit() == 40 * block);
  }
  // All of it is kept: the next step of a loop that held 640 MiB finds its blocks again.
  BOOST_TEST(cache::cached_bytes() == 40 * block);
  {
    std::vector<tensor<double>> again;
    for (int i = 0; i < 40; ++i) again.emplace_back(shape_t{index_t(2) << 20});
    BOOST_TEST(cache::cached_bytes() == 0u);  // every block came from the cache
  }
  // release() gives the blocks back and forgets the peak: the bound is the floor again, and
  // a burst above it keeps no more than the new peak.
  release_host_cache();
  BOOST_TEST(host_cache_bytes() == 0u);
  BOOST_TEST(cache::limit() == cache::floor_bytes);
  {
    std::vector<tensor<double>> few;
    for (int i = 0; i < 8; ++i) few.emplace_back(shape_t{index_t(2) << 20});  // 128 MiB
  }
  BOOST_TEST(cache::cached_bytes() == 8 * block);
  BOOST_TEST(cache::limit() == cache::floor_bytes);
  // Freed blocks beyond the bound go back to the system, oldest first: 20 blocks live at
  // once (320 MiB peak), then 30 allocated and freed one by one keep the cache at the peak.
  release_host_cache();
  {
    std::vector<tensor<double>> twenty;
    for (int i = 0; i < 20; ++i) twenty.emplace_back(shape_t{index_t(2) << 20});
  }
  BOOST_TEST(cache::cached_bytes() == 20 * block);
  {
    std::vector<tensor<float>> other;  // another size class (8 MiB): no reuse
    for (int i = 0; i < 30; ++i) other.emplace_back(shape_t{index_t(2) << 20});
  }
  BOOST_TEST(cache::cached_bytes() <= cache::limit());
  BOOST_TEST(cache::limit() == 20 * block);
  release_host_cache();
}

// Blocks a thread allocates and another frees (a producer handing batches to a consumer) leave
// the producer's live count when they are freed: its peak, and so its cache's bound, is what it
// held at once. Before, only the freeing thread's count went down, and the producer's climbed
// with every block it handed over (here to 100 blocks instead of 20).
BOOST_AUTO_TEST_CASE(blocks_freed_on_another_thread_leave_the_allocating_threads_count) {
  release_host_cache();
  constexpr std::size_t block = std::size_t(16) << 20;
  for (int round = 0; round < 5; ++round) {
    std::vector<tensor<double>> batch;
    for (int i = 0; i < 20; ++i) batch.emplace_back(shape_t{index_t(2) << 20});
    std::thread consumer([b = std::move(batch)]() mutable { b.clear(); });
    consumer.join();
  }
  BOOST_TEST(cache::limit() == 20 * block);
  BOOST_TEST(cache::cached_bytes() == 0u);  // the consumer kept what it freed, until it exited
  release_host_cache();
  BOOST_TEST(cache::limit() == cache::floor_bytes);
}

BOOST_AUTO_TEST_CASE(idle_blocks_go_back_after_the_decay_time) {
  release_host_cache();
  cache::set_decay(std::chrono::milliseconds(20));
  { const tensor<float> t(shape_t{100000}); }  // 400 kB, now cached
  BOOST_TEST(host_cache_bytes() >= 400000u);
  std::this_thread::sleep_for(std::chrono::milliseconds(60));
  // The next large allocation (another size class) sweeps the block that sat idle.
  const tensor<float> u(shape_t{30000});
  BOOST_TEST(host_cache_bytes() == 0u);
  cache::set_decay(std::chrono::milliseconds(cache::default_decay_ms));
  { const tensor<float> t(shape_t{100000}); }
  const tensor<float> v(shape_t{30000});
  BOOST_TEST(host_cache_bytes() >= 400000u);  // well within the default 10 s: kept
  release_host_cache();
}

BOOST_AUTO_TEST_CASE(blocks_freed_on_another_thread_go_to_that_threads_cache) {
  cache::release();
  tensor<float> t(shape_t{50000});
  t.fill_(1.0f);
  std::size_t other_cached = 0;
  std::thread worker([&] {
    t = tensor<float>();  // the last reference dies here
    other_cached = cache::cached_bytes();
  });
  worker.join();
  BOOST_TEST(other_cached >= 200000u);
  BOOST_TEST(cache::cached_bytes() == 0u);
  // The worker's cache was released when it exited; blocks allocated here still work.
  const tensor<float> u = full<float>(shape_t{50000}, 2.0f);
  BOOST_TEST(u.data()[49999] == 2.0f);
}
#endif

BOOST_AUTO_TEST_SUITE_END()
