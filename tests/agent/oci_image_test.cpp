// OCI image-layout tarballs: structure, digests and names, checked by
// re-reading the archive (and with GNU tar where installed).
#include <fstream>

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "kedge/agent/image_importer.h"
#include "kedge/agent/oci_image.h"
#include "kedge/agent/tar.h"
#include "kedge/testing/prereq.h"
#include "kedge/testing/process.h"

namespace kedge::agent {
namespace {

namespace json = boost::json;

std::string hex(const std::string& digest) { return digest.substr(7); }

class OciImageTest : public ::testing::Test {
 protected:
  void SetUp() override {
    KEDGE_REQUIRE(std::filesystem::exists("/bin/busybox"), "busybox-static at /bin/busybox");
  }
  testing::TempDir dir_{"kedge-oci"};
};

TEST(Sha256, KnownVectors) {
  EXPECT_EQ(sha256_digest(""), "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256_digest("abc"), "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST_F(OciImageTest, LayoutHasIndexManifestConfigAndLayerWithMatchingDigests) {
  auto built = write_busybox_image({.name = "kedge.local/busybox:latest"}, dir_ / "bb.tar");
  ASSERT_TRUE(built.ok()) << built.status().to_string();
  auto files = read_tar_members(dir_ / "bb.tar", [](const std::string&) { return true; });
  ASSERT_TRUE(files.ok()) << files.status().to_string();

  EXPECT_EQ(json::parse(files->at("oci-layout")).at("imageLayoutVersion"), "1.0.0");
  // Every blob is named by the sha256 of its content.
  int blobs = 0;
  for (const auto& [name, content] : *files) {
    if (!name.starts_with("blobs/sha256/")) continue;
    ++blobs;
    EXPECT_EQ("sha256:" + name.substr(13), sha256_digest(content)) << name;
  }
  EXPECT_EQ(blobs, 3);

  auto index = json::parse(files->at("index.json")).as_object();
  EXPECT_EQ(index.at("schemaVersion"), 2);
  const auto& desc = index.at("manifests").as_array().at(0).as_object();
  EXPECT_EQ(desc.at("digest"), json::value(built->manifest_digest));
  EXPECT_EQ(desc.at("mediaType"), "application/vnd.oci.image.manifest.v1+json");
  EXPECT_EQ(desc.at("annotations").at("io.containerd.image.name"), "kedge.local/busybox:latest");
  EXPECT_EQ(desc.at("annotations").at("org.opencontainers.image.ref.name"), "latest");
  const std::string& manifest_text = files->at("blobs/sha256/" + hex(built->manifest_digest));
  EXPECT_EQ(desc.at("size").to_number<std::size_t>(), manifest_text.size());

  auto manifest = json::parse(manifest_text).as_object();
  EXPECT_EQ(manifest.at("config").at("digest"), json::value(built->config_digest));
  const auto& layer_desc = manifest.at("layers").as_array().at(0).as_object();
  EXPECT_EQ(layer_desc.at("digest"), json::value(built->layer_digest));
  EXPECT_EQ(layer_desc.at("mediaType"), "application/vnd.oci.image.layer.v1.tar");
  const std::string& layer = files->at("blobs/sha256/" + hex(built->layer_digest));
  EXPECT_EQ(layer_desc.at("size").to_number<std::size_t>(), layer.size());

  auto config = json::parse(files->at("blobs/sha256/" + hex(built->config_digest))).as_object();
  EXPECT_EQ(config.at("os"), "linux");
  EXPECT_EQ(config.at("rootfs").at("diff_ids").as_array().at(0), json::value(built->layer_digest));
  EXPECT_EQ(config.at("config").at("Cmd").as_array().at(0), "sh");

  // The layer: busybox itself plus applet symlinks.
  std::ofstream(dir_ / "layer.tar", std::ios::binary) << layer;
  auto layer_files = read_tar_members(dir_ / "layer.tar", [](const std::string&) { return true; });
  ASSERT_TRUE(layer_files.ok());
  EXPECT_EQ(layer_files->at("bin/busybox").size(), std::filesystem::file_size("/bin/busybox"));
  EXPECT_NE(layer_files->at("etc/passwd").find("root:x:0:0"), std::string::npos);
  const std::string tar = testing::find_binary("tar");
  if (!tar.empty()) {
    auto list = testing::run({tar, "-tvf", (dir_ / "layer.tar").string()});
    for (const char* applet : {"sh", "sleep", "echo", "httpd", "nc", "cat"}) {
      EXPECT_NE(list.out.find(std::string("bin/") + applet + " -> busybox"), std::string::npos) << applet;
    }
    EXPECT_NE(list.out.find("drwxrwxrwt root/root"), std::string::npos) << "tmp/ must be 1777\n" << list.out;
  }
}

TEST_F(OciImageTest, RebuildingGivesTheSameDigests) {
  auto a = write_busybox_image({}, dir_ / "a.tar");
  auto b = write_busybox_image({}, dir_ / "b.tar");
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->manifest_digest, b->manifest_digest);
  EXPECT_EQ(a->config_digest, b->config_digest);
  auto other = write_busybox_image({.name = "kedge.local/other:v2"}, dir_ / "c.tar");
  ASSERT_TRUE(other.ok());
  EXPECT_EQ(other->config_digest, a->config_digest) << "the name lives in index.json, not the config";
}

TEST_F(OciImageTest, PauseImageTrapsTermAndSleeps) {
  auto pause = write_pause_image(dir_ / "pause.tar");
  ASSERT_TRUE(pause.ok()) << pause.status().to_string();
  EXPECT_EQ(pause->name, kPauseImageName);
  auto files = read_tar_members(dir_ / "pause.tar", [](const std::string&) { return true; });
  ASSERT_TRUE(files.ok());
  auto config = json::parse(files->at("blobs/sha256/" + hex(pause->config_digest)));
  const auto& entrypoint = config.at("config").at("Entrypoint").as_array();
  EXPECT_EQ(entrypoint.at(0), "/bin/sh");
  EXPECT_NE(std::string(entrypoint.at(2).as_string()).find("trap 'exit 0' TERM"), std::string::npos);
}

TEST_F(OciImageTest, RefusesDynamicBusyboxAndBadApplets) {
  auto dynamic = write_busybox_image({.busybox = "/bin/ls"}, dir_ / "x.tar");
  ASSERT_FALSE(dynamic.ok());
  EXPECT_EQ(dynamic.status().code(), Code::kFailedPrecondition);
  EXPECT_NE(dynamic.status().message().find("dynamically linked"), std::string::npos);
  EXPECT_EQ(write_busybox_image({.busybox = dir_ / "nope"}, dir_ / "x.tar").status().code(), Code::kNotFound);
  EXPECT_EQ(write_busybox_image({.applets = {"../escape"}}, dir_ / "x.tar").status().code(), Code::kInvalidArgument);
  EXPECT_FALSE(std::filesystem::exists(dir_ / "x.tar"));
}

TEST_F(OciImageTest, ImporterReadsNamesAndConfigDigests) {
  auto built = write_busybox_image({.name = "kedge.local/busybox:latest"}, dir_ / "bb.tar");
  ASSERT_TRUE(built.ok());
  auto refs = read_image_refs(dir_ / "bb.tar");
  ASSERT_TRUE(refs.ok()) << refs.status().to_string();
  ASSERT_EQ(refs->size(), 1u);
  EXPECT_EQ((*refs)[0].name, "kedge.local/busybox:latest");
  EXPECT_EQ((*refs)[0].config_digest, built->config_digest);

  // A `docker save` style archive.
  std::string out;
  TarWriter w(&out);
  const std::string config = R"({"architecture":"amd64","os":"linux"})";
  ASSERT_TRUE(w.add_file("abc.json", config).ok());
  ASSERT_TRUE(w.add_file("manifest.json", R"([{"Config":"abc.json","RepoTags":["busybox:1.36"],"Layers":[]}])").ok());
  w.finish();
  std::ofstream(dir_ / "docker.tar", std::ios::binary) << out;
  auto docker = read_image_refs(dir_ / "docker.tar");
  ASSERT_TRUE(docker.ok()) << docker.status().to_string();
  ASSERT_EQ(docker->size(), 1u);
  EXPECT_EQ((*docker)[0].name, "docker.io/library/busybox:1.36");
  EXPECT_EQ((*docker)[0].config_digest, sha256_digest(config));

  std::ofstream(dir_ / "junk.tar") << std::string(2048, '\0');
  EXPECT_EQ(read_image_refs(dir_ / "junk.tar").status().code(), Code::kInvalidArgument);
}

TEST(ImageNames, NormalizeLikeTheCri) {
  EXPECT_EQ(normalize_image_name("busybox"), "docker.io/library/busybox:latest");
  EXPECT_EQ(normalize_image_name("user/app:1"), "docker.io/user/app:1");
  EXPECT_EQ(normalize_image_name("kedge.local/pause:1"), "kedge.local/pause:1");
  EXPECT_EQ(normalize_image_name("localhost/x"), "localhost/x:latest");
  EXPECT_EQ(normalize_image_name("registry:5000/x"), "registry:5000/x:latest");
  EXPECT_EQ(normalize_image_name("x@sha256:abc"), "docker.io/library/x@sha256:abc");
}

TEST(ImageTarballs, FindsOnlyTarFilesSorted) {
  testing::TempDir dir("kedge-img");
  for (const char* f : {"b.tar", "a.tar", "c.tar.gz", "notes.txt"}) std::ofstream(dir / f) << "x";
  std::filesystem::create_directory(dir / "d.tar");
  auto found = find_image_tarballs(dir.path());
  ASSERT_EQ(found.size(), 2u);
  EXPECT_EQ(found[0].filename(), "a.tar");
  EXPECT_EQ(found[1].filename(), "b.tar");
  EXPECT_TRUE(find_image_tarballs(dir / "absent").empty());
}

}  // namespace
}  // namespace kedge::agent
