// The seam between the rules and the kernel: every program `remora init`
// runs (iptables-save, iptables-restore, nft, ip) goes through an Applier.
//
//   ExecApplier      runs them (posix_spawnp, stdin fed, stdout/stderr read,
//                    killed after a timeout).
//   DryRunApplier    `remora init --dry-run`: reads (save, list) go to an
//                    inner applier when it can answer, and every command
//                    that would change something is recorded instead of run,
//                    so the transcript is exactly what would be applied.
//   tests/netfilter/recording_applier.h: a scripted fake for unit tests.
//
// Threading: an Applier is used by one thread at a time.
#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"

namespace remora::netfilter {

struct Command {
  std::string program;  // looked up in PATH
  std::vector<std::string> args;
  std::string input;     // written to its stdin
  bool mutates = false;  // changes kernel state (restore, nft -f, ip rule add)

  std::string display() const;  // "iptables-nft-restore --noflush"
};

struct CommandResult {
  int exit_code = 0;
  std::string out;
  std::string err;
};

class Applier {
 public:
  virtual ~Applier() = default;
  // Runs `cmd`. An Error only when it could not run at all (not found, killed
  // by the timeout); a non-zero exit is a CommandResult for the caller to judge.
  virtual Result<CommandResult> run(const Command& cmd) = 0;
  // Whether `program` can be run (found in PATH and executable).
  virtual bool available(std::string_view program) = 0;
};

class ExecApplier : public Applier {
 public:
  explicit ExecApplier(std::chrono::milliseconds timeout = std::chrono::seconds(30))
      : timeout_(timeout) {}
  Result<CommandResult> run(const Command& cmd) override;
  bool available(std::string_view program) override;

 private:
  std::chrono::milliseconds timeout_;
};

class DryRunApplier : public Applier {
 public:
  // `inner` (may be null) answers read-only commands. When it is null or a
  // read fails (not root, tool missing), the read answers as an empty
  // namespace would and a note is kept in notes(). Every tool counts as
  // available, so a dry run shows the rules on a machine without them.
  explicit DryRunApplier(Applier* inner) : inner_(inner) {}
  Result<CommandResult> run(const Command& cmd) override;
  bool available(std::string_view program) override;

  // The commands that would have changed something, in order.
  const std::vector<Command>& recorded() const { return recorded_; }
  const std::vector<std::string>& notes() const { return notes_; }
  // recorded() as text: "# <command line>" then its stdin, for each command.
  std::string transcript() const;

 private:
  Applier* inner_;  // not owned; may be null
  std::vector<Command> recorded_;
  std::vector<std::string> notes_;
};

}  // namespace remora::netfilter
