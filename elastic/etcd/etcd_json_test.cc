#include "elastic/etcd/etcd_json.h"

#include <nlohmann/json.hpp>
#include <string>

#include "gtest/gtest.h"

namespace braid::elastic::etcd_json {
namespace {

TEST(EtcdJsonTest, PrefixRangeEndIncrementsLastByte) {
  EXPECT_EQ(PrefixRangeEnd("abc"), "abd");
  EXPECT_EQ(PrefixRangeEnd("/braid/job/"), "/braid/job0");
  EXPECT_EQ(PrefixRangeEnd(std::string("a\xff", 2)), "b");
  EXPECT_EQ(PrefixRangeEnd(""), std::string(1, '\0'));
  EXPECT_EQ(PrefixRangeEnd(std::string("\xff\xff", 2)), std::string(1, '\0'));
}

TEST(EtcdJsonTest, Base64RoundTripsBinary) {
  const std::string binary("\0\x01\xfe\xffxyz", 7);
  const nlohmann::json kv = {{"key", Base64(binary)}, {"value", Base64("")}};
  absl::StatusOr<KeyValue> decoded = ReadKeyValue(kv, "test");
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(decoded->key, binary);
  EXPECT_EQ(decoded->value, "");
  EXPECT_EQ(decoded->mod_revision, 0);
}

TEST(EtcdJsonTest, ReadsGatewayIntegersAndDefaults) {
  absl::StatusOr<nlohmann::json> j =
      Parse(R"({"a":"42","b":7,"c":"-9223372036854775808","t":true})", "test");
  ASSERT_TRUE(j.ok()) << j.status();
  EXPECT_EQ(*Int(*j, "a", "test"), 42);
  EXPECT_EQ(*Int(*j, "b", "test"), 7);
  EXPECT_EQ(*Int(*j, "c", "test"), INT64_MIN);
  EXPECT_EQ(*Int(*j, "absent", "test"), 0);
  EXPECT_TRUE(*Bool(*j, "t", "test"));
  EXPECT_FALSE(*Bool(*j, "absent", "test"));
  EXPECT_EQ(*String(*j, "absent", "test"), "");
}

TEST(EtcdJsonTest, MalformedAnswersAreDataLoss) {
  EXPECT_EQ(Parse("{not json", "test").status().code(), absl::StatusCode::kDataLoss);
  absl::StatusOr<nlohmann::json> j = Parse(R"({"a":"x1","k":"!!!","arr":[1]})", "test");
  ASSERT_TRUE(j.ok());
  EXPECT_EQ(Int(*j, "a", "test").status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(Bytes(*j, "k", "test").status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(Int(*j, "arr", "test").status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(Int(nlohmann::json::array(), "a", "test").status().code(),
            absl::StatusCode::kDataLoss);
  EXPECT_EQ(TxnRangeResponse(*j, 0, "test").status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(HeaderRevision(*j, "test").status().code(), absl::StatusCode::kDataLoss);
}

TEST(EtcdJsonTest, FirstKeyValueOfRangeAnswers) {
  absl::StatusOr<nlohmann::json> empty = Parse(R"({"header":{"revision":"5"}})", "test");
  ASSERT_TRUE(empty.ok());
  EXPECT_FALSE(FirstKeyValue(*empty, "test")->has_value());
  EXPECT_EQ(*HeaderRevision(*empty, "test"), 5);
  absl::StatusOr<nlohmann::json> one = Parse(
      R"({"kvs":[{"key":"Zm9v","create_revision":"2","mod_revision":"3","value":"YmFy","lease":"9"}]})",
      "test");
  ASSERT_TRUE(one.ok());
  absl::StatusOr<std::optional<KeyValue>> kv = FirstKeyValue(*one, "test");
  ASSERT_TRUE(kv.ok() && kv->has_value());
  EXPECT_EQ((*kv)->key, "foo");
  EXPECT_EQ((*kv)->value, "bar");
  EXPECT_EQ((*kv)->create_revision, 2);
  EXPECT_EQ((*kv)->mod_revision, 3);
  EXPECT_EQ((*kv)->lease, 9);
}

TEST(EtcdJsonTest, LineSplitterHandlesPiecesAndBlankLines) {
  JsonLineSplitter lines;
  std::string line;
  lines.Append("{\"result\":");
  EXPECT_FALSE(lines.Next(&line));
  lines.Append("{}}\n\n  \n{\"res");
  ASSERT_TRUE(lines.Next(&line));
  EXPECT_EQ(line, "{\"result\":{}}");
  EXPECT_FALSE(lines.Next(&line));
  lines.Append("ult\":1}\n{\"last\":2}");
  ASSERT_TRUE(lines.Next(&line));
  EXPECT_EQ(line, "{\"result\":1}");
  EXPECT_FALSE(lines.Next(&line));
  EXPECT_EQ(lines.TakeRest(), "{\"last\":2}");
  EXPECT_EQ(lines.TakeRest(), "");
}

}  // namespace
}  // namespace braid::elastic::etcd_json
