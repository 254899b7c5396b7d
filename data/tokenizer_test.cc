#include "data/tokenizer.h"

#include <cstdint>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "runtime/env.h"

namespace braid::data {
namespace {

TEST(ByteTokenizerTest, EncodesBytesAsIds) {
  ByteTokenizer tok;
  EXPECT_EQ(tok.vocab_size(), 256);
  EXPECT_EQ(tok.Encode("Hello"), (std::vector<int32_t>{72, 101, 108, 108, 111}));
  EXPECT_TRUE(tok.Encode("").empty());
  // Bytes >= 0x80 are ids 128..255, not negative chars.
  EXPECT_EQ(tok.Encode("\xC3\xA9"), (std::vector<int32_t>{0xC3, 0xA9}));
}

TEST(ByteTokenizerTest, EveryByteRoundTrips) {
  ByteTokenizer tok;
  std::string all;
  for (int b = 0; b < 256; ++b) all.push_back(static_cast<char>(b));
  const std::vector<int32_t> ids = tok.Encode(all);
  ASSERT_EQ(ids.size(), 256u);
  for (int b = 0; b < 256; ++b) EXPECT_EQ(ids[b], b);
  EXPECT_EQ(tok.Decode(ids), all);
  absl::StatusOr<std::string> strict = tok.DecodeStrict(ids);
  ASSERT_TRUE(strict.ok()) << strict.status();
  EXPECT_EQ(*strict, all);
}

TEST(ByteTokenizerTest, Utf8TextRoundTrips) {
  ByteTokenizer tok;
  const std::string text = "In the beginning \xE2\x80\x94 caf\xC3\xA9 \xF0\x9F\x99\x82\n";
  std::vector<int32_t> ids(text.size());
  tok.EncodeTo(text, ids.data());
  EXPECT_EQ(ids, tok.Encode(text));
  EXPECT_EQ(tok.Decode(ids), text);
}

TEST(ByteTokenizerTest, OutOfRangeIdsAreReplacementOrError) {
  ByteTokenizer tok;
  const std::vector<int32_t> ids = {65, 256, -1, 66};
  EXPECT_EQ(tok.Decode(ids),
            "A\xEF\xBF\xBD\xEF\xBF\xBD"
            "B");
  absl::StatusOr<std::string> strict = tok.DecodeStrict(ids);
  EXPECT_EQ(strict.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(strict.status().message().find("position 1"), absl::string_view::npos)
      << strict.status();
}

TEST(CharTokenizerTest, VocabularyIsSortedDistinctCharacters) {
  absl::StatusOr<CharTokenizer> tok = CharTokenizer::FromText("banana \xC3\xA9t\xC3\xA9");
  ASSERT_TRUE(tok.ok()) << tok.status();
  EXPECT_EQ(tok->code_points(), (std::vector<char32_t>{U' ', U'a', U'b', U'n', U't', U'\u00E9'}));
  EXPECT_EQ(tok->vocab_size(), 6);
  absl::StatusOr<std::vector<int32_t>> ids = tok->Encode("ban\xC3\xA9");
  ASSERT_TRUE(ids.ok()) << ids.status();
  EXPECT_EQ(*ids, (std::vector<int32_t>{2, 1, 3, 5}));
}

TEST(CharTokenizerTest, RoundTripsMultiByteCharacters) {
  const std::string text =
      "a\xE2\x80\x94"
      "b\xF0\x9F\x99\x82\xC3\xA9\n\x7F";
  absl::StatusOr<CharTokenizer> tok = CharTokenizer::FromText(text);
  ASSERT_TRUE(tok.ok()) << tok.status();
  EXPECT_EQ(tok->vocab_size(), 7);
  absl::StatusOr<std::vector<int32_t>> ids = tok->Encode(text);
  ASSERT_TRUE(ids.ok()) << ids.status();
  EXPECT_EQ(ids->size(), 7u);
  absl::StatusOr<std::string> back = tok->Decode(*ids);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, text);
}

TEST(CharTokenizerTest, UnknownCharacterAndBadIdAreErrors) {
  absl::StatusOr<CharTokenizer> tok = CharTokenizer::FromText("abc");
  ASSERT_TRUE(tok.ok());
  absl::StatusOr<std::vector<int32_t>> ids = tok->Encode("abz");
  EXPECT_EQ(ids.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(ids.status().message().find("U+007A"), absl::string_view::npos) << ids.status();
  EXPECT_NE(ids.status().message().find("byte offset 2"), absl::string_view::npos) << ids.status();
  EXPECT_EQ(tok->Decode(std::vector<int32_t>{0, 3}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(tok->Decode(std::vector<int32_t>{-1}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(CharTokenizerTest, MalformedUtf8IsRejected) {
  const std::vector<std::string> bad = {std::string("\x80"),          // stray continuation byte
                                        std::string("ab\xC3"),        // truncated 2-byte character
                                        std::string("\xE2\x80"),      // truncated 3-byte character
                                        std::string("\xC0\xAF"),      // overlong '/'
                                        std::string("\xED\xA0\x80"),  // surrogate U+D800
                                        std::string("\xF4\x90\x80\x80"),  // U+110000
                                        std::string("\xC3(")};            // bad continuation
  for (const std::string& text : bad) {
    EXPECT_EQ(CharTokenizer::FromText(text).status().code(), absl::StatusCode::kInvalidArgument)
        << "text of " << text.size() << " bytes";
  }
  EXPECT_EQ(CharTokenizer::FromText("").status().code(), absl::StatusCode::kInvalidArgument);
  absl::StatusOr<CharTokenizer> tok = CharTokenizer::FromText("ab");
  ASSERT_TRUE(tok.ok());
  EXPECT_EQ(tok->Encode("a\xFF").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(CharTokenizerTest, FromCodePointsValidates) {
  EXPECT_TRUE(CharTokenizer::FromCodePoints({U'a', U'b'}).ok());
  EXPECT_FALSE(CharTokenizer::FromCodePoints({}).ok());
  EXPECT_FALSE(CharTokenizer::FromCodePoints({U'b', U'a'}).ok());
  EXPECT_FALSE(CharTokenizer::FromCodePoints({U'a', U'a'}).ok());
  EXPECT_FALSE(CharTokenizer::FromCodePoints({0xD800}).ok());
  EXPECT_FALSE(CharTokenizer::FromCodePoints({0x110000}).ok());
}

TEST(CharTokenizerTest, SaveLoadRoundTrip) {
  absl::StatusOr<CharTokenizer> tok =
      CharTokenizer::FromText("Hello, world\n\xC3\xA9\xF0\x9F\x99\x82");
  ASSERT_TRUE(tok.ok());
  EXPECT_EQ(tok->Serialize().substr(0, 23), "braid-char-vocab v1\n12\n");
  const std::string path = ::testing::TempDir() + "/data_tokenizer_test_vocab.txt";
  ASSERT_TRUE(tok->Save(path).ok());
  absl::StatusOr<CharTokenizer> loaded = CharTokenizer::Load(path);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->code_points(), tok->code_points());
  EXPECT_EQ(CharTokenizer::Load(path + ".missing").status().code(), absl::StatusCode::kNotFound);
}

TEST(CharTokenizerTest, CorruptVocabularyIsDataLoss) {
  const std::vector<std::string> bad = {
      "",
      "braid-char-vocab v1\n2\nU+0041\nU+0042",    // no final newline
      "braid-char-vocab v2\n1\nU+0041\n",          // wrong magic
      "braid-char-vocab v1\nx\nU+0041\n",          // bad count
      "braid-char-vocab v1\n3\nU+0041\nU+0042\n",  // count mismatch
      "braid-char-vocab v1\n2\nU+0041\nU+041\n",   // too few digits
      "braid-char-vocab v1\n2\nU+0041\nU+00zz\n",  // not hex
      "braid-char-vocab v1\n2\nU+0042\nU+0041\n",  // not increasing
      "braid-char-vocab v1\n1\nU+D800\n",          // surrogate
  };
  for (const std::string& contents : bad) {
    EXPECT_EQ(CharTokenizer::Parse(contents).status().code(), absl::StatusCode::kDataLoss)
        << contents;
  }
  const std::string path = ::testing::TempDir() + "/data_tokenizer_test_corrupt.txt";
  ASSERT_TRUE(runtime::Env::Default()->WriteFileAtomically(path, bad[2]).ok());
  absl::StatusOr<CharTokenizer> loaded = CharTokenizer::Load(path);
  EXPECT_EQ(loaded.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(loaded.status().message().find(path), absl::string_view::npos) << loaded.status();
}

TEST(CharTokenizerTest, ShippedCorpusVocabulary) {
  absl::StatusOr<std::string> text = runtime::Env::Default()->ReadFile(BRAID_CORPUS_KJV);
  ASSERT_TRUE(text.ok()) << text.status();
  absl::StatusOr<CharTokenizer> tok = CharTokenizer::FromText(*text);
  ASSERT_TRUE(tok.ok()) << tok.status();
  // 72 printable ASCII characters plus the newline (see docs/data.md).
  EXPECT_EQ(tok->vocab_size(), 73);
  absl::StatusOr<std::vector<int32_t>> ids = tok->Encode(text->substr(0, 1000));
  ASSERT_TRUE(ids.ok()) << ids.status();
  absl::StatusOr<std::string> back = tok->Decode(*ids);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, text->substr(0, 1000));
}

}  // namespace
}  // namespace braid::data
