#include "runtime/trace.h"

#include <unistd.h>

#include <filesystem>

#include <cctype>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/testing/run_ranks.h"

namespace braid::runtime {
namespace {

// A minimal JSON reader (objects, arrays, strings, numbers, literals): enough
// to prove the trace is well-formed and to read its events back.
struct Json {
  enum Kind { kNull, kBool, kNumber, kString, kArray, kObject } kind = kNull;
  double number = 0;
  bool boolean = false;
  std::string str;
  std::vector<Json> array;
  std::map<std::string, Json> object;
  const Json& operator[](const std::string& k) const {
    static const Json kMissing;
    auto it = object.find(k);
    return it == object.end() ? kMissing : it->second;
  }
};

class JsonParser {
 public:
  explicit JsonParser(const std::string& s) : s_(s) {}
  bool Parse(Json* out) {
    if (!Value(out)) return false;
    Ws();
    return pos_ == s_.size();
  }

 private:
  void Ws() {
    while (pos_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[pos_]))) ++pos_;
  }
  bool Eat(char c) {
    Ws();
    if (pos_ < s_.size() && s_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }
  bool String(std::string* out) {
    if (!Eat('"')) return false;
    while (pos_ < s_.size() && s_[pos_] != '"') {
      char c = s_[pos_++];
      if (static_cast<unsigned char>(c) < 0x20) return false;  // must be escaped
      if (c == '\\') {
        if (pos_ >= s_.size()) return false;
        const char e = s_[pos_++];
        switch (e) {
          case '"': c = '"'; break;
          case '\\': c = '\\'; break;
          case '/': c = '/'; break;
          case 'n': c = '\n'; break;
          case 't': c = '\t'; break;
          case 'r': c = '\r'; break;
          case 'b': c = '\b'; break;
          case 'f': c = '\f'; break;
          case 'u': {
            if (pos_ + 4 > s_.size()) return false;
            c = static_cast<char>(std::stoi(s_.substr(pos_, 4), nullptr, 16));
            pos_ += 4;
            break;
          }
          default: return false;
        }
      }
      out->push_back(c);
    }
    return Eat('"');
  }
  bool Value(Json* out) {
    Ws();
    if (pos_ >= s_.size()) return false;
    const char c = s_[pos_];
    if (c == '{') {
      ++pos_;
      out->kind = Json::kObject;
      if (Eat('}')) return true;
      do {
        std::string key;
        Ws();
        if (!String(&key) || !Eat(':') || !Value(&out->object[key])) return false;
      } while (Eat(','));
      return Eat('}');
    }
    if (c == '[') {
      ++pos_;
      out->kind = Json::kArray;
      if (Eat(']')) return true;
      do {
        out->array.emplace_back();
        if (!Value(&out->array.back())) return false;
      } while (Eat(','));
      return Eat(']');
    }
    if (c == '"') {
      out->kind = Json::kString;
      return String(&out->str);
    }
    for (const char* lit : {"true", "false", "null"}) {
      if (s_.compare(pos_, std::strlen(lit), lit) == 0) {
        pos_ += std::strlen(lit);
        out->kind = lit[0] == 'n' ? Json::kNull : Json::kBool;
        out->boolean = lit[0] == 't';
        return true;
      }
    }
    size_t used = 0;
    try {
      out->number = std::stod(s_.substr(pos_, 40), &used);
    } catch (...) {
      return false;
    }
    out->kind = Json::kNumber;
    pos_ += used;
    return used > 0;
  }

  const std::string& s_;
  size_t pos_ = 0;
};

std::string TestDir(const std::string& name) {
  return absl::StrCat(::testing::TempDir(), "/braid_trace_test_", ::getpid(), "/", name);
}

Json ReadTrace(const Tracer& tracer) {
  absl::StatusOr<std::string> text = Env::Default()->ReadFile(tracer.path());
  EXPECT_TRUE(text.ok()) << text.status();
  Json json;
  EXPECT_TRUE(JsonParser(text.ok() ? *text : "").Parse(&json)) << (text.ok() ? *text : "");
  return json;
}

std::vector<const Json*> Events(const Json& trace, const std::string& phase) {
  std::vector<const Json*> out;
  for (const Json& e : trace["traceEvents"].array) {
    if (e["ph"].str == phase) out.push_back(&e);
  }
  return out;
}

// Removes this test's scratch directory when the binary finishes.
class ScratchCleanup : public ::testing::Environment {
 public:
  void TearDown() override {
    std::error_code ignored;
    std::filesystem::remove_all(TestDir(""), ignored);
  }
};
const auto* const kCleanup = ::testing::AddGlobalTestEnvironment(new ScratchCleanup);

TEST(TraceTest, DisabledTracerRecordsNothing) {
  Tracer tracer;
  EXPECT_FALSE(tracer.enabled());
  { ScopedSpan span(tracer, "x", Category::kCompute); }
  EXPECT_EQ(tracer.BeginAsync("a", Category::kCommunication), 0u);
  tracer.Counter("c", 1);
  EXPECT_EQ(tracer.num_events(), 0u);
  EXPECT_TRUE(tracer.Flush().ok());
  EXPECT_TRUE(tracer.Close().ok());
  absl::StatusOr<std::unique_ptr<Tracer>> from_empty = Tracer::Create({.dir = ""});
  ASSERT_TRUE(from_empty.ok());
  EXPECT_FALSE((*from_empty)->enabled());
}

TEST(TraceTest, WritesWellFormedNestedSpans) {
  FakeClockEnv env;
  const std::string dir = TestDir("nested");
  absl::StatusOr<std::unique_ptr<Tracer>> made =
      Tracer::Create({.dir = dir, .rank = 3, .env = &env});
  ASSERT_TRUE(made.ok()) << made.status();
  Tracer& tracer = **made;
  EXPECT_EQ(tracer.path(), dir + "/trace_rank3.json");
  {
    ScopedSpan step(tracer, "step \"1\"\n", Category::kCompute);  // needs escaping
    env.AdvanceBy(absl::Microseconds(10));
    {
      ScopedSpan fwd(tracer, "forward", Category::kCompute);
      env.AdvanceBy(absl::Microseconds(30));
    }
    env.AdvanceBy(absl::Microseconds(5));
  }
  const uint64_t id = tracer.BeginAsync("bucket0", Category::kCommunication);
  env.AdvanceBy(absl::Microseconds(7));
  tracer.Counter("bytes_in_flight", 1.5e6);
  tracer.Instant("checkpoint", Category::kCheckpoint);
  tracer.EndAsync(id);
  tracer.EndAsync(12345);  // unknown: ignored
  ASSERT_TRUE(tracer.Close().ok());

  const Json trace = ReadTrace(tracer);
  ASSERT_EQ(trace.kind, Json::kObject);
  EXPECT_EQ(trace["otherData"]["rank"].number, 3);
  EXPECT_EQ(trace["otherData"]["dropped_events"].number, 0);

  std::vector<const Json*> spans = Events(trace, "X");
  ASSERT_EQ(spans.size(), 2u);
  // The inner span closes first; it lies within the outer one.
  const Json& inner = *spans[0];
  const Json& outer = *spans[1];
  EXPECT_EQ(inner["name"].str, "forward");
  EXPECT_EQ(outer["name"].str, "step \"1\"\n");
  EXPECT_EQ(outer["cat"].str, "compute");
  EXPECT_EQ(outer["pid"].number, 3);
  EXPECT_EQ(inner["tid"].number, outer["tid"].number);
  EXPECT_DOUBLE_EQ(outer["dur"].number, 45.0);
  EXPECT_DOUBLE_EQ(inner["dur"].number, 30.0);
  EXPECT_DOUBLE_EQ(inner["ts"].number - outer["ts"].number, 10.0);
  EXPECT_LE(inner["ts"].number + inner["dur"].number, outer["ts"].number + outer["dur"].number);

  std::vector<const Json*> begins = Events(trace, "b"), ends = Events(trace, "e");
  ASSERT_EQ(begins.size(), 1u);
  ASSERT_EQ(ends.size(), 1u);
  EXPECT_EQ((*begins[0])["id"].str, (*ends[0])["id"].str);
  EXPECT_EQ((*ends[0])["name"].str, "bucket0");
  EXPECT_EQ((*ends[0])["cat"].str, "communication");
  EXPECT_DOUBLE_EQ((*ends[0])["ts"].number - (*begins[0])["ts"].number, 7.0);
  ASSERT_EQ(Events(trace, "C").size(), 1u);
  EXPECT_EQ((*Events(trace, "C")[0])["args"]["value"].number, 1.5e6);
  ASSERT_EQ(Events(trace, "i").size(), 1u);

  // Metadata names the process and every track.
  std::map<double, std::string> tracks;
  for (const Json* m : Events(trace, "M")) {
    if ((*m)["name"].str == "thread_name") tracks[(*m)["tid"].number] = (*m)["args"]["name"].str;
    if ((*m)["name"].str == "process_name") {
      EXPECT_EQ((*m)["args"]["name"].str, "rank 3");
    }
  }
  EXPECT_EQ(tracks[outer["tid"].number], "compute");
  EXPECT_EQ(tracks.size(), static_cast<size_t>(kNumCategories));
}

TEST(TraceTest, SpansFromManyThreads) {
  const std::string dir = TestDir("threads");
  absl::StatusOr<std::unique_ptr<Tracer>> made = Tracer::Create({.dir = dir, .rank = 0});
  ASSERT_TRUE(made.ok()) << made.status();
  Tracer& tracer = **made;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&tracer, t] {
      for (int i = 0; i < 250; ++i) {
        const uint64_t id = tracer.BeginAsync("async", Category::kCommunication);
        { ScopedSpan s(tracer, t % 2 ? "odd" : "even", Category::kCompute); }
        tracer.EndAsync(id);
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(tracer.num_events(), 3000u);
  ASSERT_TRUE(tracer.Flush().ok());
  const Json trace = ReadTrace(tracer);
  EXPECT_EQ(Events(trace, "X").size(), 1000u);
  EXPECT_EQ(Events(trace, "b").size(), 1000u);
  EXPECT_EQ(Events(trace, "e").size(), 1000u);
}

TEST(TraceTest, DropsBeyondMaxEventsAndCounts) {
  absl::StatusOr<std::unique_ptr<Tracer>> made =
      Tracer::Create({.dir = TestDir("drop"), .rank = 1, .max_events = 10});
  ASSERT_TRUE(made.ok());
  for (int i = 0; i < 25; ++i) (*made)->Instant("i", Category::kOther);
  EXPECT_EQ((*made)->num_events(), 10u);
  EXPECT_EQ((*made)->num_dropped(), 15u);
  ASSERT_TRUE((*made)->Close().ok());
  const Json trace = ReadTrace(**made);
  EXPECT_EQ(trace["otherData"]["dropped_events"].number, 15);
  (*made)->Instant("after close", Category::kOther);  // ignored
  EXPECT_EQ((*made)->num_events(), 0u);
}

TEST(TraceTest, DestructorWritesTheFile) {
  const std::string dir = TestDir("dtor");
  std::string path;
  {
    absl::StatusOr<std::unique_ptr<Tracer>> made = Tracer::Create({.dir = dir, .rank = 2});
    ASSERT_TRUE(made.ok());
    path = (*made)->path();
    ScopedSpan s(**made, "x", Category::kIdle);
  }
  absl::StatusOr<std::string> text = Env::Default()->ReadFile(path);
  ASSERT_TRUE(text.ok()) << text.status();
  Json json;
  EXPECT_TRUE(JsonParser(*text).Parse(&json));
}

TEST(TraceTest, BadDirectoryIsAClearError) {
  const std::string file = TestDir("file");
  ASSERT_TRUE(Env::Default()->CreateDirectories(TestDir("")).ok());
  ASSERT_TRUE(Env::Default()->WriteFileAtomically(file, "x").ok());
  absl::StatusOr<std::unique_ptr<Tracer>> made = Tracer::Create({.dir = file + "/sub"});
  ASSERT_FALSE(made.ok());
  EXPECT_NE(made.status().message().find("BRAID_TRACE"), absl::string_view::npos);
  EXPECT_EQ(Tracer::Create({.dir = TestDir("neg"), .rank = -1}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

// A disabled span is one branch; the bound is generous (the measured figure
// is printed, and is about 1 ns on the 2-core development machine). Debug and
// sanitizer builds only print it.
TEST(TraceTest, DisabledSpanCost) {
  Tracer tracer;
  constexpr int kSpans = 2'000'000;
  const int64_t t0 = Env::Default()->MonotonicNanos();
  for (int i = 0; i < kSpans; ++i) {
    ScopedSpan span(tracer, "allreduce", Category::kCommunication);
    asm volatile("" ::: "memory");  // keep the loop
  }
  const double ns = static_cast<double>(Env::Default()->MonotonicNanos() - t0) / kSpans;
  std::printf("disabled ScopedSpan: %.2f ns per span\n", ns);
#if defined(NDEBUG) && !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
  if (braid::testing::TimeoutScale() == 1) {
    EXPECT_LT(ns, 50.0);
  }
#endif
}

// For the record: an enabled span (two clock reads, one locked append).
TEST(TraceTest, EnabledSpanCost) {
  absl::StatusOr<std::unique_ptr<Tracer>> made =
      Tracer::Create({.dir = TestDir("cost"), .rank = 0});
  ASSERT_TRUE(made.ok());
  constexpr int kSpans = 100'000;
  const int64_t t0 = Env::Default()->MonotonicNanos();
  for (int i = 0; i < kSpans; ++i) {
    ScopedSpan span(**made, "allreduce", Category::kCommunication);
  }
  const double ns = static_cast<double>(Env::Default()->MonotonicNanos() - t0) / kSpans;
  std::printf("enabled ScopedSpan: %.1f ns per span\n", ns);
  EXPECT_EQ((*made)->num_events(), static_cast<size_t>(kSpans));
  EXPECT_LT(ns, 20'000.0);
}

}  // namespace
}  // namespace braid::runtime
