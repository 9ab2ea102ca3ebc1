#include "kedge/base/packed_map.h"

#include <gtest/gtest.h>

namespace kedge {
namespace {

TEST(PackedMap, FindsByKeyAndGroupAcrossBulkAndSingleChanges) {
  PackedMap st;
  auto keys_of = [&](std::string_view group) {
    std::string out;
    st.for_each_in_group(group, [&](std::string_view k, std::string_view d) { out += std::string(k) + "=" + std::string(d) + " "; });
    return out;
  };
  st.begin_bulk();
  for (int i = 99; i >= 0; --i) {
    st.put("ns/s" + std::to_string(i), "ns/svc" + std::to_string(i % 3), "d" + std::to_string(i));
  }
  st.end_bulk();
  EXPECT_EQ(st.size(), 100u);
  EXPECT_EQ(st.find("ns/s42"), "d42");
  EXPECT_EQ(st.group_of("ns/s42"), "ns/svc0");
  EXPECT_EQ(st.find("ns/nope"), std::nullopt);
  std::string all;
  st.for_each([&](std::string_view k, std::string_view) { all += std::string(k) + " "; });
  EXPECT_EQ(all.substr(0, 21), "ns/s0 ns/s1 ns/s10 ns");  // key order
  // Single changes: replace (moves group), erase, add; then many erases
  // (the arena is rewritten when garbage passes half of it).
  st.put("ns/s1", "ns/svc0", "new");
  st.erase("ns/s2");
  st.put("ns/x", "ns/other", "x");
  EXPECT_EQ(keys_of("ns/other"), "ns/x=x ");
  EXPECT_EQ(st.group_of("ns/s1"), "ns/svc0");
  EXPECT_EQ(st.find("ns/s2"), std::nullopt);
  for (int i = 3; i < 100; ++i) st.erase("ns/s" + std::to_string(i));
  EXPECT_EQ(keys_of("ns/svc0"), "ns/s0=d0 ns/s1=new ");
  EXPECT_EQ(keys_of("ns/svc1"), "");
  EXPECT_EQ(keys_of("ns/other"), "ns/x=x ");
  // A bulk that replaces and erases what is there.
  st.begin_bulk();
  st.put("ns/s0", "ns/svc5", "z");
  st.erase("ns/x");
  st.put("ns/y", "ns/svc5", "y");
  st.end_bulk();
  EXPECT_EQ(keys_of("ns/svc5"), "ns/s0=z ns/y=y ");
  EXPECT_EQ(keys_of("ns/svc0"), "ns/s1=new ");
  EXPECT_EQ(st.size(), 3u);
}

}  // namespace
}  // namespace kedge
