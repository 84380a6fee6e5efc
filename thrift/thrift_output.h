// Thrift's own diagnostics (apache::thrift::GlobalOutput: a failed connect, a broken connection
// on a server thread) go through Pact's logger rather than straight to stderr, so that every
// Pact process writes one stream in one format (common/logging.h).
//
// Socket-level failures ("TSocket::...") are logged at debug: the caller already gets each of
// them as a Status and decides whether it is worth a line, and Thrift would otherwise print one
// line per attempt for as long as a peer is down. Anything else is logged as a warning.
#ifndef PACT_THRIFT_THRIFT_OUTPUT_H_
#define PACT_THRIFT_THRIFT_OUTPUT_H_

namespace pact::rpc {

// Points GlobalOutput at the logger. Idempotent and thread-safe; Connect() and RpcServer::Start()
// call it, so every process that uses Pact's Thrift edge is covered.
void RouteThriftOutputToLog();

}  // namespace pact::rpc

#endif  // PACT_THRIFT_THRIFT_OUTPUT_H_
