// ContainerIdFromCgroup on /proc/PID/cgroup texts as each runtime and cgroup
// driver writes them, v1 and v2, and on texts that name no container.

#include <gtest/gtest.h>

#include <optional>
#include <string>

#include "wmeta/collectors/process.h"

namespace wmeta::collectors {
namespace {

constexpr char kId[] =
    "1df8e5a588a978ceca7d7b944913dc07d56552f4940f59f987a54b6c8bf1c94b";
constexpr char kOuterId[] =
    "be82875de0e33fa6d2351aaef2c9293da2f670837dad3ec555db5f3e0132204e";
constexpr char kPodUid[] = "b38f145b-6f5a-48bc-ae14-51296e9f0a0f";
constexpr char kPodUidSystemd[] = "b38f145b_6f5a_48bc_ae14_51296e9f0a0f";

struct Case {
  std::string name;
  std::string cgroup;
  std::optional<std::string> want;
};

TEST(ContainerIdFromCgroupTest, RuntimeShapes) {
  const std::string id = kId;
  const std::string pod = kPodUid;
  const std::string pod_systemd = kPodUidSystemd;
  const Case cases[] = {
      {"docker, cgroupfs, v1 (as on these machines)",
       "9:name=systemd:/docker/" + id + "\n8:pids:/docker/" + id +
           "\n4:memory:/docker/" + id + "\n1:cpu:/docker/" + id +
           "\n0::/docker/" + id + "\n",
       id},
      {"docker, cgroupfs, v2 with a host cgroup namespace",
       "0::/docker/" + id + "\n", id},
      {"docker, systemd, v2", "0::/system.slice/docker-" + id + ".scope\n", id},
      {"docker, systemd, v1",
       "11:memory:/system.slice/docker-" + id +
           ".scope\n1:name=systemd:/system.slice/docker-" + id + ".scope\n",
       id},
      {"kubepods, cgroupfs, v1",
       "10:memory:/kubepods/burstable/pod" + pod + "/" + id +
           "\n1:name=systemd:/kubepods/burstable/pod" + pod + "/" + id + "\n",
       id},
      {"kubepods, cgroupfs, v2 (guaranteed QoS has no class folder)",
       "0::/kubepods/pod" + pod + "/" + id + "\n", id},
      {"kubepods, systemd, containerd, v2",
       "0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" +
           pod_systemd + ".slice/cri-containerd-" + id + ".scope\n",
       id},
      {"kubepods, systemd, cri-o, v2",
       "0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" +
           pod_systemd + ".slice/crio-" + id + ".scope\n",
       id},
      {"kubepods, systemd, cri-o, v1",
       "7:pids:/kubepods.slice/kubepods-besteffort.slice/"
       "kubepods-besteffort-pod" +
           pod_systemd + ".slice/crio-" + id + ".scope\n",
       id},
      {"podman, cgroupfs, v1 (as on these machines)",
       "4:memory:/libpod_parent/libpod-" + id + "\n", id},
      {"podman, cgroupfs, v2", "0::/libpod_parent/libpod-" + id + "\n", id},
      {"podman, systemd, v1",
       "4:memory:/machine.slice/libpod-" + id + ".scope\n", id},
      {"podman, systemd, v2: the container's own sub-cgroup",
       "0::/machine.slice/libpod-" + id + ".scope/container\n", id},
      {"podman rootless, v2",
       "0::/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-" +
           id + ".scope/container\n",
       id},
      {"containerd, k8s.io namespace", "0::/k8s.io/" + id + "\n", id},
      {"containerd, default namespace, v1",
       "4:memory:/default/" + id + "\n1:name=systemd:/default/" + id + "\n",
       id},
      {"GitHub Actions job container", "0::/actions_job/" + id + "\n", id},
      {"systemd running inside a docker container",
       "0::/docker/" + id + "/init.scope\n", id},
      {"docker in docker: the inner container",
       "0::/docker/" + std::string(kOuterId) + "/docker/" + id + "\n", id},
      {"hybrid v1/v2, no trailing newline", "4:memory:/docker/" + id + "\n0::/",
       id},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(ContainerIdFromCgroup(c.cgroup), c.want) << c.name;
  }
}

TEST(ContainerIdFromCgroupTest, NoContainer) {
  const std::string id = kId;
  const Case cases[] = {
      {"empty", "", std::nullopt},
      {"v2 root", "0::/\n", std::nullopt},
      {"init", "0::/init.scope\n", std::nullopt},
      {"a login session", "0::/user.slice/user-1000.slice/session-1.scope\n",
       std::nullopt},
      {"the docker daemon itself", "0::/system.slice/docker.service\n",
       std::nullopt},
      {"a login shell on these machines (a 32-hex cgroup)",
       "9:name=systemd:/\n4:memory:/process_api/"
       "d48cf1514aec119b97ecdae6e094fb33\n0::/\n",
       std::nullopt},
      {"a containerd container named, not hashed", "0::/probe/ctr-run\n",
       std::nullopt},
      {"cri-o's monitor, not the container",
       "0::/kubepods.slice/crio-conmon-" + id + ".scope\n", std::nullopt},
      {"podman's monitor, not the container",
       "0::/machine.slice/libpod-conmon-" + id + ".scope\n", std::nullopt},
      {"a pod's own cgroup",
       "0::/kubepods/burstable/pod" + std::string(kPodUid) + "\n",
       std::nullopt},
      {"upper-case hex", "0::/docker/" + std::string(id.size(), 'A') + "\n",
       std::nullopt},
      {"63 hex digits", "0::/docker/" + id.substr(1) + "\n", std::nullopt},
      {"65 hex digits", "0::/docker/" + id + "0\n", std::nullopt},
      {"an unknown prefix", "0::/system.slice/runc-" + id + ".scope\n",
       std::nullopt},
      {"not a cgroup line", id + "\n", std::nullopt},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(ContainerIdFromCgroup(c.cgroup), c.want) << c.name;
  }
}

}  // namespace
}  // namespace wmeta::collectors
