// ShutdownSignals: how a Pact server's main() waits for SIGINT or SIGTERM. Constructed first
// in main(), it blocks both signals in the calling thread, and so in every thread started
// afterwards (they inherit the mask); Wait() then receives them synchronously, so shutdown
// runs in order on the main thread instead of in a signal handler.
#ifndef PACT_COMMON_SHUTDOWN_SIGNALS_H_
#define PACT_COMMON_SHUTDOWN_SIGNALS_H_

#include <signal.h>

namespace pact {

class ShutdownSignals {
 public:
  ShutdownSignals();
  // Blocks until SIGINT or SIGTERM arrives; returns its number.
  int Wait();

 private:
  sigset_t signals_;
};

}  // namespace pact

#endif  // PACT_COMMON_SHUTDOWN_SIGNALS_H_
