// YAML -> JSON the way Kubernetes reads manifests (sigs.k8s.io/yaml over
// go-yaml v2, i.e. YAML 1.1 scalar rules), so `kubectl apply -f x.yaml` and
// kedge agree on what a manifest means:
//  - quoted scalars are always strings;
//  - plain scalars: null/~/empty -> null; y/yes/on/true (any case form go-yaml
//    accepts) -> true, n/no/off/false -> false; decimal, 0x hex, 0 octal, 0b
//    binary and '_'-separated integers -> numbers; YAML floats -> numbers;
//    everything else (dates included) -> strings;
//  - map keys become strings ("yes:" is the key "true", "1:" the key "1");
//  - anchors, aliases and "<<" merge keys are resolved;
//  - .inf/.nan have no JSON form and are errors.
// Errors are InvalidArgument and name the 1-based line: "yaml: line 3: ...".
// Alias expansion is bounded (an "alias bomb" is an error, not an OOM).
//
// Thread-safety: pure functions; reentrant.
#pragma once

#include <string_view>
#include <vector>

#include <boost/json/value.hpp>

#include "kedge/base/status.h"

namespace kedge::api {

struct YamlOptions {
  // go-yaml's strict mode: a key repeated in one mapping is an error
  // ("line 4: key \"a\" already set in map") instead of the last one winning.
  bool strict_duplicate_keys = false;
  // Upper bound on JSON values produced (aliases can multiply a small input).
  std::size_t max_values = 2'000'000;
};

// The first document of `text` (null for an empty input), as Kubernetes
// decodes an application/yaml request body.
Result<boost::json::value> yaml_to_json(std::string_view text, const YamlOptions& options = {});

// Every non-empty document of a multi-document stream ("---" separated), in
// order, skipping empty/null documents as kubectl does.
Result<std::vector<boost::json::value>> yaml_documents_to_json(std::string_view text, const YamlOptions& options = {});

}  // namespace kedge::api
