// Small file helpers shared by components that keep state on disk.
//
// Thread-safety: free functions; concurrent writers of one path race.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <string_view>

#include "kedge/base/status.h"

namespace kedge {

// Writes `data` to `path` through `path`.tmp (created with `mode`), fsync,
// then rename over `path`: a crash or power cut leaves the old file or the
// new one, never half of one. Errors name the step and the file.
Status write_file_atomic(const std::filesystem::path& path, std::string_view data, mode_t mode);

}  // namespace kedge
