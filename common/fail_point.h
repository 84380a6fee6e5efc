// Fail points: named places in the edge code where a test can make the process die as if by
// `kill -9`, at exactly that step of the protocol. They are how the integration tests crash a
// coordinator "after all YES votes, before the decision is durable" or a participant "after
// PREPARE TRANSACTION, before its PREPARED record", which a kill from outside could only hit
// by luck.
//
// Armed by the environment, read once at start-up:
//   PACT_FAIL_POINT=<name>        die the first time <name> is reached
//   PACT_FAIL_POINT=<name>:<n>    die the n-th time
// Unarmed (the normal case) a fail point costs one relaxed atomic load.
//
// The names in use are listed in kFailPoints; an armed name that is not among them is an
// error at start-up (ValidateFailPointEnvironment), so a typo cannot silently disarm a test.
#ifndef PACT_COMMON_FAIL_POINT_H_
#define PACT_COMMON_FAIL_POINT_H_

#include <array>
#include <string_view>

#include "common/status.h"

namespace pact {

inline constexpr std::array<std::string_view, 6> kFailPoints = {
    "coordinator.before_decision_flush",  // every vote is in; COMMIT not yet durable
    "coordinator.after_decision_durable",  // COMMIT durable; no COMMIT sent, client not told
    "participant.after_store_prepare",     // store prepared; PREPARED not yet logged
    "participant.after_prepared_durable",  // PREPARED logged; YES not yet sent
    "participant.after_store_commit",      // store committed; COMMITTED not yet logged
    "participant.after_store_rollback",    // store rolled back; ABORTED not yet logged
};

// InvalidArgument when PACT_FAIL_POINT is set to something malformed or unknown.
Status ValidateFailPointEnvironment();

// Dies with SIGKILL if `name` is the armed point and this is the armed hit.
void FailPoint(std::string_view name);

}  // namespace pact

#endif  // PACT_COMMON_FAIL_POINT_H_
