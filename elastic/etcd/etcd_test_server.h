// EtcdTestServer: a real, single-member etcd on loopback for tests and benchmarks.
//
// Start() picks two free loopback ports (client and peer), starts the `etcd`
// binary found in PATH with a fresh data directory under a temporary folder,
// and returns once etcd answers /health with a leader (bounded by
// start_timeout). When the ports were taken in between (another test), it
// retries with new ones. The destructor kills etcd (SIGKILL, by pid), reaps it
// and removes the data directory. etcd also gets PR_SET_PDEATHSIG(SIGKILL), so
// it dies with the thread that started it even if the destructor never runs
// (start it from a thread that outlives its use, e.g. the test's main thread).
//
//   absl::StatusOr<std::unique_ptr<EtcdTestServer>> etcd = EtcdTestServer::Start();
//   if (absl::IsNotFound(etcd.status())) GTEST_SKIP() << etcd.status().message();
//   ASSERT_TRUE(etcd.ok()) << etcd.status();
//   EtcdStoreOptions options;
//   options.endpoints = {(*etcd)->endpoint()};
//
// Errors from Start: kNotFound when no `etcd` binary is installed (the message
// says `apt-get install etcd-server`); kDeadlineExceeded when etcd did not
// become healthy in time (the message quotes the end of its log); kInternal
// for a failed fork/exec or temporary directory.
//
// Thread-safety: Start may be called from any thread; an instance is
// immutable after Start and may be read from any thread.
#ifndef BRAID_ELASTIC_ETCD_ETCD_TEST_SERVER_H_
#define BRAID_ELASTIC_ETCD_ETCD_TEST_SERVER_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace braid::elastic {

struct EtcdTestServerOptions {
  // The etcd binary: a name searched in PATH, or a path.
  std::string etcd_binary = "etcd";
  // Folder under which the data directory is made. Empty: $TMPDIR or /tmp.
  // (A tmpfs such as /dev/shm makes etcd's fsyncs free, for faster tests.)
  std::string temp_root;
  // Longest wait for etcd to become healthy, per attempt.
  absl::Duration start_timeout = absl::Seconds(20);
  // Start attempts with fresh ports when etcd exits early (port taken).
  int max_attempts = 4;
};

class EtcdTestServer {
 public:
  static absl::StatusOr<std::unique_ptr<EtcdTestServer>> Start(
      const EtcdTestServerOptions& options = {});

  // Kills etcd (SIGKILL), reaps it and deletes its data directory.
  ~EtcdTestServer();

  EtcdTestServer(const EtcdTestServer&) = delete;
  EtcdTestServer& operator=(const EtcdTestServer&) = delete;

  // The client URL, e.g. "http://127.0.0.1:40123".
  const std::string& endpoint() const { return endpoint_; }
  int pid() const { return pid_; }
  // The temporary folder holding the data directory and etcd.log.
  const std::string& dir() const { return dir_; }

 private:
  EtcdTestServer(int pid, std::string endpoint, std::string dir)
      : pid_(pid), endpoint_(std::move(endpoint)), dir_(std::move(dir)) {}

  const int pid_;
  const std::string endpoint_;
  const std::string dir_;
};

}  // namespace braid::elastic

#endif  // BRAID_ELASTIC_ETCD_ETCD_TEST_SERVER_H_
