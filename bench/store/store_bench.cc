// store_bench: throughput and latency of braid's embedded store against etcd.
//
// For each operation (set, get, add) and each number of concurrent clients
// (default 1, 16, 64), N threads each drive their own client (a StoreClient
// with its own TCP connection, or an EtcdStore with its own HTTP connection)
// as fast as they can for --seconds, and the run reports operations per second
// and the p50/p99 latency of single calls. The embedded store (a StoreServer
// in this process) and etcd (started on loopback in a temporary directory, or
// --etcd-endpoint) run interleaved, --repeats times per cell, and the table
// gives the medians and the median of the per-repeat ratios embedded/etcd
// (single runs here move by +-30%, see shared PERFORMANCE.md).
//
// Keys: set writes one key per client ("set/<client>"), get reads one of 16
// pre-written keys, add increments ONE shared counter (the rendezvous
// pattern; contention is part of what is measured: etcd's add is a
// compare-and-swap loop, the embedded store's is one request).
//
//   store_bench                       # 3 ops x {1,16,64} clients, 2 s, 3 repeats
//   store_bench --seconds 0.5 --repeats 1 --clients 1,4 --csv /tmp/s.csv
#include <pthread.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "elastic/etcd/etcd_store.h"
#include "elastic/etcd/etcd_test_server.h"
#include "elastic/store/store_client.h"
#include "elastic/store/store_server.h"
#include "runtime/store.h"

namespace braid::bench {
namespace {

struct Flags {
  double seconds = 2.0;
  int repeats = 3;
  std::vector<int> clients = {1, 16, 64};
  std::vector<std::string> ops = {"set", "get", "add"};
  int value_bytes = 64;
  std::string csv = "store_bench.csv";
  std::string etcd_endpoint;  // Empty: start one on loopback.
  std::string etcd_temp_root;
  bool no_etcd = false;
};

// A store under test: hands out independent clients.
class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string name() const = 0;
  virtual absl::StatusOr<std::unique_ptr<runtime::Store>> NewClient() = 0;
  // Called between runs (etcd: drop the history so it does not grow unbounded).
  virtual void BetweenRuns() {}
};

class EmbeddedBackend : public Backend {
 public:
  static absl::StatusOr<std::unique_ptr<EmbeddedBackend>> Create() {
    elastic::StoreServerOptions options;
    options.job_token = "store-bench-token";
    absl::StatusOr<std::unique_ptr<elastic::StoreServer>> server =
        elastic::StoreServer::Create(options);
    if (!server.ok()) return server.status();
    return std::unique_ptr<EmbeddedBackend>(new EmbeddedBackend(*std::move(server)));
  }
  std::string name() const override { return "embedded"; }
  absl::StatusOr<std::unique_ptr<runtime::Store>> NewClient() override {
    elastic::StoreClientOptions options;
    options.address = server_->address();
    options.job_token = "store-bench-token";
    options.connect_timeout = absl::Seconds(10);
    absl::StatusOr<std::unique_ptr<elastic::StoreClient>> client =
        elastic::StoreClient::Create(options);
    if (!client.ok()) return client.status();
    return std::unique_ptr<runtime::Store>(*std::move(client));
  }

 private:
  explicit EmbeddedBackend(std::unique_ptr<elastic::StoreServer> server)
      : server_(std::move(server)) {}
  std::unique_ptr<elastic::StoreServer> server_;
};

class EtcdBackend : public Backend {
 public:
  static absl::StatusOr<std::unique_ptr<EtcdBackend>> Create(const Flags& flags) {
    std::unique_ptr<elastic::EtcdTestServer> server;
    std::string endpoint = flags.etcd_endpoint;
    if (endpoint.empty()) {
      elastic::EtcdTestServerOptions options;
      options.temp_root = flags.etcd_temp_root;
      absl::StatusOr<std::unique_ptr<elastic::EtcdTestServer>> started =
          elastic::EtcdTestServer::Start(options);
      if (!started.ok()) return started.status();
      server = *std::move(started);
      endpoint = server->endpoint();
    }
    auto backend = std::unique_ptr<EtcdBackend>(new EtcdBackend(std::move(server), endpoint));
    absl::StatusOr<std::unique_ptr<elastic::EtcdStore>> admin = backend->NewEtcdClient();
    if (!admin.ok()) return admin.status();
    backend->admin_ = *std::move(admin);
    return backend;
  }
  std::string name() const override { return "etcd"; }
  absl::StatusOr<std::unique_ptr<runtime::Store>> NewClient() override {
    absl::StatusOr<std::unique_ptr<elastic::EtcdStore>> client = NewEtcdClient();
    if (!client.ok()) return client.status();
    return std::unique_ptr<runtime::Store>(*std::move(client));
  }
  void BetweenRuns() override {
    const absl::Time deadline = absl::Now() + absl::Seconds(10);
    absl::StatusOr<int64_t> revision = admin_->CurrentRevision(deadline);
    if (revision.ok()) (void)admin_->Compact(*revision, deadline);
  }

 private:
  EtcdBackend(std::unique_ptr<elastic::EtcdTestServer> server, std::string endpoint)
      : server_(std::move(server)), endpoint_(std::move(endpoint)) {}
  absl::StatusOr<std::unique_ptr<elastic::EtcdStore>> NewEtcdClient() {
    elastic::EtcdStoreOptions options;
    options.endpoints = {endpoint_};
    options.key_prefix = absl::StrCat("/braid-store-bench/", getpid(), "/");
    return elastic::EtcdStore::Create(options);
  }
  std::unique_ptr<elastic::EtcdTestServer> server_;
  std::string endpoint_;
  std::unique_ptr<elastic::EtcdStore> admin_;
};

struct RunResult {
  double ops_per_s = 0;
  double p50_us = 0;
  double p99_us = 0;
  int64_t ops = 0;
  int64_t errors = 0;
  std::string first_error;
};

double Percentile(const std::vector<int64_t>& sorted_ns, double p) {
  if (sorted_ns.empty()) return 0;
  const size_t index = std::min(sorted_ns.size() - 1,
                                static_cast<size_t>(p * static_cast<double>(sorted_ns.size())));
  return static_cast<double>(sorted_ns[index]) / 1000.0;
}

absl::Status DoOp(runtime::Store& store, const std::string& op, int client,
                  const std::string& value) {
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  if (op == "set") return store.Set(absl::StrCat("set/", client), value, deadline);
  if (op == "get") return store.Get(absl::StrCat("get/", client % 16), deadline).status();
  return store.Add("add/counter", 1, deadline).status();
}

// One timed run: `num_clients` threads, each with its own client.
absl::StatusOr<RunResult> RunOnce(Backend& backend, const std::string& op, int num_clients,
                                  const Flags& flags) {
  const std::string value(static_cast<size_t>(flags.value_bytes), 'v');
  std::vector<std::unique_ptr<runtime::Store>> clients;
  for (int i = 0; i < num_clients; ++i) {
    absl::StatusOr<std::unique_ptr<runtime::Store>> client = backend.NewClient();
    if (!client.ok()) return client.status();
    clients.push_back(*std::move(client));
  }
  if (op == "get") {
    for (int i = 0; i < 16; ++i) {
      absl::Status status =
          clients[0]->Set(absl::StrCat("get/", i), value, absl::Now() + absl::Seconds(10));
      if (!status.ok()) return status;
    }
  }
  std::vector<std::vector<int64_t>> latencies(num_clients);
  std::vector<int64_t> errors(num_clients, 0);
  std::vector<std::string> first_errors(num_clients);
  absl::Notification go;
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  for (int i = 0; i < num_clients; ++i) {
    threads.emplace_back([&, i] {
      pthread_setname_np(pthread_self(), absl::StrCat("bench-", i).c_str());
      latencies[i].reserve(1 << 16);
      go.WaitForNotification();
      while (!stop.load(std::memory_order_relaxed)) {
        const auto start = std::chrono::steady_clock::now();
        absl::Status status = DoOp(*clients[i], op, i, value);
        const auto end = std::chrono::steady_clock::now();
        if (!status.ok()) {
          if (errors[i]++ == 0) first_errors[i] = status.ToString();
          continue;
        }
        latencies[i].push_back(
            std::chrono::duration_cast<std::chrono::nanoseconds>(end - start).count());
      }
    });
  }
  const auto start = std::chrono::steady_clock::now();
  go.Notify();
  std::this_thread::sleep_for(std::chrono::duration<double>(flags.seconds));
  stop.store(true);
  for (std::thread& t : threads) t.join();
  const double elapsed_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  RunResult result;
  std::vector<int64_t> all;
  for (int i = 0; i < num_clients; ++i) {
    all.insert(all.end(), latencies[i].begin(), latencies[i].end());
    result.errors += errors[i];
    if (result.first_error.empty()) result.first_error = first_errors[i];
  }
  std::sort(all.begin(), all.end());
  result.ops = static_cast<int64_t>(all.size());
  result.ops_per_s = static_cast<double>(all.size()) / elapsed_s;
  result.p50_us = Percentile(all, 0.50);
  result.p99_us = Percentile(all, 0.99);
  return result;
}

double Median(std::vector<double> values) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  const size_t n = values.size();
  return n % 2 == 1 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
}

struct Cell {
  std::string op;
  int clients = 0;
  // [backend][repeat]
  std::vector<std::vector<RunResult>> runs;
};

int Main(const Flags& flags) {
  std::vector<std::unique_ptr<Backend>> backends;
  absl::StatusOr<std::unique_ptr<EmbeddedBackend>> embedded = EmbeddedBackend::Create();
  if (!embedded.ok()) {
    std::fprintf(stderr, "store_bench: embedded store: %s\n", embedded.status().ToString().c_str());
    return 1;
  }
  backends.push_back(*std::move(embedded));
  if (!flags.no_etcd) {
    absl::StatusOr<std::unique_ptr<EtcdBackend>> etcd = EtcdBackend::Create(flags);
    if (etcd.ok()) {
      backends.push_back(*std::move(etcd));
    } else {
      std::fprintf(stderr, "store_bench: etcd skipped: %s\n", etcd.status().ToString().c_str());
    }
  }

  std::ofstream csv(flags.csv);
  csv << "op,clients,backend,repeat,ops_per_s,p50_us,p99_us,ops,errors\n";
  std::vector<Cell> cells;
  int64_t total_errors = 0;
  for (const std::string& op : flags.ops) {
    for (int num_clients : flags.clients) {
      Cell cell{op, num_clients, std::vector<std::vector<RunResult>>(backends.size())};
      for (int repeat = 0; repeat < flags.repeats; ++repeat) {
        // Interleave, alternating which backend goes first.
        for (size_t k = 0; k < backends.size(); ++k) {
          const size_t b = (repeat % 2 == 0) ? k : backends.size() - 1 - k;
          backends[b]->BetweenRuns();
          absl::StatusOr<RunResult> run = RunOnce(*backends[b], op, num_clients, flags);
          if (!run.ok()) {
            std::fprintf(stderr, "store_bench: %s %s x%d: %s\n", backends[b]->name().c_str(),
                         op.c_str(), num_clients, run.status().ToString().c_str());
            return 1;
          }
          if (run->errors > 0) {
            std::fprintf(stderr, "store_bench: %s %s x%d: %lld errors, first: %s\n",
                         backends[b]->name().c_str(), op.c_str(), num_clients,
                         static_cast<long long>(run->errors), run->first_error.c_str());
          }
          total_errors += run->errors;
          std::fprintf(stderr, "  %-8s %-3s x%-3d repeat %d: %10.0f ops/s  p50 %8.1f us  p99 %8.1f us\n",
                       backends[b]->name().c_str(), op.c_str(), num_clients, repeat,
                       run->ops_per_s, run->p50_us, run->p99_us);
          csv << absl::StrFormat("%s,%d,%s,%d,%.1f,%.1f,%.1f,%d,%d\n", op, num_clients,
                                 backends[b]->name(), repeat, run->ops_per_s, run->p50_us,
                                 run->p99_us, run->ops, run->errors);
          cell.runs[b].push_back(*std::move(run));
        }
      }
      cells.push_back(std::move(cell));
    }
  }

  std::printf("\nstore_bench: %.1f s per run, %d repeat(s), medians; value %d B; %u cores\n",
              flags.seconds, flags.repeats, flags.value_bytes, std::thread::hardware_concurrency());
  std::printf("%-4s %7s |", "op", "clients");
  for (const auto& backend : backends) {
    std::printf(" %10s ops/s %9s %9s |", backend->name().c_str(), "p50 us", "p99 us");
  }
  if (backends.size() == 2) std::printf(" %s/%s ops/s", backends[0]->name().c_str(), backends[1]->name().c_str());
  std::printf("\n");
  for (const Cell& cell : cells) {
    std::printf("%-4s %7d |", cell.op.c_str(), cell.clients);
    for (size_t b = 0; b < backends.size(); ++b) {
      std::vector<double> ops, p50, p99;
      for (const RunResult& r : cell.runs[b]) {
        ops.push_back(r.ops_per_s);
        p50.push_back(r.p50_us);
        p99.push_back(r.p99_us);
      }
      std::printf(" %16.0f %9.1f %9.1f |", Median(ops), Median(p50), Median(p99));
      csv << absl::StrFormat("%s,%d,%s,median,%.1f,%.1f,%.1f,,\n", cell.op, cell.clients,
                             backends[b]->name(), Median(ops), Median(p50), Median(p99));
    }
    if (backends.size() == 2) {
      std::vector<double> ratios;
      for (size_t r = 0; r < cell.runs[0].size() && r < cell.runs[1].size(); ++r) {
        if (cell.runs[1][r].ops_per_s > 0) {
          ratios.push_back(cell.runs[0][r].ops_per_s / cell.runs[1][r].ops_per_s);
        }
      }
      std::printf(" %8.1fx", Median(ratios));
      csv << absl::StrFormat("%s,%d,%s/%s,median,%.2f,,,,\n", cell.op, cell.clients,
                             backends[0]->name(), backends[1]->name(), Median(ratios));
    }
    std::printf("\n");
  }
  std::printf("CSV: %s\n", flags.csv.c_str());
  if (total_errors > 0) {
    std::printf("store_bench: %lld operations failed (see above)\n",
                static_cast<long long>(total_errors));
    return 1;
  }
  return 0;
}

}  // namespace
}  // namespace braid::bench

int main(int argc, char** argv) {
  braid::bench::Flags flags;
  CLI::App app{"store_bench: ops/s and p50/p99 latency of the embedded store vs etcd"};
  app.add_option("--seconds", flags.seconds, "Duration of one run (one cell, one backend)")
      ->check(CLI::PositiveNumber);
  app.add_option("--repeats", flags.repeats, "Interleaved runs per cell; medians are reported")
      ->check(CLI::PositiveNumber);
  app.add_option("--clients", flags.clients, "Concurrent clients (threads, one client each)")
      ->delimiter(',');
  app.add_option("--ops", flags.ops, "Operations to measure: set, get, add")
      ->delimiter(',')
      ->check(CLI::IsMember({"set", "get", "add"}));
  app.add_option("--value-bytes", flags.value_bytes, "Value size for set and get")
      ->check(CLI::Range(1, 1 << 20));
  app.add_option("--csv", flags.csv, "Where to write the CSV results");
  app.add_option("--etcd-endpoint", flags.etcd_endpoint,
                 "Use this etcd (client URL) instead of starting one on loopback");
  app.add_option("--etcd-temp-root", flags.etcd_temp_root,
                 "Folder for the started etcd's data directory (default $TMPDIR or /tmp)");
  app.add_flag("--no-etcd", flags.no_etcd, "Measure the embedded store only");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  for (int n : flags.clients) {
    if (n < 1 || n > 1024) {
      std::fprintf(stderr, "store_bench: --clients values must be in [1, 1024], got %d\n", n);
      return 2;
    }
  }
  return braid::bench::Main(flags);
}
