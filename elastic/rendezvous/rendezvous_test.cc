// Rendezvous against real stores: an embedded StoreServer and a real etcd
// (skipped when no etcd binary is installed). Several agents, each with its
// own store connection, run in threads of this process; one runs in a child
// process that dies without leaving (lease expiry).
#include "elastic/rendezvous/rendezvous.h"

#include <cstdlib>
#include <future>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "elastic/etcd/etcd_store.h"
#include "elastic/etcd/etcd_test_server.h"
#include "elastic/store/store_client.h"
#include "elastic/store/store_server.h"
#include "gtest/gtest.h"
#include "tests/testing/run_ranks.h"

namespace braid::elastic {
namespace {

constexpr char kToken[] = "rendezvous-test-token";

absl::Duration Scaled(absl::Duration d) { return d * braid::testing::TimeoutScale(); }

struct Agent {
  std::unique_ptr<runtime::Store> client;
  std::unique_ptr<Rendezvous> rdzv;
};

// The parameter: "embedded" or "etcd".
class RendezvousTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (braid::testing::IsRankProcess()) return;
    if (GetParam() == "etcd") {
      auto etcd = EtcdTestServer::Start();
      if (absl::IsNotFound(etcd.status())) GTEST_SKIP() << etcd.status().message();
      ASSERT_TRUE(etcd.ok()) << etcd.status();
      etcd_ = std::move(*etcd);
      address_ = etcd_->endpoint();
      return;
    }
    StoreServerOptions o;
    o.job_token = kToken;
    auto server = StoreServer::Create(o);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
    address_ = server_->address();
  }

  static std::unique_ptr<runtime::Store> Connect(const std::string& kind,
                                                 const std::string& address) {
    if (kind == "etcd") {
      EtcdStoreOptions o;
      o.endpoints = {address};
      auto c = EtcdStore::Create(o);
      EXPECT_TRUE(c.ok()) << c.status();
      return c.ok() ? std::unique_ptr<runtime::Store>(std::move(*c)) : nullptr;
    }
    StoreClientOptions o;
    o.address = address;
    o.job_token = kToken;
    o.connect_timeout = absl::Seconds(10);
    auto c = StoreClient::Create(o);
    EXPECT_TRUE(c.ok()) << c.status();
    return c.ok() ? std::unique_ptr<runtime::Store>(std::move(*c)) : nullptr;
  }

  // etcd raises lease TTLs below 2 s to 2 s.
  static absl::Duration LeaseTtl(const std::string& kind) {
    return kind == "etcd" ? absl::Seconds(2) : absl::Milliseconds(900);
  }

  static RendezvousOptions Options(const std::string& kind, runtime::Store* store,
                                   const std::string& id, int min_nodes, int max_nodes) {
    RendezvousOptions o;
    o.store = store;
    o.run_id = "job";
    o.min_nodes = min_nodes;
    o.max_nodes = max_nodes;
    o.last_call = absl::Milliseconds(300);
    o.lease_ttl = LeaseTtl(kind);
    o.node.node_id = id;
    o.node.local_world_size = 2;
    return o;
  }

  Agent MakeAgent(const std::string& id, int min_nodes, int max_nodes, int requested_rank = -1) {
    Agent a;
    a.client = Connect(GetParam(), address_);
    if (a.client == nullptr) return a;
    RendezvousOptions o = Options(GetParam(), a.client.get(), id, min_nodes, max_nodes);
    o.node.requested_rank = requested_rank;
    auto r = Rendezvous::Create(o);
    EXPECT_TRUE(r.ok()) << r.status();
    if (r.ok()) a.rdzv = std::move(*r);
    return a;
  }

  absl::Time Deadline() const { return absl::Now() + Scaled(absl::Seconds(10)); }

  std::unique_ptr<StoreServer> server_;
  std::unique_ptr<EtcdTestServer> etcd_;
  std::string address_;
};

TEST_P(RendezvousTest, SingleNode) {
  Agent a = MakeAgent("a", 1, 1);
  ASSERT_NE(a.rdzv, nullptr);
  absl::StatusOr<RoundResult> r = a.rdzv->Join(Deadline());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->generation, 1);
  EXPECT_EQ(r->node_rank, 0);
  EXPECT_EQ(r->world_size(), 2);
  absl::StatusOr<std::string> m = a.client->Get(a.rdzv->membership_key(), Deadline());
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(*m, "generation 1\nworld_size 2\nnode 0 a 127.0.0.1 2 0\n");
  absl::StatusOr<bool> changed = a.rdzv->CheckMembership(Deadline());
  ASSERT_TRUE(changed.ok()) << changed.status();
  EXPECT_FALSE(*changed);
}

TEST_P(RendezvousTest, TwoNodesFixedSize) {
  Agent a = MakeAgent("a", 2, 2);
  Agent b = MakeAgent("b", 2, 2);
  ASSERT_NE(b.rdzv, nullptr);
  auto fa = std::async(std::launch::async, [&] { return a.rdzv->Join(Deadline()); });
  auto fb = std::async(std::launch::async, [&] { return b.rdzv->Join(Deadline()); });
  absl::StatusOr<RoundResult> ra = fa.get(), rb = fb.get();
  ASSERT_TRUE(ra.ok()) << ra.status();
  ASSERT_TRUE(rb.ok()) << rb.status();
  EXPECT_EQ(ra->generation, rb->generation);
  EXPECT_EQ(ra->nodes, rb->nodes);
  EXPECT_EQ(ra->node_rank + rb->node_rank, 1);
  EXPECT_EQ(ra->world_size(), 4);
  EXPECT_EQ(ra->first_global_rank(1), 2);
}

TEST_P(RendezvousTest, StaticRequestedRanks) {
  Agent a = MakeAgent("a", 2, 2, /*requested_rank=*/1);
  Agent b = MakeAgent("b", 2, 2, /*requested_rank=*/0);
  ASSERT_NE(b.rdzv, nullptr);
  auto fa = std::async(std::launch::async, [&] { return a.rdzv->Join(Deadline()); });
  absl::StatusOr<RoundResult> rb = b.rdzv->Join(Deadline());
  absl::StatusOr<RoundResult> ra = fa.get();
  ASSERT_TRUE(ra.ok()) << ra.status();
  ASSERT_TRUE(rb.ok()) << rb.status();
  EXPECT_EQ(ra->node_rank, 1);
  EXPECT_EQ(rb->node_rank, 0);
}

TEST_P(RendezvousTest, TimeoutNamesHowManyJoined) {
  Agent a = MakeAgent("a", 2, 3);
  ASSERT_NE(a.rdzv, nullptr);
  absl::StatusOr<RoundResult> r = a.rdzv->Join(absl::Now() + absl::Milliseconds(500));
  ASSERT_EQ(r.status().code(), absl::StatusCode::kDeadlineExceeded) << r.status();
  EXPECT_TRUE(absl::StrContains(r.status().message(), "1 of min 2 nodes")) << r.status();
}

TEST_P(RendezvousTest, MismatchedNodeRangeIsRefused) {
  Agent a = MakeAgent("a", 1, 1);
  ASSERT_TRUE(a.rdzv->Join(Deadline()).ok());
  Agent b = MakeAgent("b", 1, 2);
  absl::StatusOr<RoundResult> r = b.rdzv->Join(Deadline());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << r.status();
}

// Two agents form generation 1; a third joins and all re-form as generation 2
// (old nodes keep their ranks); the third leaves and the survivors re-form.
TEST_P(RendezvousTest, ElasticJoinAndLeave) {
  Agent a = MakeAgent("a", 1, 3);
  Agent b = MakeAgent("b", 1, 3);
  ASSERT_NE(b.rdzv, nullptr);
  auto fa = std::async(std::launch::async, [&] { return a.rdzv->Join(Deadline()); });
  absl::StatusOr<RoundResult> rb = b.rdzv->Join(Deadline());
  absl::StatusOr<RoundResult> ra = fa.get();
  ASSERT_TRUE(ra.ok()) << ra.status();
  ASSERT_TRUE(rb.ok()) << rb.status();
  // With last_call 300 ms both usually make round 1; if one was late it
  // re-formed already. Either way both agree.
  ASSERT_EQ(ra->generation, rb->generation);
  ASSERT_EQ(ra->num_nodes(), 2);
  const int64_t g1 = ra->generation;

  Agent c = MakeAgent("c", 1, 3);
  ASSERT_NE(c.rdzv, nullptr);
  auto fc = std::async(std::launch::async, [&] { return c.rdzv->Join(Deadline()); });
  // The survivors notice the newcomer through CheckMembership, as agents do
  // in their monitor loop.
  auto rejoin = [&](Agent& agent) -> absl::StatusOr<RoundResult> {
    const absl::Time deadline = Deadline();
    while (absl::Now() < deadline) {
      absl::StatusOr<bool> changed = agent.rdzv->CheckMembership(deadline);
      if (!changed.ok()) return changed.status();
      if (*changed) return agent.rdzv->Join(deadline);
      absl::SleepFor(absl::Milliseconds(20));  // the monitor interval
    }
    return absl::DeadlineExceededError("no membership change seen");
  };
  auto fa2 = std::async(std::launch::async, [&] { return rejoin(a); });
  absl::StatusOr<RoundResult> rb2 = rejoin(b);
  absl::StatusOr<RoundResult> ra2 = fa2.get();
  absl::StatusOr<RoundResult> rc = fc.get();
  ASSERT_TRUE(ra2.ok()) << ra2.status();
  ASSERT_TRUE(rb2.ok()) << rb2.status();
  ASSERT_TRUE(rc.ok()) << rc.status();
  EXPECT_GT(rc->generation, g1);
  EXPECT_EQ(ra2->generation, rc->generation);
  EXPECT_EQ(rb2->generation, rc->generation);
  ASSERT_EQ(rc->num_nodes(), 3);
  EXPECT_EQ(ra2->node_rank, ra->node_rank);
  EXPECT_EQ(rb2->node_rank, rb->node_rank);
  EXPECT_EQ(rc->node_rank, 2);
  const int64_t g2 = rc->generation;

  ASSERT_TRUE(c.rdzv->Leave(Deadline()).ok());
  auto fa3 = std::async(std::launch::async, [&] { return rejoin(a); });
  absl::StatusOr<RoundResult> rb3 = rejoin(b);
  absl::StatusOr<RoundResult> ra3 = fa3.get();
  ASSERT_TRUE(ra3.ok()) << ra3.status();
  ASSERT_TRUE(rb3.ok()) << rb3.status();
  EXPECT_EQ(ra3->generation, g2 + 1);
  EXPECT_EQ(rb3->generation, g2 + 1);
  EXPECT_EQ(ra3->num_nodes(), 2);
  absl::StatusOr<std::string> m = a.client->Get(a.rdzv->membership_key(), Deadline());
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_TRUE(absl::StartsWith(*m, absl::StrCat("generation ", g2 + 1, "\nworld_size 4\n"))) << *m;
}

// A newcomer's round closes before the survivors re-join (they are slow);
// when all meet in the next round the survivors still come first, in their
// old order (seniority), and the newcomer last.
TEST_P(RendezvousTest, SlowSurvivorsKeepTheirRanks) {
  Agent a = MakeAgent("a", 1, 3);
  Agent b = MakeAgent("b", 1, 3);
  ASSERT_NE(b.rdzv, nullptr);
  auto fa = std::async(std::launch::async, [&] { return a.rdzv->Join(Deadline()); });
  absl::StatusOr<RoundResult> rb = b.rdzv->Join(Deadline());
  absl::StatusOr<RoundResult> ra = fa.get();
  ASSERT_TRUE(ra.ok() && rb.ok());
  ASSERT_EQ(ra->num_nodes(), 2);

  Agent c = MakeAgent("c", 1, 3);
  ASSERT_NE(c.rdzv, nullptr);
  absl::StatusOr<RoundResult> rc = c.rdzv->Join(Deadline());  // closes alone
  ASSERT_TRUE(rc.ok()) << rc.status();
  ASSERT_EQ(rc->num_nodes(), 1);
  EXPECT_EQ(rc->node_rank, 0);

  // Now the survivors notice and re-join; c notices them and re-joins too.
  absl::StatusOr<bool> changed = a.rdzv->CheckMembership(Deadline());
  ASSERT_TRUE(changed.ok() && *changed);
  ASSERT_TRUE(b.rdzv->CheckMembership(Deadline()).value_or(false));
  auto fa2 = std::async(std::launch::async, [&] { return a.rdzv->Join(Deadline()); });
  auto fb2 = std::async(std::launch::async, [&] { return b.rdzv->Join(Deadline()); });
  absl::StatusOr<RoundResult> rc2;
  const absl::Time deadline = Deadline();
  while (absl::Now() < deadline) {
    absl::StatusOr<bool> c_changed = c.rdzv->CheckMembership(deadline);
    ASSERT_TRUE(c_changed.ok()) << c_changed.status();
    if (*c_changed) {
      rc2 = c.rdzv->Join(deadline);
      break;
    }
    absl::SleepFor(absl::Milliseconds(20));  // the monitor interval
  }
  absl::StatusOr<RoundResult> ra2 = fa2.get(), rb2 = fb2.get();
  ASSERT_TRUE(ra2.ok()) << ra2.status();
  ASSERT_TRUE(rb2.ok()) << rb2.status();
  ASSERT_TRUE(rc2.ok()) << rc2.status();
  ASSERT_EQ(ra2->generation, rc2->generation);
  ASSERT_EQ(rb2->generation, rc2->generation);
  ASSERT_EQ(rc2->num_nodes(), 3);
  EXPECT_EQ(ra2->node_rank, ra->node_rank);
  EXPECT_EQ(rb2->node_rank, rb->node_rank);
  EXPECT_EQ(rc2->node_rank, 2);
}

// A static job that failed for good on one node stops the others.
TEST_P(RendezvousTest, FailedJobAbortsTheOthers) {
  Agent a = MakeAgent("a", 2, 2);
  Agent b = MakeAgent("b", 2, 2);
  ASSERT_NE(b.rdzv, nullptr);
  auto fa = std::async(std::launch::async, [&] { return a.rdzv->Join(Deadline()); });
  ASSERT_TRUE(b.rdzv->Join(Deadline()).ok());
  ASSERT_TRUE(fa.get().ok());
  ASSERT_TRUE(b.rdzv->MarkFailed("rank 3 exit code 4", Deadline()).ok());
  ASSERT_TRUE(b.rdzv->Leave(Deadline()).ok());
  absl::StatusOr<bool> changed = a.rdzv->CheckMembership(Deadline());
  ASSERT_EQ(changed.status().code(), absl::StatusCode::kAborted) << changed.status();
  EXPECT_TRUE(absl::StrContains(changed.status().message(), "rank 3 exit code 4"));
  EXPECT_EQ(a.rdzv->Join(Deadline()).status().code(), absl::StatusCode::kAborted);
}

// A node that finished (MarkDone) and left does not disturb the others.
TEST_P(RendezvousTest, DoneNodeLeavingStartsNoRound) {
  Agent a = MakeAgent("a", 2, 2);
  Agent b = MakeAgent("b", 2, 2);
  ASSERT_NE(b.rdzv, nullptr);
  auto fa = std::async(std::launch::async, [&] { return a.rdzv->Join(Deadline()); });
  ASSERT_TRUE(b.rdzv->Join(Deadline()).ok());
  ASSERT_TRUE(fa.get().ok());
  ASSERT_TRUE(b.rdzv->MarkDone(Deadline()).ok());
  ASSERT_TRUE(b.rdzv->Leave(Deadline()).ok());
  absl::StatusOr<bool> changed = a.rdzv->CheckMembership(Deadline());
  ASSERT_TRUE(changed.ok()) << changed.status();
  EXPECT_FALSE(*changed);
}

// A node whose agent process dies (no Leave) is noticed when its lease
// expires, and the survivor re-forms alone.
TEST_P(RendezvousTest, DeadNodeLeaseExpiry) {
  const char* addr_env = std::getenv("RDZV_TEST_STORE");
  if (braid::testing::IsRankProcess()) {
    // The child: join as node "dead" and vanish without revoking the lease.
    braid::testing::RunRanks(1, [&](int, int) {
      auto client = Connect(GetParam(), addr_env);
      ASSERT_NE(client, nullptr);
      auto r = Rendezvous::Create(Options(GetParam(), client.get(), "dead", 1, 2));
      ASSERT_TRUE(r.ok()) << r.status();
      absl::StatusOr<RoundResult> round = (*r)->Join(absl::Now() + absl::Seconds(30));
      ASSERT_TRUE(round.ok()) << round.status();
      std::fflush(stdout);
      _exit(round->num_nodes() == 2 ? 0 : 3);
    });
    return;
  }
  Agent a = MakeAgent("a", 1, 2);
  ASSERT_NE(a.rdzv, nullptr);
  braid::testing::RunRanksOptions ro;
  ro.timeout = absl::Seconds(30);
  ro.env["RDZV_TEST_STORE"] = address_;
  auto fa = std::async(std::launch::async, [&] { return a.rdzv->Join(Deadline()); });
  braid::testing::RankResults child = braid::testing::RunRanks(1, [](int, int) {}, ro);
  ASSERT_TRUE(child.AllSucceeded()) << child.Summary();
  absl::StatusOr<RoundResult> ra = fa.get();
  ASSERT_TRUE(ra.ok()) << ra.status();
  ASSERT_EQ(ra->num_nodes(), 2);
  // The child is gone; within the lease TTL (+ slack) the survivor sees it.
  const absl::Time deadline = Deadline();
  bool changed = false;
  while (!changed && absl::Now() < deadline) {
    absl::StatusOr<bool> c = a.rdzv->CheckMembership(deadline);
    ASSERT_TRUE(c.ok()) << c.status();
    changed = *c;
    if (!changed) absl::SleepFor(absl::Milliseconds(50));
  }
  ASSERT_TRUE(changed);
  absl::StatusOr<RoundResult> again = a.rdzv->Join(Deadline());
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->generation, ra->generation + 1);
  EXPECT_EQ(again->num_nodes(), 1);
}

// CMake builds this file twice: rendezvous_store_test (embedded) and
// rendezvous_etcd_test (etcd, label etcd), so a missing etcd skips only the
// latter.
INSTANTIATE_TEST_SUITE_P(Stores, RendezvousTest, ::testing::Values(RDZV_STORE_KIND),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           return info.param;
                         });

}  // namespace
}  // namespace braid::elastic
