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

// An idle connection's buffer gives its pages back on the second quiet check
// in a row, once; a read issued in between (asBuffer) starts the count over,
// so a buffer in use is never released under its owner.
TEST(ReadBuffer, AQuietBufferGivesItsPagesBackOnTheSecondCheck) {
  if (!ReadBuffer::kOwnPages) GTEST_SKIP() << "the sanitizer build puts buffers on the heap";
  ReadBuffer b(kSize);
  auto resident = [&] { return residentPages(b.data(), kSize); };
  const std::vector<bool> none{false, false, false, false};
  const std::vector<bool> first{true, false, false, false};

  b.asBuffer();
  b.data()[0] = 'a';
  EXPECT_FALSE(b.releaseIfIdle());  // quiet once: kept
  EXPECT_EQ(resident(), first);
  b.asBuffer();  // a read: in use again
  EXPECT_FALSE(b.releaseIfIdle());
  EXPECT_EQ(resident(), first);
  EXPECT_TRUE(b.releaseIfIdle());  // quiet twice: released
  EXPECT_EQ(resident(), none);
  EXPECT_FALSE(b.releaseIfIdle());  // once per quiet spell
  EXPECT_EQ(b.data()[0], '\0');     // a zeroed page when touched again
  b.data()[kSize - 1] = 'z';        // and still the whole size
  EXPECT_EQ(b.data()[kSize - 1], 'z');

  ReadBuffer on_heap(1000);  // not whole pages: nothing to give back
  on_heap.releaseIfIdle();
  EXPECT_FALSE(on_heap.releaseIfIdle());
  ReadBuffer empty;
  EXPECT_FALSE(empty.releaseIfIdle());
  EXPECT_FALSE(empty.releaseIfIdle());
}

// Cached blocks no connection took since the previous check give their
// pages back; those taken and returned in between are kept for a check more.
TEST(ReadBuffer, CachedBlocksNoBufferTookGiveTheirPagesBack) {
  if (!ReadBuffer::kOwnPages) GTEST_SKIP() << "the sanitizer build puts buffers on the heap";
  std::thread worker([] {  // a cache of its own
    std::vector<ReadBuffer> held;
    std::vector<char*> blocks;
    for (int i = 0; i < 4; ++i) {
      held.emplace_back(kSize);
      std::memset(held.back().data(), 'x', kSize);
      blocks.push_back(held.back().data());
    }
    held.clear();                                   // all four are cached, resident
    EXPECT_EQ(ReadBuffer::releaseIdleCache(), 0u);  // the first check only looks
    for (char* block : blocks) EXPECT_EQ(residentPages(block, kSize), (std::vector<bool>(4, true)));
    {
      ReadBuffer taken(kSize);  // one block leaves the cache and comes back
    }
    EXPECT_EQ(ReadBuffer::releaseIdleCache(), 3u);
    std::size_t still = 0;
    for (char* block : blocks) still += residentPages(block, kSize)[0] ? 1 : 0;
    EXPECT_EQ(still, 1u);
    EXPECT_EQ(ReadBuffer::releaseIdleCache(), 1u);  // quiet since: released too
    EXPECT_EQ(ReadBuffer::releaseIdleCache(), 0u);  // nothing left to release
    ReadBuffer again(kSize);                        // a released block still serves
    std::memset(again.data(), 'y', kSize);
    EXPECT_EQ(again.data()[kSize - 1], 'y');
  });
  worker.join();
}

}  // namespace
}  // namespace remora::proxy
