#include "pact/participant.h"

#include <fmt/format.h>

#include "common/file_system.h"
#include "common/logging.h"
#include "participant/sdk/participant_driver.h"
#include "participant/sdk/participant_service.h"
#include "thrift/endpoint.h"

namespace pact {
namespace {

// The core's name for the coordinator cluster: the driver sends everything addressed to it to
// the current leader through the CoordinatorChannel.
constexpr std::string_view kCoordinatorName = "coordinator";

Result<std::vector<participant::ParticipantRecord>> ReadLog(FileSystem* fs,
                                                             const wal::LogOptions& options,
                                                             std::unique_ptr<wal::Log>* log) {
  std::vector<participant::ParticipantRecord> records;
  wal::RecoveryReport report;
  auto replay = [&](wal::Lsn lsn, std::string_view bytes) -> Status {
    Result<participant::ParticipantRecord> record = participant::DecodeRecord(bytes);
    if (!record.ok()) return record.status().WithContext(fmt::format("LSN {}", lsn));
    records.push_back(std::move(record).value());
    return Status::Ok();
  };
  PACT_ASSIGN_OR_RETURN(*log, wal::Log::Open(fs, options, replay, &report));
  if (report.truncated_tail) {
    PACT_LOG_WARN("participant log: cut a torn tail of {} bytes from {}", report.truncated_bytes,
                  report.truncated_file);
  }
  return records;
}

}  // namespace

class Participant::Impl {
 public:
  std::shared_ptr<Resource> resource;
  std::unique_ptr<sdk::ParticipantDriver> driver;
  std::unique_ptr<rpc::RpcServer> server;
  std::string address;
  int join_wait_ms = 0;

  void Stop() {
    if (server != nullptr) server->Stop();
    if (driver != nullptr) driver->Stop();
  }
};

Result<std::unique_ptr<Participant>> Participant::Start(const ParticipantConfig& config,
                                                        std::shared_ptr<Resource> resource) {
  if (config.data_dir.empty()) return Status::InvalidArgument("participant data_dir is empty");
  if (resource == nullptr) return Status::InvalidArgument("participant needs a resource");
  PACT_ASSIGN_OR_RETURN(rpc::Endpoint listen, rpc::Endpoint::Parse(config.listen));
  if (!config.advertise.empty()) {
    PACT_ASSIGN_OR_RETURN(rpc::Endpoint advertised, rpc::Endpoint::Parse(config.advertise));
    if (advertised.port == 0) return Status::InvalidArgument("advertise address has port 0");
  }
  rpc::ClientOptions coordinator_rpc;
  coordinator_rpc.call_timeout_ms = config.coordinator_call_timeout_ms;
  PACT_ASSIGN_OR_RETURN(std::unique_ptr<sdk::CoordinatorChannel> channel,
                        sdk::CoordinatorChannel::Create(config.coordinators, coordinator_rpc));

  FileSystem* fs = PosixFileSystem::Default();
  PACT_RETURN_IF_ERROR(fs->CreateDirs(config.data_dir));
  wal::LogOptions log_options;
  log_options.dir = JoinPath(config.data_dir, "participant-log");
  std::unique_ptr<wal::Log> log;
  PACT_ASSIGN_OR_RETURN(std::vector<participant::ParticipantRecord> records,
                        ReadLog(fs, log_options, &log));
  PACT_ASSIGN_OR_RETURN(std::vector<BranchId> prepared, resource->ListPrepared());

  auto impl = std::make_unique<Impl>();
  impl->resource = resource;
  impl->join_wait_ms = config.join_wait_ms;
  sdk::ParticipantDriverOptions options;
  options.tick_ms = config.tick_ms;
  options.store_threads = config.store_threads;
  options.core.coordinator = std::string(kCoordinatorName);
  PACT_ASSIGN_OR_RETURN(impl->driver,
                        sdk::ParticipantDriver::Create(options, std::move(log), resource,
                                                       std::move(channel)));

  // Serve before recovering: the advertised address needs the bound port, and requests that
  // arrive meanwhile wait in the driver's queue until it runs.
  std::vector<rpc::ServiceBinding> services = config.extra_services;
  services.push_back(
      {"Participant", std::make_shared<rpc::ParticipantProcessor>(
                          std::make_shared<sdk::ParticipantService>(impl->driver.get(),
                                                                    config.request_wait_ms))});
  PACT_ASSIGN_OR_RETURN(impl->server, rpc::RpcServer::Start(listen, std::move(services)));
  impl->address = config.advertise.empty()
                      ? rpc::Endpoint{listen.host, impl->server->port()}.ToString()
                      : config.advertise;
  if (Status s = impl->driver->Start(records, prepared, impl->address); !s.ok()) {
    impl->Stop();
    return s.WithContext("participant recovery");
  }
  PACT_LOG_INFO("participant {} recovered {} log records and {} prepared branches from {}",
                impl->address, records.size(), prepared.size(), resource->name());
  return std::unique_ptr<Participant>(new Participant(std::move(impl)));
}

Participant::Participant(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Participant::~Participant() { Stop(); }

void Participant::Stop() { impl_->Stop(); }

const std::string& Participant::address() const { return impl_->address; }

Resource& Participant::resource() { return *impl_->resource; }

Result<BranchId> Participant::Join(const TxnId& txid) {
  if (!txid.valid()) {
    return Status::InvalidArgument(fmt::format("txid {} is not a valid transaction id", txid));
  }
  PACT_ASSIGN_OR_RETURN(BranchId branch, impl_->driver->StartWork(txid, impl_->join_wait_ms));
  Status begun = impl_->resource->BeginBranch(branch);
  // A second Join of the same transaction finds the branch already open in the store.
  if (!begun.ok() && begun.code() != StatusCode::kFailedPrecondition) return begun;
  // An ABORT that arrived after the enlistment may have rolled back the store before the
  // branch was begun there: then nobody else would ever end what was just begun. Seen
  // aborted here, the abort's rollback either ran before BeginBranch or comes after this.
  if (impl_->driver->Aborted(branch)) {
    (void)impl_->resource->Rollback(branch);
    return Status::FailedPrecondition(
        fmt::format("transaction {} was aborted while its branch here began", txid));
  }
  return branch;
}

}  // namespace pact
