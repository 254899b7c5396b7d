// Tokenizers: text <-> int32 token ids for language models.
//
// Two tokenizers, both deterministic and stateless after construction:
//
//   ByteTokenizer   vocabulary = the 256 byte values; token id = the byte.
//                   Any byte string round-trips exactly (UTF-8 or not), no
//                   vocabulary file is needed, and the vocabulary never
//                   depends on the corpus. This is the one the examples use
//                   (examples/gpt trains a byte-level GPT; vocab_size() = 256).
//   CharTokenizer   vocabulary = the distinct Unicode characters (code
//                   points) of a text, sorted by code point; token id = the
//                   character's rank in that list. Smaller vocabulary (73 for
//                   the shipped KJV corpus) but it must be built from the
//                   corpus and saved next to a model (Save / Load; the file
//                   format is in docs/data.md).
//
//   ByteTokenizer tok;
//   std::vector<int32_t> ids = tok.Encode("Hello");      // {72, 101, 108, 108, 111}
//   std::string text = tok.Decode(ids);                   // "Hello"
//
// Thread-safety: both classes are immutable after construction; every const
// method is safe to call from any number of threads.
#ifndef BRAID_DATA_TOKENIZER_H_
#define BRAID_DATA_TOKENIZER_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace braid::data {

// Bytes <-> ids 0..255.
class ByteTokenizer {
 public:
  static constexpr int32_t kVocabSize = 256;

  int32_t vocab_size() const { return kVocabSize; }

  // One id per byte of `text`, in order: id = static_cast<uint8_t>(byte).
  std::vector<int32_t> Encode(absl::string_view text) const;
  // Writes the text.size() ids into out[0, text.size()). REQUIRES: `out` holds
  // text.size() int32 values.
  void EncodeTo(absl::string_view text, int32_t* out) const;

  // The bytes the ids stand for. An id outside [0, 256) cannot come from a
  // model with this vocabulary; it is written as U+FFFD (the Unicode
  // replacement character, bytes EF BF BD) so printed samples stay readable.
  // Use DecodeStrict where such an id is an error.
  std::string Decode(absl::Span<const int32_t> ids) const;
  // As Decode, but kInvalidArgument (naming the position and the id) for an
  // id outside [0, 256).
  absl::StatusOr<std::string> DecodeStrict(absl::Span<const int32_t> ids) const;
};

// Unicode characters of a corpus <-> ids 0..vocab_size()-1.
//
// Text is UTF-8. Malformed UTF-8 (a stray continuation byte, a truncated or
// overlong sequence, a surrogate, a code point above U+10FFFF) is
// kInvalidArgument with the byte offset, in FromText and in Encode.
class CharTokenizer {
 public:
  // The vocabulary of `text`: its distinct code points in increasing order.
  // kInvalidArgument for empty text or malformed UTF-8.
  static absl::StatusOr<CharTokenizer> FromText(absl::string_view text);
  // A tokenizer over exactly `code_points` (id i = code_points[i]).
  // kInvalidArgument when the list is empty, not strictly increasing, or
  // holds a value that is not a Unicode scalar value.
  static absl::StatusOr<CharTokenizer> FromCodePoints(std::vector<char32_t> code_points);
  // Reads a vocabulary file written by Save. kNotFound when `path` does not
  // exist; kDataLoss when its contents are not a valid vocabulary file (the
  // message says which line and why).
  static absl::StatusOr<CharTokenizer> Load(const std::string& path);

  // Writes the vocabulary to `path` (atomically: a reader never sees half a
  // file). Errors are those of runtime::Env::WriteFileAtomically.
  absl::Status Save(const std::string& path) const;
  // The vocabulary file's contents (what Save writes; see docs/data.md).
  std::string Serialize() const;
  // Parses what Serialize returns; kDataLoss as in Load.
  static absl::StatusOr<CharTokenizer> Parse(absl::string_view contents);

  int32_t vocab_size() const { return static_cast<int32_t>(code_points_.size()); }
  // The code point of each id, in id order.
  const std::vector<char32_t>& code_points() const { return code_points_; }

  // One id per character of `text`. kInvalidArgument for malformed UTF-8 or
  // a character outside the vocabulary (the message gives its code point and
  // byte offset: rebuild the vocabulary from a corpus that contains it).
  absl::StatusOr<std::vector<int32_t>> Encode(absl::string_view text) const;
  // UTF-8 of the ids' characters. kInvalidArgument for an id outside
  // [0, vocab_size()).
  absl::StatusOr<std::string> Decode(absl::Span<const int32_t> ids) const;

 private:
  explicit CharTokenizer(std::vector<char32_t> code_points);

  std::vector<char32_t> code_points_;
  absl::flat_hash_map<char32_t, int32_t> id_of_;
};

}  // namespace braid::data

#endif  // BRAID_DATA_TOKENIZER_H_
