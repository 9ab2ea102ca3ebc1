#include "kedge/agent/memory.h"

#include <malloc.h>

namespace kedge::agent {

void limit_malloc_arenas(int arenas) { ::mallopt(M_ARENA_MAX, arenas); }

}  // namespace kedge::agent
