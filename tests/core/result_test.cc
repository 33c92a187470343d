#include "core/result.h"

#include <memory>
#include <string>

#include <gtest/gtest.h>

namespace remora {
namespace {

Result<int> parsePositive(int v) {
  if (v <= 0) return Error{Errc::InvalidArgument, "must be positive"};
  return v;
}

Result<int> doubled(int v) {
  REMORA_ASSIGN_OR_RETURN(int p, parsePositive(v));
  return p * 2;
}

Status check(int v) {
  REMORA_TRY(parsePositive(v));
  return ok();
}

TEST(ResultTest, HoldsValue) {
  auto r = parsePositive(3);
  ASSERT_TRUE(r);
  EXPECT_EQ(*r, 3);
  EXPECT_EQ(r.value_or(7), 3);
}

TEST(ResultTest, HoldsError) {
  auto r = parsePositive(-1);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, Errc::InvalidArgument);
  EXPECT_EQ(r.error().message, "must be positive");
  EXPECT_EQ(r.value_or(7), 7);
}

TEST(ResultTest, PropagatesWithMacros) {
  EXPECT_EQ(*doubled(4), 8);
  EXPECT_EQ(doubled(0).error().code, Errc::InvalidArgument);
  EXPECT_TRUE(check(1));
  EXPECT_FALSE(check(0));
}

TEST(ResultTest, MoveOnlyValues) {
  Result<std::unique_ptr<int>> r = std::make_unique<int>(5);
  ASSERT_TRUE(r);
  std::unique_ptr<int> owned = std::move(r).value();
  EXPECT_EQ(*owned, 5);
}

// The error is boxed: success is one null pointer (no std::string made and
// destroyed on every return), and copies of a failure are independent.
static_assert(sizeof(Status) == sizeof(void*));
static_assert(sizeof(Result<std::size_t>) == 2 * sizeof(void*));

TEST(ResultTest, CopiesOfAnErrorAreIndependent) {
  Status failed = Error{Errc::BadRequest, "first"};
  Status copy = failed;
  copy = Status(Error{Errc::Timeout, "second"});
  EXPECT_EQ(failed.error().message, "first");
  EXPECT_EQ(copy.error().message, "second");
  Status assigned;
  assigned = failed;
  ASSERT_FALSE(assigned);
  EXPECT_EQ(assigned.error().code, Errc::BadRequest);
  assigned = ok();
  EXPECT_TRUE(assigned);
  EXPECT_FALSE(failed);  // untouched by what its copies became

  Result<std::string> r = Error{Errc::NotFound, "no such thing"};
  // NOLINTNEXTLINE(performance-unnecessary-copy-initialization): the copy is the test
  Result<std::string> r2 = r;
  EXPECT_EQ(r2.error().message, "no such thing");
  EXPECT_NE(&r2.error(), &r.error());
  Result<std::string> found = std::string("found");
  found = r;
  EXPECT_EQ(found.error().code, Errc::NotFound);
  EXPECT_EQ(r.error().message, "no such thing");
}

TEST(ResultTest, ErrorMovesOutOfItsBox) {
  Status failed = Error{Errc::Io, std::string(100, 'x')};
  Error taken = std::move(failed).error();
  EXPECT_EQ(taken.message, std::string(100, 'x'));
  Result<int> r = Error{Errc::Io, "gone"};
  Error from_value_result = std::move(r).error();
  EXPECT_EQ(from_value_result.message, "gone");
}

TEST(ResultTest, ContextPrefixesMessage) {
  Error e{Errc::Io, "permission denied"};
  EXPECT_EQ(e.context("reading /x").message, "reading /x: permission denied");
  EXPECT_EQ(std::move(e).context("a").message, "a: permission denied");
}

TEST(ResultTest, HttpStatusOfProtocolErrors) {
  EXPECT_EQ(httpStatus(Errc::BadRequest), 400);
  EXPECT_EQ(httpStatus(Errc::UriTooLong), 414);
  EXPECT_EQ(httpStatus(Errc::HeaderFieldsTooLarge), 431);
  EXPECT_EQ(httpStatus(Errc::NotImplemented), 501);
  EXPECT_EQ(httpStatus(Errc::BadGateway), 502);
  EXPECT_EQ(httpStatus(Errc::Gone), 410);
  EXPECT_EQ(errcName(Errc::Gone), "gone");
}

TEST(ResultDeathTest, ValueOfErrorAborts) {
  auto r = parsePositive(0);
  EXPECT_DEATH((void)r.value(), "on an error: must be positive");
}

}  // namespace
}  // namespace remora
