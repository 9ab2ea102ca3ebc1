// The benchmark workload shared by bench_scheduler (the library alone) and
// bench_scheduler_server (through kedge server): 1,000-node-style Node
// objects and pods of 100-replica "apps" with mixed constraints, as JSON the
// way the API server serves them.
#pragma once

#include <boost/json/value.hpp>

namespace kedge::bench {

// node-<i>: 32 cpu / 128Gi / 110 pods, zone-a|b|c by i%3, disk=ssd on even
// i, a dedicated=edge:NoSchedule taint on every 10th, spot:PreferNoSchedule
// on every 7th, one 300 MiB image; status Ready.
boost::json::value node_json(int i);

// Pod i of app i/replicas_per_app in namespace "bench" (metadata.uid set;
// drop it before creating the pod through an API). The app's constraint kind
// is kKinds[app % 10]: plain (40%), nodeSelector disk=ssd (20%),
// toleration + preferred node affinity, required pod anti-affinity per host,
// topology spread (zone DoNotSchedule + host ScheduleAnyway), preferred pod
// affinity to the previous app + preferred anti-affinity to itself.
boost::json::value pod_json(int i, int replicas_per_app);

}  // namespace kedge::bench
