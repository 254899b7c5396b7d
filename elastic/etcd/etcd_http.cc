#include "elastic/etcd/etcd_http.h"

#include <curl/curl.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <mutex>
#include <string_view>
#include <nlohmann/json.hpp>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"

namespace braid::elastic {
namespace {

void GlobalInitOnce() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_ALL); });
}

// Milliseconds left until `deadline`, at least 1; 0 (curl: no limit) for an
// infinite deadline.
long RemainingMs(absl::Time deadline) {
  if (deadline == absl::InfiniteFuture()) return 0;
  const int64_t ms = absl::ToInt64Milliseconds(absl::Ceil(deadline - absl::Now(), absl::Milliseconds(1)));
  return static_cast<long>(std::clamp<int64_t>(ms, 1, std::numeric_limits<long>::max() / 2));
}

bool IsConnectFailure(CURLcode rc) {
  return rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_HOST ||
         rc == CURLE_COULDNT_RESOLVE_PROXY;
}

// Maps a non-200 answer. etcd's gateway answers errors as
// {"error": "...", "message": "...", "code": <gRPC code>}.
absl::Status HttpError(long http_code, absl::string_view body, absl::string_view what) {
  try {
    const nlohmann::json j = nlohmann::json::parse(body.begin(), body.end());
    if (j.is_object() && j.contains("code") && j["code"].is_number_integer()) {
      const int code = j["code"].get<int>();
      std::string message = j.value("message", j.value("error", std::string("(no message)")));
      if (code > 0 && code <= 16) {
        return absl::Status(static_cast<absl::StatusCode>(code),
                            absl::StrCat(what, ": etcd answered: ", message));
      }
    }
  } catch (const std::exception&) {
    // Not etcd's error JSON; described below.
  }
  return absl::UnavailableError(absl::StrCat(
      what, ": HTTP ", http_code, " (", body.substr(0, 200),
      "); is this the client URL of an etcd >= 3.4 (--listen-client-urls)?"));
}

}  // namespace

struct EtcdHttpClient::Call {
  const char* method = "POST";
  absl::string_view path;
  absl::string_view body;
  absl::Time deadline;
  const EtcdChunkCallback* on_chunk = nullptr;  // Set for streaming calls.
  // Filled by Perform.
  CURL* handle = nullptr;
  std::string response;  // Unary body, or the body of an error answer.
  bool stopped = false;  // on_chunk returned false.
};

size_t EtcdHttpClient::WriteBody(char* data, size_t size, size_t nmemb, void* user) {
  auto* call = static_cast<EtcdHttpClient::Call*>(user);
  const size_t n = size * nmemb;
  long http_code = 0;
  curl_easy_getinfo(call->handle, CURLINFO_RESPONSE_CODE, &http_code);
  if (call->on_chunk == nullptr || http_code != 200) {
    call->response.append(data, n);
    return n;
  }
  if (!(*call->on_chunk)(absl::string_view(data, n))) {
    call->stopped = true;
    return 0;  // Makes curl end the transfer with CURLE_WRITE_ERROR.
  }
  return n;
}

absl::StatusOr<std::unique_ptr<EtcdHttpClient>> EtcdHttpClient::Create(
    const EtcdHttpOptions& options) {
  if (options.endpoints.empty()) {
    return absl::InvalidArgumentError("EtcdHttpClient: no etcd endpoint given (e.g. http://127.0.0.1:2379)");
  }
  for (const std::string& endpoint : options.endpoints) {
    if (!absl::StartsWith(endpoint, "http://") && !absl::StartsWith(endpoint, "https://")) {
      return absl::InvalidArgumentError(absl::StrCat(
          "EtcdHttpClient: endpoint '", endpoint, "' must start with http:// or https://"));
    }
  }
  if (options.connect_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("EtcdHttpClient: connect_timeout must be positive");
  }
  GlobalInitOnce();
  EtcdHttpOptions normalized = options;
  for (std::string& endpoint : normalized.endpoints) {
    while (absl::EndsWith(endpoint, "/")) endpoint.pop_back();
  }
  return std::unique_ptr<EtcdHttpClient>(new EtcdHttpClient(normalized));
}

EtcdHttpClient::EtcdHttpClient(const EtcdHttpOptions& options) : options_(options) {}

EtcdHttpClient::~EtcdHttpClient() {
  absl::MutexLock lock(&mu_);
  for (void* handle : idle_handles_) curl_easy_cleanup(static_cast<CURL*>(handle));
  idle_handles_.clear();
}

std::string EtcdHttpClient::current_endpoint() const {
  return options_.endpoints[current_endpoint_.load() % options_.endpoints.size()];
}

void* EtcdHttpClient::AcquireHandle() {
  {
    absl::MutexLock lock(&mu_);
    if (!idle_handles_.empty()) {
      void* handle = idle_handles_.back();
      idle_handles_.pop_back();
      return handle;
    }
  }
  return curl_easy_init();
}

void EtcdHttpClient::ReleaseHandle(void* handle) {
  {
    absl::MutexLock lock(&mu_);
    if (static_cast<int>(idle_handles_.size()) < options_.max_idle_handles) {
      idle_handles_.push_back(handle);
      return;
    }
  }
  curl_easy_cleanup(static_cast<CURL*>(handle));
}

absl::Status EtcdHttpClient::Perform(Call& call) {
  const size_t n = options_.endpoints.size();
  const size_t start = current_endpoint_.load();
  std::vector<std::string> connect_errors;
  for (size_t attempt = 0; attempt < n; ++attempt) {
    const size_t index = (start + attempt) % n;
    const std::string& endpoint = options_.endpoints[index];
    const std::string what = absl::StrCat("etcd ", call.method, " ", call.path, " at ", endpoint);
    if (absl::Now() >= call.deadline) {
      return absl::DeadlineExceededError(absl::StrCat(what, ": deadline passed before the call"));
    }
    CURL* handle = static_cast<CURL*>(AcquireHandle());
    if (handle == nullptr) return absl::InternalError("curl_easy_init failed (out of memory?)");
    call.handle = handle;
    call.response.clear();
    call.stopped = false;

    const std::string url = absl::StrCat(endpoint, call.path);
    const long timeout_ms = RemainingMs(call.deadline);
    long connect_ms = static_cast<long>(absl::ToInt64Milliseconds(options_.connect_timeout));
    if (timeout_ms > 0) connect_ms = std::min(connect_ms, timeout_ms);
    curl_slist* headers = curl_slist_append(nullptr, "Content-Type: application/json");
    headers = curl_slist_append(headers, "Expect:");  // No 100-continue round trip.
    curl_easy_reset(handle);  // Keeps the handle's live connection.
    curl_easy_setopt(handle, CURLOPT_URL, url.c_str());
    curl_easy_setopt(handle, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(handle, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(handle, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(handle, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(handle, CURLOPT_CONNECTTIMEOUT_MS, std::max(1L, connect_ms));
    curl_easy_setopt(handle, CURLOPT_WRITEFUNCTION, &WriteBody);
    curl_easy_setopt(handle, CURLOPT_WRITEDATA, &call);
    if (std::string_view(call.method) == "POST") {
      curl_easy_setopt(handle, CURLOPT_POST, 1L);
      curl_easy_setopt(handle, CURLOPT_POSTFIELDS, call.body.data());
      curl_easy_setopt(handle, CURLOPT_POSTFIELDSIZE_LARGE,
                       static_cast<curl_off_t>(call.body.size()));
    }
    const CURLcode rc = curl_easy_perform(handle);
    long http_code = 0;
    curl_easy_getinfo(handle, CURLINFO_RESPONSE_CODE, &http_code);
    long request_bytes = 0;
    curl_easy_getinfo(handle, CURLINFO_REQUEST_SIZE, &request_bytes);
    curl_easy_setopt(handle, CURLOPT_HTTPHEADER, nullptr);
    curl_slist_free_all(headers);
    call.handle = nullptr;
    ReleaseHandle(handle);

    if (rc == CURLE_OK || (rc == CURLE_WRITE_ERROR && call.stopped)) {
      current_endpoint_.store(index);
      if (http_code == 200) return absl::OkStatus();
      return HttpError(http_code, call.response, what);
    }
    const bool never_sent = request_bytes == 0;
    if (rc == CURLE_OPERATION_TIMEDOUT) {
      // Only a connect that hit connect_timeout (tighter than the deadline)
      // moves on to the next endpoint; any other timeout is the deadline's
      // (curl's clock may fire a hair before absl::Now() reaches it).
      const bool connect_limited = never_sent && (timeout_ms == 0 || connect_ms < timeout_ms) &&
                                   absl::Now() < call.deadline;
      if (!connect_limited) {
        return absl::DeadlineExceededError(absl::StrCat(
            what, ": no complete answer by the deadline (", curl_easy_strerror(rc), ")"));
      }
    }
    if (never_sent && (IsConnectFailure(rc) || rc == CURLE_OPERATION_TIMEDOUT)) {
      connect_errors.push_back(absl::StrCat(endpoint, ": ", curl_easy_strerror(rc)));
      continue;  // Nothing was sent: safe to try the next endpoint.
    }
    return absl::UnavailableError(absl::StrCat(
        what, ": connection failed mid-call (", curl_easy_strerror(rc),
        "); the request may or may not have been applied; retry if it is idempotent"));
  }
  return absl::UnavailableError(absl::StrCat(
      "etcd unreachable: ", absl::StrJoin(connect_errors, "; "),
      ". Start etcd (apt-get install etcd-server) or pass the right client URL(s)"));
}

absl::StatusOr<std::string> EtcdHttpClient::Post(absl::string_view path,
                                                 absl::string_view json_body,
                                                 absl::Time deadline) {
  Call call;
  call.path = path;
  call.body = json_body;
  call.deadline = deadline;
  absl::Status status = Perform(call);
  if (!status.ok()) return status;
  return std::move(call.response);
}

absl::Status EtcdHttpClient::PostStream(absl::string_view path, absl::string_view json_body,
                                        absl::Time deadline, const EtcdChunkCallback& on_chunk) {
  Call call;
  call.path = path;
  call.body = json_body;
  call.deadline = deadline;
  call.on_chunk = &on_chunk;
  return Perform(call);
}

absl::StatusOr<std::string> EtcdHttpClient::Get(absl::string_view path, absl::Time deadline) {
  Call call;
  call.method = "GET";
  call.path = path;
  call.deadline = deadline;
  absl::Status status = Perform(call);
  if (!status.ok()) return status;
  return std::move(call.response);
}

}  // namespace braid::elastic
