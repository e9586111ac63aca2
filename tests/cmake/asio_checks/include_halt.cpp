// Compiled by the halt.asio.* tests (tests/CMakeLists.txt), which expect it to fail with halt's
// message: with tests/cmake/asio_checks/old_asio first on the include path (an Asio too old), or
// with HALT_TEST_FAKE_BOOST_ASIO (Boost.Asio headers included before halt's).
#ifdef HALT_TEST_FAKE_BOOST_ASIO
#define BOOST_ASIO_VERSION 108100 // what <boost/asio/version.hpp> of Boost 1.81 defines
#endif
#include <halt/halt.hpp>
int main() {}
