// EtcdHttpClient: JSON-over-HTTP calls to etcd v3's gRPC gateway, via libcurl.
//
// etcd (3.4+) serves every gRPC method of its v3 API as `POST /v3/<service>/<method>`
// with a JSON body (bytes fields base64, int64 fields as decimal strings).
// Unary methods answer one JSON object; streaming methods (watch, lease
// keepalive) answer newline-separated `{"result": ...}` objects on a chunked
// response that stays open. This class moves those bytes; it knows nothing of
// keys or leases (EtcdStore does).
//
// Errors:
//   kDeadlineExceeded  the deadline passed before the answer was complete
//   kUnavailable       no endpoint accepted a connection, or the connection broke
//                      mid-call (the request may or may not have been applied)
//   gRPC code of etcd  an HTTP error whose body is etcd's `{"error", "code"}`
//                      (absl::StatusCode numbers equal gRPC codes), e.g. kNotFound
//                      for an unknown lease, kInvalidArgument for a request too large
//   kDataLoss          the answer was not the JSON etcd sends
//
// Endpoints: calls go to the endpoint that answered last; when a connection
// cannot be made (the request was never sent) the next endpoint is tried, in
// order, until the deadline. A request that was sent is never re-sent, so a
// non-idempotent transaction is never applied twice by this layer.
//
// Thread-safety: thread-safe. libcurl easy handles are not, so each call takes
// a handle from a mutex-guarded pool and returns it afterwards; pooled handles
// keep their keep-alive connection, so steady-state calls make no new TCP
// connection. curl_global_init runs once per process (std::call_once).
#ifndef BRAID_ELASTIC_ETCD_ETCD_HTTP_H_
#define BRAID_ELASTIC_ETCD_ETCD_HTTP_H_

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace braid::elastic {

struct EtcdHttpOptions {
  // Base URLs such as "http://127.0.0.1:2379", tried in order. REQUIRES: non-empty.
  std::vector<std::string> endpoints = {"http://127.0.0.1:2379"};
  // Longest wait for one TCP connection (further bounded by each call's deadline).
  absl::Duration connect_timeout = absl::Seconds(5);
  // Pooled idle handles kept for reuse; more concurrent calls create (and later
  // free) extra handles.
  int max_idle_handles = 128;
};

// Receives each piece of a streamed response body as it arrives. Returns false
// to end the call (the connection is then closed), true to keep reading.
using EtcdChunkCallback = std::function<bool(absl::string_view chunk)>;

class EtcdHttpClient {
 public:
  // Validates the options; makes no connection (EtcdStore::Create probes).
  static absl::StatusOr<std::unique_ptr<EtcdHttpClient>> Create(const EtcdHttpOptions& options);
  ~EtcdHttpClient();

  EtcdHttpClient(const EtcdHttpClient&) = delete;
  EtcdHttpClient& operator=(const EtcdHttpClient&) = delete;

  // POSTs `json_body` to `path` (e.g. "/v3/kv/put") and returns the body of a
  // 200 answer.
  absl::StatusOr<std::string> Post(absl::string_view path, absl::string_view json_body,
                                   absl::Time deadline);

  // POSTs to a streaming method and passes the body to `on_chunk` until it
  // returns false (-> OK), the server ends the stream (-> OK) or the deadline
  // passes (-> kDeadlineExceeded). An HTTP error answer is mapped as for Post.
  absl::Status PostStream(absl::string_view path, absl::string_view json_body,
                          absl::Time deadline, const EtcdChunkCallback& on_chunk);

  // GETs `path` (e.g. "/health") and returns the body of a 200 answer.
  absl::StatusOr<std::string> Get(absl::string_view path, absl::Time deadline);

  // The endpoint the next call goes to first (for messages).
  std::string current_endpoint() const;
  const std::vector<std::string>& endpoints() const { return options_.endpoints; }

 private:
  struct Call;  // One request's parameters and response state (etcd_http.cc).

  explicit EtcdHttpClient(const EtcdHttpOptions& options);

  // Runs `call` against the endpoints, from the current one, until one
  // answers or the deadline passes.
  absl::Status Perform(Call& call);

  // libcurl's write callback (a CURLOPT_WRITEFUNCTION); `user` is the Call.
  static size_t WriteBody(char* data, size_t size, size_t nmemb, void* user);

  void* AcquireHandle();
  void ReleaseHandle(void* handle);

  const EtcdHttpOptions options_;
  std::atomic<size_t> current_endpoint_{0};
  absl::Mutex mu_;
  std::vector<void*> idle_handles_ ABSL_GUARDED_BY(mu_);  // CURL*
};

}  // namespace braid::elastic

#endif  // BRAID_ELASTIC_ETCD_ETCD_HTTP_H_
