// PersistentVolumeClaims end to end on a real `kedge server` (API server,
// PV controller + local-path provisioner, scheduler, kubelet on containerd +
// runc) driven by /usr/bin/kubectl:
//   - a StatefulSet's volumeClaimTemplate on the default class (local-path,
//     WaitForFirstConsumer) is provisioned for the node, the replacement pod
//     sees the first pod's file, and deleting the claim after scale-down
//     removes the PV and its directory (reclaim Delete);
//   - a pod whose Immediate claim has no volume stays Pending with upstream's
//     FailedScheduling reason, runs once a matching PV appears, and a
//     readOnly claim volume refuses writes.
#include <gtest/gtest.h>

#include "kubelet_fixture.h"

namespace kedge::agent::kubelet_e2e {
namespace {

class PvcE2E : public KubeletE2E {
 protected:
  std::string pod_phase(const std::string& name) { return at(get("pod/" + name), {"status", "phase"}); }
  bool wait_running(const std::string& name, seconds timeout = seconds(90)) {
    return testing::eventually([&] { return pod_phase(name) == "Running"; }, timeout);
  }
  std::string events_of(const std::string& name) {
    return kubectl({"get", "events", "--field-selector", "involvedObject.name=" + name, "-o",
                    "custom-columns=REASON:.reason,MESSAGE:.message", "--no-headers"})
        .out;
  }
};

constexpr char kStatefulSet[] = R"(apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: db
spec:
  serviceName: db
  replicas: 1
  selector:
    matchLabels: {app: db}
  template:
    metadata:
      labels: {app: db}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: db
        image: kedge.local/busybox:latest
        command: ["sh", "-c", "[ -f /data/hello ] || echo hello-$(hostname) > /data/hello; sleep 3600"]
        volumeMounts:
        - {name: data, mountPath: /data}
  volumeClaimTemplates:
  - metadata:
      name: data
    spec:
      accessModes: [ReadWriteOnce]
      resources:
        requests: {storage: 16Mi}
)";

TEST_F(PvcE2E, StatefulSetDataOutlivesItsPodAndReclaimDeletesIt) {
  ASSERT_TRUE(wait_node_ready(seconds(60)));
  // The default class exists, printed as upstream does.
  ASSERT_TRUE(testing::eventually([&] { return kubectl({"get", "sc"}).out.find("local-path") != std::string::npos; },
                                  seconds(20)));
  const std::string sc = kubectl({"get", "sc"}).out;
  EXPECT_NE(sc.find("PROVISIONER"), std::string::npos) << sc;
  EXPECT_NE(sc.find("RECLAIMPOLICY   VOLUMEBINDINGMODE      ALLOWVOLUMEEXPANSION   AGE"), std::string::npos) << sc;
  EXPECT_NE(sc.find("local-path (default)   kedge.io/local-path   Delete          WaitForFirstConsumer   false"),
            std::string::npos)
      << sc;

  ASSERT_EQ(apply(kStatefulSet).exit_code, 0);
  ASSERT_TRUE(wait_running("db-0")) << kubectl({"describe", "pod", "db-0"}).out << kubectl({"describe", "pvc"}).out;
  const json::value claim = get("pvc/data-db-0");
  EXPECT_EQ(at(claim, {"status", "phase"}), "Bound");
  EXPECT_EQ(at(claim, {"spec", "storageClassName"}), "local-path");
  EXPECT_EQ(at(claim, {"metadata", "annotations", "volume.kubernetes.io/selected-node"}), node_);
  const std::string pv = at(claim, {"spec", "volumeName"});
  ASSERT_FALSE(pv.empty());
  const fs::path data_dir = dir_ / "storage" / pv;
  EXPECT_EQ(at(get("pv/" + pv), {"spec", "hostPath", "path"}), data_dir.string());
  ASSERT_TRUE(testing::eventually([&] { return fs::exists(data_dir / "hello"); }, seconds(20)));
  EXPECT_EQ(e2e::read_all(data_dir / "hello"), "hello-db-0\n");

  const std::string listing = kubectl({"get", "pv,pvc"}).out;
  for (const char* header : {"CAPACITY   ACCESS MODES   RECLAIM POLICY   STATUS   CLAIM", "STORAGECLASS",
                             "VOLUMEATTRIBUTESCLASS   REASON   AGE", "STATUS   VOLUME"}) {
    EXPECT_NE(listing.find(header), std::string::npos) << header << "\n" << listing;
  }
  EXPECT_NE(listing.find("16Mi       RWO            Delete           Bound    default/data-db-0   local-path"),
            std::string::npos)
      << listing;
  EXPECT_NE(listing.find("persistentvolumeclaim/data-db-0   Bound    " + pv + "   16Mi       RWO            local-path"),
            std::string::npos)
      << listing;
  EXPECT_NE(events_of("data-db-0").find("ProvisioningSucceeded"), std::string::npos) << events_of("data-db-0");

  // The replacement pod sees the first one's file (the container writes
  // only when it is missing).
  const std::string first_uid = at(get("pod/db-0"), {"metadata", "uid"});
  ASSERT_EQ(kubectl({"delete", "pod", "db-0", "--wait=false"}).exit_code, 0);
  ASSERT_TRUE(testing::eventually(
      [&] {
        const json::value p = get("pod/db-0");
        return at(p, {"metadata", "uid"}) != first_uid && at(p, {"status", "phase"}) == "Running";
      },
      seconds(90)));
  auto cat = kubectl({"exec", "db-0", "--", "cat", "/data/hello"});
  EXPECT_EQ(cat.out, "hello-db-0\n") << cat.err;

  // Scale down, delete the claim: Delete reclaims the PV and the directory.
  ASSERT_EQ(kubectl({"scale", "statefulset", "db", "--replicas=0"}).exit_code, 0);
  ASSERT_TRUE(testing::eventually([&] { return get("pod/db-0").is_null(); }, seconds(60)));
  ASSERT_EQ(kubectl({"delete", "pvc", "data-db-0", "--wait=false"}).exit_code, 0);
  EXPECT_TRUE(testing::eventually([&] { return get("pv/" + pv).is_null(); }, seconds(30)))
      << kubectl({"get", "pv", pv, "-o", "yaml"}).out;
  EXPECT_FALSE(fs::exists(data_dir));
  EXPECT_TRUE(get("pvc/data-db-0").is_null());
}

TEST_F(PvcE2E, PodWaitsForItsImmediateClaimAndHonoursReadOnly) {
  ASSERT_TRUE(wait_node_ready(seconds(60)));
  const fs::path host = dir_ / "manual";
  fs::create_directories(host);
  std::ofstream(host / "seed") << "seeded\n";
  ASSERT_EQ(apply(R"(apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: manual
spec:
  storageClassName: ""
  accessModes: [ReadWriteOnce]
  resources:
    requests: {storage: 1Mi}
)").exit_code,
            0);
  ASSERT_EQ(apply(R"(apiVersion: v1
kind: Pod
metadata:
  name: reader
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: c
    image: kedge.local/busybox:latest
    command: ["sh", "-c", "cat /data/seed; touch /data/new 2>&1 || true; sleep 3600"]
    volumeMounts:
    - {name: data, mountPath: /data}
  volumes:
  - name: data
    persistentVolumeClaim: {claimName: manual, readOnly: true}
)").exit_code,
            0);
  ASSERT_TRUE(testing::eventually(
      [&] { return events_of("reader").find("pod has unbound immediate PersistentVolumeClaims") != std::string::npos; },
      seconds(30)))
      << events_of("reader");
  EXPECT_EQ(pod_phase("reader"), "Pending");
  EXPECT_NE(events_of("manual").find("FailedBinding"), std::string::npos) << events_of("manual");

  ASSERT_EQ(apply("apiVersion: v1\nkind: PersistentVolume\nmetadata:\n  name: manual-pv\nspec:\n"
                  "  capacity: {storage: 5Mi}\n  accessModes: [ReadWriteOnce]\n"
                  "  persistentVolumeReclaimPolicy: Retain\n  hostPath: {path: " + host.string() + "}\n")
                .exit_code,
            0);
  ASSERT_TRUE(wait_running("reader", seconds(60))) << kubectl({"describe", "pod", "reader"}).out;
  EXPECT_EQ(at(get("pvc/manual"), {"spec", "volumeName"}), "manual-pv");
  ASSERT_TRUE(testing::eventually([&] { return pod_log("reader", "c").find("Read-only file system") != std::string::npos; },
                                  seconds(20)))
      << pod_log("reader", "c");
  EXPECT_NE(pod_log("reader", "c").find("seeded"), std::string::npos);
  EXPECT_FALSE(fs::exists(host / "new"));

  // The claim is protected while the pod uses it; Retain keeps the data.
  ASSERT_EQ(kubectl({"delete", "pvc", "manual", "--wait=false"}).exit_code, 0);
  EXPECT_FALSE(get("pvc/manual").is_null());
  ASSERT_EQ(kubectl({"delete", "pod", "reader", "--wait=false"}).exit_code, 0);
  ASSERT_TRUE(testing::eventually([&] { return get("pvc/manual").is_null(); }, seconds(60)));
  EXPECT_TRUE(testing::eventually([&] { return at(get("pv/manual-pv"), {"status", "phase"}) == "Released"; },
                                  seconds(20)));
  EXPECT_TRUE(fs::exists(host / "seed"));
}

}  // namespace
}  // namespace kedge::agent::kubelet_e2e
