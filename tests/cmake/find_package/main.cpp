#include <halt/halt.hpp>

// Set by the package tests when halt was built on Boost.Asio: the package must say so too.
#if defined(HALT_EXPECT_BOOST_ASIO) && !HALT_ASIO_BOOST
#error "halt was built on Boost.Asio, but its package did not define HALT_USE_BOOST_ASIO"
#endif

int main() {
  halt::cancellation_token t;
  t.cancel();
  return t.is_cancelled() ? 0 : 1;
}
