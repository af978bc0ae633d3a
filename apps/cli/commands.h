// coordkit/cli/commands.h: the setup function of every coordctl command.
// Each lives in its own file (an options struct, a setup and a run
// function); setup adds the subcommand to `parent` and, when the user picks
// it, hands its run function to `runner`. `ctx` outlives the run.
#ifndef COORDKIT_APPS_CLI_COMMANDS_H_
#define COORDKIT_APPS_CLI_COMMANDS_H_

#include <CLI/CLI.hpp>

#include "coordkit/cli/context.h"

namespace coordkit::cli {

void setup_db_init(CLI::App& parent, Context& ctx, Runner& runner);
void setup_db_put(CLI::App& parent, Context& ctx, Runner& runner);
void setup_db_get(CLI::App& parent, Context& ctx, Runner& runner);
void setup_db_list(CLI::App& parent, Context& ctx, Runner& runner);
void setup_db_delete(CLI::App& parent, Context& ctx, Runner& runner);
void setup_db_check(CLI::App& parent, Context& ctx, Runner& runner);
void setup_db_backup(CLI::App& parent, Context& ctx, Runner& runner);
void setup_db_rekey(CLI::App& parent, Context& ctx, Runner& runner);
void setup_db_stats(CLI::App& parent, Context& ctx, Runner& runner);
void setup_db_export(CLI::App& parent, Context& ctx, Runner& runner);
void setup_db_import(CLI::App& parent, Context& ctx, Runner& runner);
void setup_unlock(CLI::App& parent, Context& ctx, Runner& runner);
void setup_lock(CLI::App& parent, Context& ctx, Runner& runner);
void setup_gateway_start(CLI::App& parent, Context& ctx, Runner& runner);
void setup_gateway_stop(CLI::App& parent, Context& ctx, Runner& runner);
void setup_gateway_status(CLI::App& parent, Context& ctx, Runner& runner);
void setup_gateway_logs(CLI::App& parent, Context& ctx, Runner& runner);

// record_json: a record as coordctl prints it (the export shape).
inline nlohmann::json record_json(const records::Record& r) { return records::to_json(r); }

}  // namespace coordkit::cli

#endif  // COORDKIT_APPS_CLI_COMMANDS_H_
