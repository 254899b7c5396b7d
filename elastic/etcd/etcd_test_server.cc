#include "elastic/etcd/etcd_test_server.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <system_error>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "elastic/etcd/etcd_http.h"
#include "runtime/status_macros.h"

namespace braid::elastic {
namespace {

// The executable for `name`: itself when it holds a '/', else the first match
// in PATH. Empty when none is executable.
std::string FindBinary(const std::string& name) {
  if (absl::StrContains(name, '/')) return access(name.c_str(), X_OK) == 0 ? name : "";
  const char* path = getenv("PATH");
  for (absl::string_view dir : absl::StrSplit(path != nullptr ? path : "/usr/bin:/bin", ':')) {
    if (dir.empty()) continue;
    std::string candidate = absl::StrCat(dir, "/", name);
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return "";
}

// A loopback port that was free a moment ago (bound to port 0, then released).
int PickPort() {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  int port = -1;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  close(fd);
  return port;
}

std::string LogTail(const std::string& path, size_t max_bytes = 1500) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  std::string text = buffer.str();
  if (text.size() > max_bytes) text = "..." + text.substr(text.size() - max_bytes);
  return text;
}

void KillAndReap(int pid) {
  kill(pid, SIGKILL);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
}

// Starts etcd; returns its pid or -1. Everything the child touches is built
// before fork, so the child only makes async-signal-safe calls.
int Spawn(const std::string& binary, const std::vector<std::string>& args,
          const std::string& log_path) {
  std::vector<char*> argv;
  argv.push_back(const_cast<char*>(binary.c_str()));
  for (const std::string& arg : args) argv.push_back(const_cast<char*>(arg.c_str()));
  argv.push_back(nullptr);
  const int log_fd = open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log_fd < 0) return -1;
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(1);  // The parent died before prctl.
    const int null_fd = open("/dev/null", O_RDONLY);
    if (null_fd >= 0) dup2(null_fd, 0);
    dup2(log_fd, 1);
    dup2(log_fd, 2);
    setpgid(0, 0);  // Keeps terminal signals meant for the test away from etcd.
    execv(binary.c_str(), argv.data());
    _exit(127);
  }
  close(log_fd);
  return pid;
}

}  // namespace

absl::StatusOr<std::unique_ptr<EtcdTestServer>> EtcdTestServer::Start(
    const EtcdTestServerOptions& options) {
  const std::string binary = FindBinary(options.etcd_binary);
  if (binary.empty()) {
    return absl::NotFoundError(absl::StrCat(
        "etcd binary '", options.etcd_binary,
        "' not found in PATH; apt-get install etcd-server to run the etcd tests"));
  }
  std::error_code ec;
  std::string root = options.temp_root;
  if (root.empty()) root = std::filesystem::temp_directory_path(ec).string();
  if (root.empty()) root = "/tmp";
  std::string dir_template = absl::StrCat(root, "/braid-etcd-XXXXXX");
  if (mkdtemp(dir_template.data()) == nullptr) {
    return absl::InternalError(absl::StrCat("EtcdTestServer: mkdtemp(", dir_template,
                                            ") failed: ", strerror(errno)));
  }
  const std::string dir = dir_template;
  const std::string log_path = absl::StrCat(dir, "/etcd.log");
  auto fail = [&](absl::Status status) {
    std::filesystem::remove_all(dir, ec);
    return status;
  };

  std::string last_error;
  for (int attempt = 0; attempt < std::max(1, options.max_attempts); ++attempt) {
    const int client_port = PickPort();
    int peer_port = PickPort();
    while (peer_port == client_port && peer_port > 0) peer_port = PickPort();
    if (client_port <= 0 || peer_port <= 0) {
      return fail(absl::InternalError("EtcdTestServer: could not pick free loopback ports"));
    }
    const std::string client_url = absl::StrCat("http://127.0.0.1:", client_port);
    const std::string peer_url = absl::StrCat("http://127.0.0.1:", peer_port);
    const std::vector<std::string> args = {
        "--name=braid-test",
        absl::StrCat("--data-dir=", dir, "/data-", attempt),
        absl::StrCat("--listen-client-urls=", client_url),
        absl::StrCat("--advertise-client-urls=", client_url),
        absl::StrCat("--listen-peer-urls=", peer_url),
        absl::StrCat("--initial-advertise-peer-urls=", peer_url),
        absl::StrCat("--initial-cluster=braid-test=", peer_url),
        "--initial-cluster-state=new",
        "--logger=zap",
        "--log-level=warn",
    };
    const int pid = Spawn(binary, args, log_path);
    if (pid < 0) {
      return fail(absl::InternalError(absl::StrCat("EtcdTestServer: could not start ", binary,
                                                   ": ", strerror(errno))));
    }
    EtcdHttpOptions http_options;
    http_options.endpoints = {client_url};
    http_options.connect_timeout = absl::Seconds(1);
    absl::StatusOr<std::unique_ptr<EtcdHttpClient>> http = EtcdHttpClient::Create(http_options);
    if (!http.ok()) {
      KillAndReap(pid);
      return fail(http.status());
    }
    // Readiness poll of an external process: bounded, with a growing pause.
    const absl::Time deadline = absl::Now() + options.start_timeout;
    absl::Duration pause = absl::Milliseconds(10);
    bool exited = false;
    while (absl::Now() < deadline) {
      int status = 0;
      if (waitpid(pid, &status, WNOHANG) == pid) {
        exited = true;
        break;
      }
      absl::StatusOr<std::string> health =
          (*http)->Get("/health", std::min(deadline, absl::Now() + absl::Seconds(1)));
      if (health.ok() && absl::StrContains(*health, "\"health\":\"true\"")) {
        return std::unique_ptr<EtcdTestServer>(new EtcdTestServer(pid, client_url, dir));
      }
      absl::SleepFor(pause);
      pause = std::min(pause * 2, absl::Milliseconds(200));
    }
    if (!exited) {
      KillAndReap(pid);
      return fail(absl::DeadlineExceededError(absl::StrCat(
          "EtcdTestServer: etcd at ", client_url, " was not healthy within ",
          absl::FormatDuration(options.start_timeout), "; its log ends:\n", LogTail(log_path))));
    }
    last_error = LogTail(log_path);  // Most likely a port taken meanwhile; retry.
  }
  return fail(absl::UnavailableError(absl::StrCat(
      "EtcdTestServer: etcd exited at start ", options.max_attempts, " times; its log ends:\n",
      last_error)));
}

EtcdTestServer::~EtcdTestServer() {
  KillAndReap(pid_);
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

}  // namespace braid::elastic
