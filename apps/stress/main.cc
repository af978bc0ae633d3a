// coordkit-stress: proves against a live gateway that every acknowledged
// write is kept and reads stay consistent under HTTP load, CLI-like worker
// processes and chaos. See README.md.
//
// Exit codes: 0 every check holds, 1 a check failed (the report names it and
// the first offending records), 2 usage, 3 the run could not start (no
// gateway, no key, no database).
#include <CLI/CLI.hpp>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>

#include "coordkit/stress/report.h"
#include "coordkit/stress/runner.h"
#include "coordkit/stress/worker.h"

namespace {

namespace cs = coordkit::stress;

constexpr const char* kFooter = R"(Examples:
  # against a running gateway (token from its runtime dir), 30 s, 8 connections, 4 workers
  coordkit-stress --url http://127.0.0.1:8470 --runtime-dir $XDG_RUNTIME_DIR/coordkit/gateway \
      --database ~/gw/gateway.db --key-file ~/gw.key --duration 30 --connections 8 --workers 4

  # start a gateway, chaos on, reports as JSON and HTML
  coordkit-stress --spawn-gateway --gateway-binary ./coordkit-gateway --data-dir /tmp/st \
      --key-file /tmp/st.key --kill-rate 1 --checkpoint-every 2 --backup-every 5 \
      --graceful-restarts 1 --kill9-restarts 1 --json report.json --html report.html

  # open loop at 400 requests/s: latency counted from each request's intended send time
  coordkit-stress --url unix:/run/user/1000/gw.sock --token-file tok --rate 400 ...

Exit codes: 0 every check holds, 1 a check failed, 2 usage, 3 the run could not start.)";

void setup_worker(CLI::App& app, cs::WorkerOptions& w) {
  CLI::App* sub = app.add_subcommand("worker", "A CLI-like worker process (started by the tester)");
  sub->group("");  // hidden
  sub->add_option("--database", w.database)->required();
  sub->add_option("--key-file", w.key_file);
  sub->add_option("--out", w.out)->required();
  sub->add_option("--actor", w.actor);
  sub->add_option("--collection", w.collection);
  sub->add_option("--seed", w.seed);
  sub->add_option("--duration-ms", w.duration_ms);
  sub->add_option("--max-ops", w.max_ops);
  sub->add_flag("--long-lived", w.long_lived);
  sub->add_option("--pause-ms", w.pause_ms);
}

struct Outputs {
  std::string json_path;
  std::string html_path;
  bool json_stdout = false;
  std::string token_file;
  bool quiet = false;
};

void setup_run(CLI::App& app, cs::RunOptions& o, Outputs& out) {
  app.add_option("--url", o.url, "The gateway: http://HOST:PORT or unix:PATH");
  app.add_option("--token", o.admin_token,
                 "The admin bearer token (else --token-file or the runtime dir)");
  app.add_option("--token-file", out.token_file, "A file holding the admin token");
  app.add_option("--runtime-dir", o.runtime_dir, "The gateway's runtime dir (its admin token)");
  app.add_option("--database", o.database,
                 "The database file, for the workers and the direct checks");
  app.add_option("--key-file", o.key_file,
                 "The key file (else $COORDKIT_KEY_FILE or $COORDKIT_PASSPHRASE)");
  app.add_flag("--spawn-gateway", o.spawn_gateway, "Start a gateway for the run and stop it after");
  app.add_option("--gateway-binary", o.gateway_binary, "coordkit-gateway (with --spawn-gateway)");
  app.add_option("--data-dir", o.data_dir,
                 "The spawned gateway's data dir; the tester's files go to <data-dir>/stress");
  app.add_option("--work-dir", o.work_dir,
                 "Where the worker ledgers go (default <data-dir>/stress)");
  app.add_option("--collection", o.collection, "The collection the run writes")
      ->capture_default_str();
  app.add_option("--connections", o.connections, "HTTP connections")
      ->check(CLI::Range(0, 256))
      ->capture_default_str();
  app.add_option("--workers", o.workers, "Worker processes")
      ->check(CLI::Range(0, 64))
      ->capture_default_str();
  app.add_option("--long-lived-workers", o.long_lived_workers,
                 "Of them, how many keep the database open")
      ->check(CLI::Range(0, 64))
      ->capture_default_str();
  app.add_option("--duration", o.duration_s, "Seconds of load")
      ->check(CLI::Range(0.5, 86400.0))
      ->capture_default_str();
  app.add_option("--ops", o.max_ops, "Stop after this many HTTP operations (0: no limit)");
  app.add_option("--rate", o.rate, "Open loop: HTTP requests per second in all (0: closed loop)")
      ->check(CLI::Range(0.0, 1e6));
  app.add_option("--seed", o.seed, "Seed of the schedule")->capture_default_str();
  app.add_option("--mix-create", o.mix.create, "Weight of creates")->check(CLI::Range(0, 1000));
  app.add_option("--mix-get", o.mix.get, "Weight of gets")->check(CLI::Range(0, 1000));
  app.add_option("--mix-upsert", o.mix.upsert, "Weight of read-modify-writes with If-Match")
      ->check(CLI::Range(0, 1000));
  app.add_option("--mix-list", o.mix.list, "Weight of list pages")->check(CLI::Range(0, 1000));
  app.add_option("--mix-delete", o.mix.remove, "Weight of deletes with If-Match")
      ->check(CLI::Range(0, 1000));
  app.add_option("--kill-rate", o.kill_rate, "Chaos: worker kill -9 per second")
      ->check(CLI::Range(0.0, 100.0));
  app.add_option("--checkpoint-every", o.checkpoint_every_s,
                 "Chaos: an admin checkpoint every N s");
  app.add_option("--backup-every", o.backup_every_s, "Chaos: an online backup every N s");
  app.add_option("--graceful-restarts", o.graceful_restarts,
                 "Chaos: gateway restarts via the shutdown file")
      ->check(CLI::Range(0, 100));
  app.add_option("--kill9-restarts", o.kill9_restarts, "Chaos: gateway kill -9 and restart")
      ->check(CLI::Range(0, 100));
  app.add_option("--restart-command", o.restart_command,
                 "Chaos on a gateway you started: the shell command that starts it again "
                 "(with --runtime-dir; the tester stops it)");
  app.add_flag("-q,--quiet,--no-progress", out.quiet,
               "No progress line on stderr (the final table and reports are unchanged)");
  app.add_option("--progress-every", o.progress_every_s,
                 "When stderr is not a terminal: a progress line every N s (on a terminal the "
                 "line is rewritten once a second)")
      ->check(CLI::Range(0.1, 86400.0))
      ->capture_default_str();
  app.add_option("--json", out.json_path, "Write the JSON report here ('-': stdout)");
  app.add_option("--html", out.html_path, "Write the HTML report here");
}

int parse_and_run(int argc, char** argv) {
  CLI::App app{"coordkit-stress: prove that a gateway keeps every acknowledged write"};
  app.footer(kFooter);
  cs::WorkerOptions w;
  cs::RunOptions o;
  Outputs out;
  setup_worker(app, w);
  setup_run(app, o, out);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  }
  if (app.got_subcommand("worker")) {
    try {
      return cs::run_worker(w);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "coordkit-stress worker: %s\n", e.what());
      return 3;
    }
  }
  if (!o.spawn_gateway && o.url.empty()) {
    std::fprintf(stderr, "coordkit-stress: give --url or --spawn-gateway (try --help)\n");
    return 2;
  }
  if (o.spawn_gateway && (o.gateway_binary.empty() || o.data_dir.empty())) {
    std::fprintf(stderr,
                 "coordkit-stress: --spawn-gateway needs --gateway-binary and --data-dir\n");
    return 2;
  }
  if (o.data_dir.empty() && o.work_dir.empty()) {
    std::fprintf(stderr, "coordkit-stress: give --data-dir or --work-dir\n");
    return 2;
  }
  o.progress = !out.quiet;
  if (o.spawn_gateway && o.database.empty()) o.database = o.data_dir / "gateway.db";
  if (!out.token_file.empty()) {
    std::ifstream in(out.token_file);
    std::getline(in, o.admin_token);
  }
  cs::Report report;
  try {
    report = cs::run(o, std::filesystem::read_symlink("/proc/self/exe"));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "coordkit-stress: the run could not start or finish: %s\n", e.what());
    return 3;
  }
  std::cout << cs::render_table(report);
  const nlohmann::json j = cs::to_json(report);
  if (out.json_path == "-") {
    std::cout << j.dump() << "\n";
  } else if (!out.json_path.empty()) {
    std::ofstream(out.json_path) << j.dump(2) << "\n";
    std::cout << "json report: " << out.json_path << "\n";
  }
  if (!out.html_path.empty()) {
    std::ofstream(out.html_path) << cs::render_html(report);
    std::cout << "html report: " << out.html_path << "\n";
  }
  std::cout << "summary: " << cs::summary_json(report).dump() << "\n";
  return report.ok() ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return parse_and_run(argc, argv);
  } catch (const std::exception& e) {
    // What the steps above do not catch (out of memory, say): as for a run
    // that could not start or finish.
    std::fprintf(stderr, "coordkit-stress: %s\n", e.what());
    return 3;
  }
}
