#include "data/tokenizer.h"

#include <algorithm>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "runtime/env.h"
#include "runtime/status_macros.h"

namespace braid::data {
namespace {

constexpr absl::string_view kVocabMagic = "braid-char-vocab v1";

bool IsScalarValue(char32_t c) { return c <= 0x10FFFF && (c < 0xD800 || c > 0xDFFF); }

// Decodes the UTF-8 character starting at text[*pos], advancing *pos past it.
absl::StatusOr<char32_t> NextCodePoint(absl::string_view text, size_t* pos) {
  const size_t start = *pos;
  const auto byte = [&](size_t i) { return static_cast<uint8_t>(text[i]); };
  const uint8_t lead = byte(start);
  int extra = 0;
  char32_t c = 0;
  char32_t min = 0;
  if (lead < 0x80) {
    *pos = start + 1;
    return static_cast<char32_t>(lead);
  } else if ((lead & 0xE0) == 0xC0) {
    extra = 1, c = lead & 0x1F, min = 0x80;
  } else if ((lead & 0xF0) == 0xE0) {
    extra = 2, c = lead & 0x0F, min = 0x800;
  } else if ((lead & 0xF8) == 0xF0) {
    extra = 3, c = lead & 0x07, min = 0x10000;
  } else {
    return absl::InvalidArgumentError(absl::StrFormat(
        "malformed UTF-8 at byte offset %d: byte 0x%02X cannot start a character", start, lead));
  }
  if (start + extra >= text.size()) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "malformed UTF-8 at byte offset %d: the text ends inside a %d-byte character", start,
        extra + 1));
  }
  for (int k = 1; k <= extra; ++k) {
    const uint8_t b = byte(start + k);
    if ((b & 0xC0) != 0x80) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "malformed UTF-8 at byte offset %d: byte 0x%02X is not a continuation byte", start + k,
          b));
    }
    c = (c << 6) | (b & 0x3F);
  }
  if (c < min || !IsScalarValue(c)) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "malformed UTF-8 at byte offset %d: overlong encoding, surrogate or value above "
        "U+10FFFF (U+%04X)",
        start, static_cast<uint32_t>(c)));
  }
  *pos = start + extra + 1;
  return c;
}

void AppendUtf8(char32_t c, std::string* out) {
  if (c < 0x80) {
    out->push_back(static_cast<char>(c));
  } else if (c < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (c >> 6)));
    out->push_back(static_cast<char>(0x80 | (c & 0x3F)));
  } else if (c < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (c >> 12)));
    out->push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (c & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (c >> 18)));
    out->push_back(static_cast<char>(0x80 | ((c >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (c & 0x3F)));
  }
}

constexpr absl::string_view kReplacementCharacter = "\xEF\xBF\xBD";  // U+FFFD

}  // namespace

// ---- ByteTokenizer -------------------------------------------------------------------

std::vector<int32_t> ByteTokenizer::Encode(absl::string_view text) const {
  std::vector<int32_t> ids(text.size());
  EncodeTo(text, ids.data());
  return ids;
}

void ByteTokenizer::EncodeTo(absl::string_view text, int32_t* out) const {
  for (size_t i = 0; i < text.size(); ++i) out[i] = static_cast<uint8_t>(text[i]);
}

std::string ByteTokenizer::Decode(absl::Span<const int32_t> ids) const {
  std::string text;
  text.reserve(ids.size());
  for (const int32_t id : ids) {
    if (id >= 0 && id < kVocabSize) {
      text.push_back(static_cast<char>(static_cast<uint8_t>(id)));
    } else {
      text.append(kReplacementCharacter.data(), kReplacementCharacter.size());
    }
  }
  return text;
}

absl::StatusOr<std::string> ByteTokenizer::DecodeStrict(absl::Span<const int32_t> ids) const {
  for (size_t i = 0; i < ids.size(); ++i) {
    if (ids[i] < 0 || ids[i] >= kVocabSize) {
      return absl::InvalidArgumentError(absl::StrCat(
          "ByteTokenizer::DecodeStrict: id ", ids[i], " at position ", i,
          " is outside the byte vocabulary [0, 256); was it produced by a model with a "
          "larger vocabulary?"));
    }
  }
  return Decode(ids);
}

// ---- CharTokenizer -------------------------------------------------------------------

CharTokenizer::CharTokenizer(std::vector<char32_t> code_points)
    : code_points_(std::move(code_points)) {
  id_of_.reserve(code_points_.size());
  for (size_t i = 0; i < code_points_.size(); ++i) {
    id_of_[code_points_[i]] = static_cast<int32_t>(i);
  }
}

absl::StatusOr<CharTokenizer> CharTokenizer::FromText(absl::string_view text) {
  if (text.empty()) {
    return absl::InvalidArgumentError(
        "CharTokenizer::FromText: the text is empty; build the vocabulary from the training "
        "corpus");
  }
  absl::flat_hash_set<char32_t> seen;
  std::vector<char32_t> points;
  size_t pos = 0;
  while (pos < text.size()) {
    absl::StatusOr<char32_t> c = NextCodePoint(text, &pos);
    if (!c.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("CharTokenizer::FromText: ", c.status().message()));
    }
    if (seen.insert(*c).second) points.push_back(*c);
  }
  std::sort(points.begin(), points.end());
  return CharTokenizer(std::move(points));
}

absl::StatusOr<CharTokenizer> CharTokenizer::FromCodePoints(std::vector<char32_t> code_points) {
  if (code_points.empty()) {
    return absl::InvalidArgumentError("CharTokenizer::FromCodePoints: the vocabulary is empty");
  }
  for (size_t i = 0; i < code_points.size(); ++i) {
    if (!IsScalarValue(code_points[i])) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "CharTokenizer::FromCodePoints: entry %d (U+%04X) is not a Unicode scalar value", i,
          static_cast<uint32_t>(code_points[i])));
    }
    if (i > 0 && code_points[i] <= code_points[i - 1]) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "CharTokenizer::FromCodePoints: entry %d (U+%04X) is not greater than the one before "
          "it; code points must be strictly increasing",
          i, static_cast<uint32_t>(code_points[i])));
    }
  }
  return CharTokenizer(std::move(code_points));
}

std::string CharTokenizer::Serialize() const {
  std::string out = absl::StrCat(kVocabMagic, "\n", code_points_.size(), "\n");
  for (const char32_t c : code_points_) {
    absl::StrAppend(&out, absl::StrFormat("U+%04X\n", static_cast<uint32_t>(c)));
  }
  return out;
}

absl::StatusOr<CharTokenizer> CharTokenizer::Parse(absl::string_view contents) {
  // `line` is 1-based; 0 means the file as a whole.
  const auto bad = [](size_t line, absl::string_view why) {
    return absl::DataLossError(absl::StrCat("CharTokenizer: vocabulary file",
                                            line > 0 ? absl::StrCat(" line ", line) : "", ": ", why,
                                            "; write it again with CharTokenizer::Save"));
  };
  if (contents.empty() || contents.back() != '\n') {
    return bad(1, "the file is empty or does not end with a newline (truncated?)");
  }
  contents.remove_suffix(1);
  std::vector<absl::string_view> lines = absl::StrSplit(contents, '\n');
  if (lines[0] != kVocabMagic) {
    return bad(1, absl::StrCat("expected \"", kVocabMagic, "\""));
  }
  size_t count = 0;
  if (lines.size() < 2 || !absl::SimpleAtoi(lines[1], &count)) {
    return bad(2, "expected the number of entries");
  }
  if (lines.size() != count + 2) {
    return bad(lines.size(), absl::StrCat("the header says ", count, " entries but the file has ",
                                          lines.size() - 2));
  }
  std::vector<char32_t> points;
  points.reserve(count);
  for (size_t i = 2; i < lines.size(); ++i) {
    const absl::string_view line = lines[i];
    uint32_t value = 0;
    if (line.size() < 6 || line.size() > 8 || line.substr(0, 2) != "U+" ||
        !absl::SimpleHexAtoi(line.substr(2), &value) ||
        line.substr(2).find_first_not_of("0123456789ABCDEF") != absl::string_view::npos) {
      return bad(i + 1,
                 absl::StrCat("expected U+ and 4 to 6 upper-case hex digits, got \"", line, "\""));
    }
    points.push_back(static_cast<char32_t>(value));
  }
  absl::StatusOr<CharTokenizer> tokenizer = FromCodePoints(std::move(points));
  if (!tokenizer.ok()) return bad(0, tokenizer.status().message());
  return tokenizer;
}

absl::StatusOr<CharTokenizer> CharTokenizer::Load(const std::string& path) {
  absl::StatusOr<std::string> contents = runtime::Env::Default()->ReadFile(path);
  if (!contents.ok()) {
    return absl::Status(contents.status().code(),
                        absl::StrCat("CharTokenizer::Load: ", contents.status().message()));
  }
  absl::StatusOr<CharTokenizer> tokenizer = Parse(*contents);
  if (!tokenizer.ok()) {
    return absl::DataLossError(absl::StrCat(tokenizer.status().message(), " (", path, ")"));
  }
  return tokenizer;
}

absl::Status CharTokenizer::Save(const std::string& path) const {
  return runtime::Env::Default()->WriteFileAtomically(path, Serialize());
}

absl::StatusOr<std::vector<int32_t>> CharTokenizer::Encode(absl::string_view text) const {
  std::vector<int32_t> ids;
  ids.reserve(text.size());
  size_t pos = 0;
  while (pos < text.size()) {
    const size_t start = pos;
    absl::StatusOr<char32_t> c = NextCodePoint(text, &pos);
    if (!c.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("CharTokenizer::Encode: ", c.status().message()));
    }
    const auto it = id_of_.find(*c);
    if (it == id_of_.end()) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "CharTokenizer::Encode: character U+%04X at byte offset %d is not in the vocabulary "
          "of %d characters; build the vocabulary from a corpus that contains it",
          static_cast<uint32_t>(*c), start, code_points_.size()));
    }
    ids.push_back(it->second);
  }
  return ids;
}

absl::StatusOr<std::string> CharTokenizer::Decode(absl::Span<const int32_t> ids) const {
  std::string text;
  text.reserve(ids.size());
  for (size_t i = 0; i < ids.size(); ++i) {
    if (ids[i] < 0 || ids[i] >= vocab_size()) {
      return absl::InvalidArgumentError(absl::StrCat("CharTokenizer::Decode: id ", ids[i],
                                                     " at position ", i, " is outside [0, ",
                                                     vocab_size(), ")"));
    }
    AppendUtf8(code_points_[ids[i]], &text);
  }
  return text;
}

}  // namespace braid::data
