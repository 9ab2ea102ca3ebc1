// Shared by the workload controller tests: a hand-driven steady clock for
// work queues and expectations.
#pragma once

#include "kedge/controllers/workqueue.h"

namespace kedge::controllers::testing {

class ManualClock final : public Clock {
 public:
  TimePoint now() const override { return t_; }
  void advance(Duration d) { t_ += d; }

 private:
  TimePoint t_{std::chrono::hours(1)};
};

}  // namespace kedge::controllers::testing
