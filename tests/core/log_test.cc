#include "core/log.h"

#include <memory>
#include <sstream>

#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>

namespace remora {
namespace {

// The macros must expand for every level name (a parameter called `level`
// once swallowed the `spdlog::level::` namespace in the expansion).
TEST(LogTest, MacrosFormatWithPrefixes) {
  std::ostringstream out;
  auto& logger = log::logger("logtest");
  logger.sinks().push_back(std::make_shared<spdlog::sinks::ostream_sink_st>(out));
  logger.set_pattern("%v");
  REMORA_LOG(logtest, warn, "plain {}", 1);
  REMORA_CONN_LOG(logtest, err, 42, "conn {}", 2);
  REMORA_STREAM_LOG(logtest, critical, 42, 3, "stream {}", 3);
  REMORA_LOG(logtest, trace, "below the level: {}", 4);
  EXPECT_EQ(out.str(), "plain 1\n[C42] conn 2\n[C42][S3] stream 3\n");
  logger.sinks().pop_back();
}

}  // namespace
}  // namespace remora
