// Internal: picks the platform layer. Each layer provides the same functions
// and types in coordkit::spawn::internal (see posix_*.h for the contract of
// each, windows_*.h for how Windows meets it); the public headers call only
// those.
#ifndef COORDKIT_SPAWN_INTERNAL_PLATFORM_H_
#define COORDKIT_SPAWN_INTERNAL_PLATFORM_H_

#include "coordkit/spawn/internal/types.h"

#ifdef _WIN32
#include "coordkit/spawn/internal/windows_pipes.h"
#include "coordkit/spawn/internal/windows_process.h"
#include "coordkit/spawn/internal/windows_spawn.h"
#else
#include "coordkit/spawn/internal/posix_pipes.h"
#include "coordkit/spawn/internal/posix_process.h"
#include "coordkit/spawn/internal/posix_spawn.h"
#endif

#endif  // COORDKIT_SPAWN_INTERNAL_PLATFORM_H_
