// The view against a reference fold written independently and as plainly as
// possible, after random interleavings of sets and unsets from several
// sources, with restarts and checkpoints in between; and the views rebuilt at
// past offsets against what the reference held at those offsets.

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <map>
#include <optional>
#include <random>

#include "events.h"
#include "temp_dir.h"
#include "wmeta/store/store.h"

namespace wmeta::store {
namespace {

namespace bj = boost::json;

// The reference: per entity, per source, the last set's fields (JSON).
using Layers = std::map<std::string, bj::object>;  // source -> fields
using Reference = std::map<std::string, Layers>;   // id -> layers

// Default priorities for containers: the known sources alphabetically, then
// unknown ones by name.
int Rank(const std::string& source) {
  if (source == "node_orchestrator") return 0;
  if (source == "runtime") return 1;
  return 2;
}

// The merge, spelled out for the fields the test uses.
bj::object Merge(const std::string& id, const Layers& layers) {
  std::vector<std::pair<std::string, const bj::object*>> ordered;
  for (const auto& [source, fields] : layers)
    ordered.emplace_back(source, &fields);
  std::sort(ordered.begin(), ordered.end(), [](const auto& a, const auto& b) {
    return std::make_pair(Rank(a.first), a.first) <
           std::make_pair(Rank(b.first), b.first);
  });
  bj::object out{{"kind", "container"}, {"id", id}};
  for (const char* scalar : {"name", "pid", "hostname"}) {
    for (const auto& [source, fields] : ordered) {
      if (fields->contains(scalar)) {
        out[scalar] = fields->at(scalar);
        break;
      }
    }
  }
  bj::object labels;
  for (const auto& [source, fields] : ordered) {
    if (!fields->contains("labels")) continue;
    for (const auto& [k, v] : fields->at("labels").as_object()) {
      if (!labels.contains(k)) labels[k] = v;
    }
  }
  if (std::any_of(ordered.begin(), ordered.end(),
                  [](const auto& l) { return l.second->contains("labels"); })) {
    out["labels"] = labels;
  }
  std::map<int64_t, bj::value> ports;  // union by port (protocol fixed here)
  bool any_ports = false;
  for (const auto& [source, fields] : ordered) {
    if (!fields->contains("ports")) continue;
    any_ports = true;
    for (const auto& p : fields->at("ports").as_array()) {
      ports.try_emplace(p.at("port").as_int64(), p);
    }
  }
  if (any_ports) {
    bj::array list;
    for (auto& [port, p] : ports) list.push_back(p);
    out["ports"] = list;
  }
  for (const char* list : {"collector_tags"}) {
    for (const auto& [source, fields] : ordered) {
      if (fields->contains(list)) {
        out[list] = fields->at(list);
        break;
      }
    }
  }
  bj::object state;
  for (const auto& [source, fields] : ordered) {
    if (fields->contains("state") && !state.contains("running")) {
      state["running"] = fields->at("state").at("running");
    }
  }
  if (!state.empty()) out["state"] = state;
  return out;
}

// Normalises the view's JSON for comparison: key order does not matter.
bj::value Normal(const bj::value& v) {
  if (v.is_object()) {
    std::map<std::string, bj::value> sorted;
    for (const auto& [k, x] : v.as_object()) sorted[std::string(k)] = Normal(x);
    bj::object out;
    for (auto& [k, x] : sorted) out[k] = std::move(x);
    return out;
  }
  if (v.is_array()) {
    bj::array out;
    for (const auto& x : v.as_array()) out.push_back(Normal(x));
    return out;
  }
  return v;
}

std::map<std::string, bj::value> Snapshot(const Reference& reference) {
  std::map<std::string, bj::value> out;
  for (const auto& [id, layers] : reference) {
    if (!layers.empty()) out[id] = Normal(Merge(id, layers));
  }
  return out;
}

std::map<std::string, bj::value> Snapshot(const View& view) {
  std::map<std::string, bj::value> out;
  for (const auto& entity : view.List({.kind = Kind::kContainer})) {
    out[entity->id.id] =
        Normal(bj::parse(testing::EntityJson(entity->merged->view())));
  }
  return out;
}

class RandomFields {
 public:
  explicit RandomFields(std::mt19937& random) : random_(random) {}

  bj::object Next() {
    bj::object fields;
    if (Chance(60)) fields["name"] = "n" + std::to_string(Pick(3));
    if (Chance(40))
      fields["pid"] = Pick(3);  // 0 included: a value, not absence
    if (Chance(30))
      fields["hostname"] = Chance(20) ? "" : "h" + std::to_string(Pick(2));
    if (Chance(50)) {
      bj::object labels;
      for (int i = 0, n = Pick(3); i < n; ++i) {
        labels["k" + std::to_string(Pick(4))] = "v" + std::to_string(Pick(3));
      }
      fields["labels"] = labels;
    }
    if (Chance(40)) {
      bj::array ports;
      for (int i = 0, n = Pick(3); i < n; ++i) {
        int port = 80 + Pick(4);
        bj::object p{{"port", port}};
        if (Chance(50)) p["name"] = "p" + std::to_string(Pick(2));
        bool dup =
            std::any_of(ports.begin(), ports.end(), [&](const bj::value& x) {
              return x.at("port").as_int64() == port;
            });
        if (!dup) ports.push_back(p);
      }
      std::sort(ports.begin(), ports.end(),
                [](const bj::value& a, const bj::value& b) {
                  return a.at("port").as_int64() < b.at("port").as_int64();
                });
      fields["ports"] = ports;
    }
    if (Chance(30)) {
      bj::array tags;
      for (int i = 0, n = Pick(3); i < n; ++i)
        tags.push_back(bj::value("t" + std::to_string(Pick(3))));
      fields["collector_tags"] = tags;
    }
    if (Chance(40)) fields["state"] = bj::object{{"running", Chance(50)}};
    return fields;
  }

  int Pick(int n) {
    return std::uniform_int_distribution<int>(0, n - 1)(random_);
  }
  bool Chance(int percent) { return Pick(100) < percent; }

 private:
  std::mt19937& random_;
};

TEST(RandomizedTest, ViewMatchesAReferenceFoldThroughRestartsAndCheckpoints) {
  const uint32_t seed = 20261125;
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937 random(seed);
  RandomFields gen(random);
  testing::TempDir dir;
  Options options;
  options.checkpoint_every_records = 0;
  options.checkpoint_every = std::chrono::seconds(0);
  auto store = std::move(*Store::Open(dir.path(), options));
  const std::vector<std::string> sources = {"runtime", "node_orchestrator",
                                            "zz_custom", "aa_custom"};
  Reference reference;
  std::map<uint64_t, std::map<std::string, bj::value>>
      past;  // offset -> snapshot

  for (int step = 0; step < 1500; ++step) {
    int what = gen.Pick(100);
    if (what < 2) {
      store.reset();
      store = std::move(*Store::Open(dir.path(), options));
      continue;
    }
    if (what < 4) {
      ASSERT_TRUE(store->Checkpoint());
      continue;
    }
    std::string id = "c" + std::to_string(gen.Pick(6));
    std::string source = sources[static_cast<size_t>(gen.Pick(4))];
    bool unset = what < 25;
    bj::object entity{{"kind", "container"}, {"id", id}};
    bj::object fields;
    if (!unset) {
      fields = gen.Next();
      for (const auto& [k, v] : fields) entity[k] = v;
    }
    bj::object event{{"source", source},
                     {"type", unset ? "unset" : "set"},
                     {"entity", entity}};
    auto r = store->Apply(
        std::vector<Event>{testing::JsonEvent(bj::serialize(event))});
    ASSERT_TRUE(r) << r.error().ToString();

    bool had = reference[id].contains(source);
    bool noop = unset ? !had : had && reference[id][source] == fields;
    EXPECT_EQ(r->noops, noop ? 1u : 0u) << "step " << step;
    if (unset) {
      reference[id].erase(source);
    } else {
      reference[id][source] = fields;
    }
    if (!noop) past[r->last_offset] = Snapshot(reference);

    if (step % 25 == 0) {
      std::map<std::string, bj::value> actual;
      store->Read([&](const View& view) { actual = Snapshot(view); });
      ASSERT_EQ(actual, Snapshot(reference)) << "step " << step;
    }
  }
  std::map<std::string, bj::value> final_view;
  store->Read([&](const View& view) { final_view = Snapshot(view); });
  EXPECT_EQ(final_view, Snapshot(reference));

  // Past views, rebuilt from checkpoints and the log.
  int checked = 0;
  for (auto it = past.begin(); it != past.end();
       std::advance(it, std::min<size_t>(37, std::distance(it, past.end())))) {
    auto view = store->StateAt(it->first);
    ASSERT_TRUE(view) << view.error().ToString();
    EXPECT_EQ(Snapshot(**view), it->second) << "offset " << it->first;
    ++checked;
  }
  EXPECT_GT(checked, 10);
}

}  // namespace
}  // namespace wmeta::store
