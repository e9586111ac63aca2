#include <halt/halt.hpp>

int main() {
  halt::cancellation_token t;
  t.cancel();
  return t.is_cancelled() ? 0 : 1;
}
