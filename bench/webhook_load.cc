// Load on `remora webhook` (in-process, real HTTPS on 127.0.0.1): client
// threads fire AdmissionReviews (the ReplicaSet pod of the component tests)
// over kept-alive TLS connections, as the API server does, and the run
// reports p50/p99 latency and reviews per second beside two baselines
// measured in the same run:
//   in-process  WebhookService::review() called directly on one thread: the
//               injection, the JSON Patch and the review, without HTTP/TLS;
//   trivial     the same server stack (http::Server, TLS, workers) with a
//               handler that answers a fixed 200: the HTTPS floor.
// Client and server share the machine's cores, so the absolute figures are
// the loopback's, not a cluster's; the ratios are the point.
//
//   build/bench/webhook_load [--seconds 5] [--clients 1,8,32]
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <unistd.h>

#include "control/webhook_server.h"
#include "control/webhook_service.h"
#include "core/event_loop.h"
#include "core/file.h"
#include "core/log.h"
#include "http/client.h"
#include "http/server.h"
#include "tls/serving.h"

using namespace remora;  // NOLINT: a benchmark's main
using Steady = std::chrono::steady_clock;

namespace {

struct Figures {
  double per_second = 0;
  double p50_us = 0;
  double p99_us = 0;
  std::size_t failures = 0;
};

Figures summarize(std::vector<double>& latencies_us, double seconds, std::size_t failures) {
  Figures f;
  f.failures = failures;
  if (latencies_us.empty()) return f;
  std::sort(latencies_us.begin(), latencies_us.end());
  f.per_second = static_cast<double>(latencies_us.size()) / seconds;
  f.p50_us = latencies_us[latencies_us.size() / 2];
  f.p99_us = latencies_us[std::min(latencies_us.size() - 1, latencies_us.size() * 99 / 100)];
  return f;
}

Figures load(std::uint16_t port, const std::string& ca_pem, const std::string& path,
             const std::string& body, int clients, double seconds) {
  std::atomic<bool> stop{false};
  std::vector<std::vector<double>> per_thread(clients);
  std::atomic<std::size_t> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < clients; ++t) {
    threads.emplace_back([&, t] {
      http::Client client({.tls = {.ca_pem = ca_pem, .server_name = "localhost"}});
      std::string url = fmt::format("https://127.0.0.1:{}{}", port, path);
      while (!stop.load(std::memory_order_relaxed)) {
        auto started = Steady::now();
        auto response = client.send({.method = "POST", .url = url, .body = body});
        auto took = std::chrono::duration<double, std::micro>(Steady::now() - started).count();
        if (!response || response->status != 200) {
          failures.fetch_add(1);
          continue;
        }
        per_thread[t].push_back(took);
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  stop = true;
  for (auto& t : threads) t.join();
  std::vector<double> all;
  for (auto& v : per_thread) all.insert(all.end(), v.begin(), v.end());
  return summarize(all, seconds, failures.load());
}

void print(std::string_view what, int clients, const Figures& f) {
  fmt::print("{:<34} clients {:>3}  {:>9.0f} reviews/s  p50 {:>8.1f} us  p99 {:>8.1f} us{}\n", what,
             clients, f.per_second, f.p50_us, f.p99_us,
             f.failures ? fmt::format("  FAILURES {}", f.failures) : "");
}

}  // namespace

int main(int argc, char** argv) {
  double seconds = 5;
  std::vector<int> client_counts = {1, 8, 32};
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string flag = argv[i];
    if (flag == "--seconds") seconds = std::stod(argv[i + 1]);
    if (flag == "--clients") {
      client_counts.clear();
      std::string list = argv[i + 1];
      for (std::size_t pos = 0; pos < list.size();) {
        std::size_t comma = list.find(',', pos);
        client_counts.push_back(std::stoi(list.substr(pos, comma - pos)));
        pos = comma == std::string::npos ? list.size() : comma + 1;
      }
    }
  }
  log::setLevel("warn");
  auto review =
      readFile(std::string(REMORA_SOURCE_DIR) + "/tests/control/reviews/replicaset_pod_create.json",
               1 << 20);
  if (!review) {
    fmt::print(stderr, "{}\n", review.error().message);
    return 1;
  }
  auto dir =
      std::filesystem::temp_directory_path() / fmt::format("remora-webhook-bench-{}", ::getpid());
  std::filesystem::create_directories(dir);
  auto bundle =
      tls::createServingBundle("remora-webhook", "remora-system", {"localhost"},
                               std::chrono::hours(1), std::chrono::hours(2), systemClock());
  if (!bundle) return 1;
  (void)writeFileAtomic((dir / "tls.crt").string(), bundle->cert_chain_pem);
  (void)writeFileAtomic((dir / "tls.key").string(), bundle->key_pem, 0600);

  auto service = std::move(control::WebhookService::create({.decision_sink = [](std::string_view) {
                 }})).value();

  // Baseline 1: the service in-process, one thread.
  {
    std::vector<double> latencies;
    auto until = Steady::now() + std::chrono::duration<double>(seconds);
    auto started = Steady::now();
    std::size_t failures = 0;
    while (Steady::now() < until) {
      auto t0 = Steady::now();
      auto answer = service->review("", *review);
      if (answer.outcome != control::ReviewOutcome::Injected) ++failures;
      latencies.push_back(std::chrono::duration<double, std::micro>(Steady::now() - t0).count());
    }
    double elapsed = std::chrono::duration<double>(Steady::now() - started).count();
    print("in-process review() (1 thread)", 1, summarize(latencies, elapsed, failures));
  }

  unsigned workers = std::max(2u, std::thread::hardware_concurrency());
  // Baseline 2: the HTTPS floor, same stack, a fixed answer.
  std::vector<Figures> trivial;
  {
    std::vector<std::unique_ptr<EventLoop>> loops;
    std::vector<std::unique_ptr<http::Server>> servers;
    std::vector<std::thread> threads;
    auto files = tls::ServingFiles((dir / "tls.crt").string(), (dir / "tls.key").string());
    auto loaded = std::move(files.load()).value();
    auto ctx = std::make_shared<asio::ssl::context>(loaded.context->asioContext());
    std::uint16_t port = 0;
    std::string fixed =
        "{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\","
        "\"response\":{\"uid\":\"x\",\"allowed\":true}}";
    for (unsigned i = 0; i < workers; ++i) {
      loops.push_back(std::make_unique<EventLoop>());
      servers.push_back(std::make_unique<http::Server>(
          *loops.back(), http::ServerOptions{.address = "127.0.0.1",
                                             .port = port,
                                             .max_body_bytes = 4 << 20,
                                             .reuse_port = true,
                                             .tls = ctx,
                                             .name = "trivial"}));
      servers.back()->route("POST", "/inject",
                            [&](const http::Request&) { return http::Response::json(200, fixed); });
      (void)servers.back()->start();
      port = servers.back()->port();
    }
    for (auto& loop : loops) threads.emplace_back([l = loop.get()] { l->run(); });
    for (int clients : client_counts) {
      auto f = load(port, bundle->ca_pem, "/inject", *review, clients, seconds);
      print("trivial HTTPS handler (floor)", clients, f);
      trivial.push_back(f);
    }
    for (std::size_t i = 0; i < loops.size(); ++i) {
      loops[i]->post([&, i] {
        servers[i].reset();
        loops[i]->stop();
      });
    }
    for (auto& t : threads) t.join();
  }

  // The webhook.
  control::WebhookServer server(*service, {.address = "127.0.0.1",
                                           .port = 0,
                                           .cert_path = (dir / "tls.crt").string(),
                                           .key_path = (dir / "tls.key").string(),
                                           .workers = workers});
  if (auto s = server.start(); !s) {
    fmt::print(stderr, "{}\n", s.error().message);
    return 1;
  }
  for (std::size_t i = 0; i < client_counts.size(); ++i) {
    auto f = load(server.port(), bundle->ca_pem, "/inject", *review, client_counts[i], seconds);
    print(fmt::format("remora webhook ({} workers)", workers), client_counts[i], f);
    fmt::print("{:<34} {:>11} {:>9.2f}x reviews/s     p99 {:>8.2f}x the floor's\n", "", "",
               f.per_second / std::max(trivial[i].per_second, 1.0),
               f.p99_us / std::max(trivial[i].p99_us, 1.0));
  }
  server.stop();
  std::filesystem::remove_all(dir);
  return 0;
}
