// Compiled by the halt.asio.* tests (tests/CMakeLists.txt), which expect it to fail with halt's
// message: with tests/cmake/asio_checks/old_asio (or old_boost) first on the include path (an Asio
// or a Boost too old), with HALT_TEST_FAKE_BOOST_ASIO (Boost.Asio headers included before halt's
// on standalone Asio) or with HALT_TEST_FAKE_STANDALONE_ASIO (the other way round).
#ifdef HALT_TEST_FAKE_BOOST_ASIO
#define BOOST_ASIO_VERSION 102600 // what <boost/asio/version.hpp> of Boost 1.81 defines
#endif
#ifdef HALT_TEST_FAKE_STANDALONE_ASIO
#define ASIO_VERSION 102201 // what <asio/version.hpp> of Asio 1.22.1 defines
#endif
#include <halt/halt.hpp>
int main() {}
