// braidrun: starts and watches the worker processes of a braid job on this
// node. See launcher/agent.h for what it does and docs/launching.md for how
// to use it.
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <string>
#include <vector>

#include "launcher/agent.h"
#include "launcher/flags.h"
#include "launcher/process.h"

extern char** environ;

namespace {

int g_signal_write_fd = -1;

void OnStopSignal(int sig) {
  const unsigned char b = static_cast<unsigned char>(sig);
  ssize_t ignored = ::write(g_signal_write_fd, &b, 1);
  (void)ignored;
}

}  // namespace

int main(int argc, char** argv) {
  absl::StatusOr<braid::launcher::ParsedFlags> parsed = braid::launcher::ParseFlags(argc, argv);
  if (!parsed.ok()) {
    std::fprintf(stderr, "braidrun: error: %s\n", std::string(parsed.status().message()).c_str());
    return 2;
  }
  if (parsed->exit_now) {
    std::fputs(parsed->exit_message.c_str(), stdout);
    return 0;
  }
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC | O_NONBLOCK) != 0) {
    std::perror("braidrun: pipe2");
    return 1;
  }
  g_signal_write_fd = fds[1];
  struct sigaction sa = {};
  sa.sa_handler = OnStopSignal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) ::sigaction(sig, &sa, nullptr);
  ::signal(SIGPIPE, SIG_IGN);  // a closed console must not kill the launcher

  braid::launcher::PosixProcessSpawner spawner;
  braid::launcher::AgentOptions options;
  options.config = parsed->config;
  options.spawner = &spawner;
  for (char** e = environ; *e != nullptr; ++e) options.environment.emplace_back(*e);
  options.signal_fd = fds[0];
  return braid::launcher::RunAgent(options);
}
