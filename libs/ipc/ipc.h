// coordkit/ipc/ipc.h: the umbrella header of coordkit::ipc: one server per
// runtime directory, its status, and a shutdown channel that works the same
// on every platform (a file), with SIGINT/SIGTERM on the same path.
//
// Server side (first thing in main):
//   coordkit::ipc::Server server({.app = "gateway", .version = "1.0"});
//   server.set_ready();
//   coordkit::ipc::ShutdownRequest request = server.wait_for_shutdown();
// Client side (any other process of the same user):
//   coordkit::ipc::Client client({.app = "gateway"});
//   coordkit::ipc::Status status = client.status();      // ready, draining, stale, ...
//   coordkit::ipc::StopResult result = client.stop();     // file, wait, escalate if needed
#ifndef COORDKIT_IPC_IPC_H_
#define COORDKIT_IPC_IPC_H_

#include "coordkit/ipc/client.h"
#include "coordkit/ipc/error.h"
#include "coordkit/ipc/events.h"
#include "coordkit/ipc/runtime_dir.h"
#include "coordkit/ipc/server.h"
#include "coordkit/ipc/shutdown.h"
#include "coordkit/ipc/status.h"

#endif  // COORDKIT_IPC_IPC_H_
