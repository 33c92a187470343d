// A scripted Applier for unit tests (Proxygen-style recording fake): it
// records every command and answers from a script, so a test states what
// the "kernel" says and checks exactly what remora init ran.
#pragma once

#include <deque>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "netfilter/applier.h"

namespace remora::netfilter::testing {

class RecordingApplier : public Applier {
 public:
  // Every call to `program` answers `result` (after any queued answers).
  void always(const std::string& program, CommandResult result) { always_[program] = result; }
  // The next call to `program` answers `result` (queued, first in first out).
  void next(const std::string& program, CommandResult result) {
    queued_[program].push_back(std::move(result));
  }
  // `program` is not in PATH.
  void missing(const std::string& program) { missing_.insert(program); }

  Result<CommandResult> run(const Command& cmd) override {
    calls.push_back(cmd);
    if (missing_.count(cmd.program) != 0) {
      return Error{Errc::NotFound, "cannot run " + cmd.program + ": No such file or directory"};
    }
    auto q = queued_.find(cmd.program);
    if (q != queued_.end() && !q->second.empty()) {
      auto r = q->second.front();
      q->second.pop_front();
      return r;
    }
    auto a = always_.find(cmd.program);
    if (a != always_.end()) return a->second;
    return CommandResult{};
  }
  bool available(std::string_view program) override {
    return missing_.count(std::string(program)) == 0;
  }

  // The commands that changed something, as "program args" lines.
  std::vector<const Command*> writes() const {
    std::vector<const Command*> out;
    for (const auto& c : calls) {
      if (c.mutates) out.push_back(&c);
    }
    return out;
  }

  std::vector<Command> calls;

 private:
  std::map<std::string, std::deque<CommandResult>> queued_;
  std::map<std::string, CommandResult> always_;
  std::set<std::string> missing_;
};

}  // namespace remora::netfilter::testing
