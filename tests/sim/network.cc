#include "tests/sim/network.h"

#include <fmt/format.h>

namespace pact::sim {

void Network::Send(const std::string& from, const std::string& to, SimMessage message) {
  ++sent_;
  if (Cut(from, to) || random_->Permille(faults_.loss_permille)) {
    ++lost_;
    if (tracer_->enabled()) {
      tracer_->Line(fmt::format("lost {}->{} {}", from, to, ToString(message)));
    }
    return;
  }
  if (random_->Permille(faults_.duplicate_permille)) Enqueue(from, to, message);
  Enqueue(from, to, message);
}

void Network::Enqueue(const std::string& from, const std::string& to, const SimMessage& message) {
  const uint64_t delay_max =
      random_->Permille(faults_.late_permille) ? faults_.late_ticks_max : faults_.delay_ticks_max;
  const uint64_t at = now_ + random_->Range(1, delay_max);
  Packet& packet = in_flight_[std::make_pair(at, next_seq_++)];
  packet.from = from;
  packet.to = to;
  packet.message = message;
}

std::vector<Packet> Network::TakeDue() {
  std::vector<Packet> due;
  while (!in_flight_.empty() && in_flight_.begin()->first.first <= now_) {
    Packet packet = std::move(in_flight_.extract(in_flight_.begin()).mapped());
    if (Cut(packet.from, packet.to)) {
      ++lost_;
      if (tracer_->enabled()) {
        tracer_->Line(
            fmt::format("cut {}->{} {}", packet.from, packet.to, ToString(packet.message)));
      }
      continue;
    }
    due.push_back(std::move(packet));
  }
  return due;
}

void Network::Partition(std::set<std::string> island) {
  island_ = std::move(island);
  if (tracer_->enabled()) {
    std::string names;
    for (const std::string& n : island_) names += (names.empty() ? "" : ",") + n;
    tracer_->Line(fmt::format("partition {{{}}} from the rest", names));
  }
}

}  // namespace pact::sim
