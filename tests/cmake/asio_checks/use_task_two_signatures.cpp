// Compiled by the halt.use_task.two_signatures test (tests/CMakeLists.txt), which expects it to
// fail with halt's message: an operation with two completion signatures awaited through
// halt::use_task. With -DHALT_TEST_REDIRECT_ERROR, through asio::redirect_error(halt::use_task, ec).
#include <halt/task.hpp>

namespace {

struct two_signatures_initiation {
  template <class Handler>
  void operator()(Handler&&) const {}
};

template <class CompletionToken>
auto async_two_signatures(CompletionToken&& token) {
  return halt::asio::async_initiate<CompletionToken, void(halt::error_code, int), void(halt::error_code)>(
      two_signatures_initiation{}, token);
}

halt::task<void> awaits_it() {
#ifdef HALT_TEST_REDIRECT_ERROR
  halt::error_code ec;
  co_await async_two_signatures(halt::asio::redirect_error(halt::use_task, ec));
#else
  co_await async_two_signatures(halt::use_task);
#endif
}

} // namespace

int main() { (void)&awaits_it; }
