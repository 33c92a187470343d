#include "proxy/read_buffer.h"

#include <cstring>
#include <thread>
#include <utility>
#include <vector>

#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

namespace remora::proxy {
namespace {

constexpr std::size_t kSize = 16 * 1024;

// Which of the buffer's pages are resident.
std::vector<bool> residentPages(const char* data, std::size_t size) {
  const auto page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  std::vector<unsigned char> flags(size / page);
  EXPECT_EQ(::mincore(const_cast<char*>(data), size, flags.data()), 0);
  std::vector<bool> out;
  for (unsigned char f : flags) out.push_back((f & 1) != 0);
  return out;
}

TEST(ReadBuffer, HoldsWhatIsWrittenOverItsWholeSize) {
  for (std::size_t size : {kSize, std::size_t{1000}, std::size_t{1}}) {
    ReadBuffer b(size);
    ASSERT_NE(b.data(), nullptr);
    ASSERT_EQ(b.size(), size);
    EXPECT_EQ(b.asBuffer().data(), b.data());
    EXPECT_EQ(b.asBuffer().size(), size);
    for (std::size_t i = 0; i < size; ++i) b.data()[i] = static_cast<char>(i * 7);
    for (std::size_t i = 0; i < size; ++i) ASSERT_EQ(b.data()[i], static_cast<char>(i * 7)) << i;
  }
}

TEST(ReadBuffer, MovesLeaveTheSourceEmpty) {
  ReadBuffer a(kSize);
  char* bytes = a.data();
  std::memcpy(bytes, "hello", 5);
  ReadBuffer b(std::move(a));
  EXPECT_EQ(a.data(), nullptr);  // NOLINT(bugprone-use-after-move): the contract under test
  EXPECT_EQ(a.size(), 0u);
  EXPECT_EQ(b.data(), bytes);
  EXPECT_EQ(std::memcmp(b.data(), "hello", 5), 0);

  ReadBuffer c(100);
  c = std::move(b);  // c's own bytes are freed, b's move in
  EXPECT_EQ(c.data(), bytes);
  EXPECT_EQ(c.size(), kSize);
  EXPECT_EQ(b.data(), nullptr);  // NOLINT(bugprone-use-after-move)

  ReadBuffer& alias = c;
  c = std::move(alias);  // self-move keeps the bytes
  EXPECT_EQ(c.data(), bytes);

  ReadBuffer empty;
  EXPECT_EQ(empty.data(), nullptr);
  EXPECT_EQ(empty.size(), 0u);
  empty = ReadBuffer(kSize);
  EXPECT_NE(empty.data(), nullptr);
}

// An idle connection pays only for the pages its reads wrote: a new
// buffer's pages are not resident until written (not carved from memory
// other allocations already touched).
TEST(ReadBuffer, PagesBecomeResidentOnlyWhenWritten) {
  if (!ReadBuffer::kOwnPages) GTEST_SKIP() << "the sanitizer build puts buffers on the heap";
  // More than the per-thread cache holds, so the last ones are new mappings.
  std::vector<ReadBuffer> held;
  for (int i = 0; i < 80; ++i) held.emplace_back(kSize);
  ReadBuffer& fresh = held.back();
  EXPECT_EQ(residentPages(fresh.data(), kSize), (std::vector<bool>{false, false, false, false}));
  fresh.data()[10] = 'x';  // a short read: the first page only
  EXPECT_EQ(residentPages(fresh.data(), kSize), (std::vector<bool>{true, false, false, false}));
}

// Connection churn reuses blocks instead of mapping new ones: the block a
// closed connection freed is the next one this thread hands out.
TEST(ReadBuffer, AFreedBlockIsReusedByTheSameThread) {
  if (!ReadBuffer::kOwnPages) GTEST_SKIP() << "the sanitizer build puts buffers on the heap";
  const char* first = nullptr;
  {
    ReadBuffer b(kSize);
    first = b.data();
  }
  ReadBuffer again(kSize);
  EXPECT_EQ(again.data(), first);
}

// Buffers may be freed by another thread than the one that made them (a
// session destroyed with its worker's io_context), and a thread's cache goes
// away with the thread; neither loses or corrupts a block.
TEST(ReadBuffer, BuffersCrossThreadsAndOutliveTheirThread) {
  std::vector<ReadBuffer> made;
  std::thread worker([&] {
    for (int i = 0; i < 8; ++i) made.emplace_back(kSize);
    for (int i = 0; i < 8; ++i) ReadBuffer cached(kSize);  // fills the worker's cache
    ReadBuffer last(kSize);
    std::memset(last.data(), 'w', kSize);
  });
  worker.join();  // its cache is unmapped here
  for (auto& b : made) {
    std::memset(b.data(), 'm', kSize);
    EXPECT_EQ(b.data()[kSize - 1], 'm');
  }
  made.clear();  // freed on this thread
  ReadBuffer mine(kSize);
  std::memset(mine.data(), 'z', kSize);
  EXPECT_EQ(mine.data()[0], 'z');
}

}  // namespace
}  // namespace remora::proxy
