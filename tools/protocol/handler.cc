#include "wmeta/tools/protocol/handler.h"

#include "wmeta/schema/json.h"
#include "wmeta/tools/protocol/codec.h"

namespace wmeta::tools {
namespace {

namespace fbw = wire::fbw;
using Offsets = std::vector<flatbuffers::Offset<fbw::FieldChange>>;

// How long a subscription waits for changes before looking at cancellation.
constexpr auto kPollInterval = std::chrono::milliseconds(100);

Offsets EncodeChanges(
    flatbuffers::FlatBufferBuilder& fbb,
    const std::vector<store::HistoryEntry::FieldChange>& changes) {
  Offsets out;
  out.reserve(changes.size());
  for (const auto& c : changes) {
    out.push_back(fbw::CreateFieldChangeDirect(
        fbb, c.path.c_str(), c.before.c_str(), c.after.c_str()));
  }
  return out;
}

// Sends a reply too large for one frame as chunks of about kChunkBytes:
// `add(i)` adds item i to the builder, `finish(items, more)` finishes a frame.
template <typename Item, typename Add, typename Finish>
bool SendChunked(wire::FrameBuilder& builder, size_t count, Add add,
                 Finish finish, FrameSink& out) {
  std::vector<flatbuffers::Offset<Item>> items;
  for (size_t i = 0; i < count; ++i) {
    items.push_back(add(i));
    if (builder.fbb().GetSize() >= wire::kChunkBytes && i + 1 < count) {
      if (!out.Send(finish(items, true))) return false;
      items.clear();
    }
  }
  return out.Send(finish(items, false));
}

}  // namespace

uint64_t SubscriberRegistry::Add(std::string peer) {
  std::lock_guard lock(mu_);
  uint64_t id = next_id_++;
  live_[id] = Entry{id, std::move(peer), 0, false, 0};
  return id;
}

void SubscriberRegistry::Update(uint64_t id, uint64_t next_offset,
                                bool catching_up, uint64_t delivered) {
  std::lock_guard lock(mu_);
  if (auto it = live_.find(id); it != live_.end()) {
    it->second.next_offset = next_offset;
    it->second.catching_up = catching_up;
    it->second.delivered = delivered;
  }
}

void SubscriberRegistry::Remove(uint64_t id) {
  std::lock_guard lock(mu_);
  live_.erase(id);
}

std::vector<SubscriberRegistry::Entry> SubscriberRegistry::List() const {
  std::lock_guard lock(mu_);
  std::vector<Entry> out;
  for (const auto& [id, entry] : live_) out.push_back(entry);
  return out;
}

size_t SubscriberRegistry::size() const {
  std::lock_guard lock(mu_);
  return live_.size();
}

Handler::Handler(Backend& backend, SubscriberRegistry& subscribers,
                 HandlerHooks hooks)
    : backend_(backend), subscribers_(subscribers), hooks_(std::move(hooks)) {}

bool Handler::Serve(const fbw::Frame& frame, const std::string& peer,
                    FrameSink& out) {
  uint64_t request = frame.request();
  switch (frame.body_type()) {
    case fbw::Body::PushRequest:
      return Push(request, *frame.body_as_PushRequest(), out);
    case fbw::Body::ListRequest:
      return List(request, *frame.body_as_ListRequest(), out);
    case fbw::Body::GetRequest:
      return Get(request, *frame.body_as_GetRequest(), out);
    case fbw::Body::HistoryRequest:
      return History(request, *frame.body_as_HistoryRequest(), out);
    case fbw::Body::DiffRequest:
      return Diff(request, *frame.body_as_DiffRequest(), out);
    case fbw::Body::SubscribeRequest:
      return Subscribe(request, *frame.body_as_SubscribeRequest(), peer, out);
    case fbw::Body::StatsRequest:
      return Stats(request, out);
    case fbw::Body::VerifyRequest:
      return Verify(request, out);
    case fbw::Body::CheckpointRequest: {
      auto info = backend_.Checkpoint();
      if (!info) return Fail(request, info.error(), out);
      wire::FrameBuilder b;
      auto body = fbw::CreateCheckpointReplyDirect(b.fbb(), info->offset,
                                                   info->entities, info->bytes,
                                                   info->path.c_str());
      return out.Send(
          b.Finish(request, fbw::Body::CheckpointReply, body.Union()));
    }
    case fbw::Body::RetentionRequest: {
      const auto& r = *frame.body_as_RetentionRequest();
      // Beyond this, the age would overflow the clock's nanoseconds.
      constexpr uint64_t kMaxAgeSeconds = uint64_t{100} * 365 * 86400;
      if (r.max_age_seconds() > kMaxAgeSeconds) {
        return Fail(request,
                    {ErrorCode::kInvalidArgument,
                     "a retention age of more than 100 years"},
                    out);
      }
      store::RetentionPolicy policy{
          std::chrono::seconds(static_cast<int64_t>(r.max_age_seconds())),
          r.max_records(), r.max_bytes()};
      auto result = backend_.Retention(policy);
      if (!result) return Fail(request, result.error(), out);
      wire::FrameBuilder b;
      auto body = fbw::CreateRetentionReply(b.fbb(), result->old_first_offset,
                                            result->new_first_offset,
                                            result->records_removed);
      return out.Send(
          b.Finish(request, fbw::Body::RetentionReply, body.Union()));
    }
    default:
      // A reply, a second Hello, or a Cancel with nothing to cancel: the
      // client does not speak the protocol.
      Fail(request,
           {ErrorCode::kInvalidArgument,
            std::string("not a request: ") +
                fbw::EnumNameBody(frame.body_type())},
           out);
      return false;
  }
}

bool Handler::Fail(uint64_t request, const Error& error, FrameSink& out) {
  wire::FrameBuilder b;
  return out.Send(b.FinishError(request, error));
}

bool Handler::Push(uint64_t request, const fbw::PushRequest& push,
                   FrameSink& out) {
  std::vector<Event> events;
  if (push.events() != nullptr) {
    events.reserve(push.events()->size());
    for (flatbuffers::uoffset_t i = 0; i < push.events()->size(); ++i) {
      auto event = wire::ToEvent(push.events()->Get(i));
      if (!event) {
        // All or nothing: one bad event rejects the batch.
        return Fail(request,
                    {ErrorCode::kInvalidArgument,
                     "event " + std::to_string(i) + " of the batch: " +
                         event.error().message + "; nothing appended"},
                    out);
      }
      // What the store keeps must show as JSON (history, diffs, HTTP): text
      // that is not UTF-8 is refused here, where the producer hears of it.
      if (Status shown = CheckShowable(event->view()); !shown) {
        return Fail(request,
                    {ErrorCode::kInvalidArgument,
                     "event " + std::to_string(i) + " of the batch: " +
                         shown.error().message + "; nothing appended"},
                    out);
      }
      events.push_back(std::move(*event));
    }
  }
  auto start = std::chrono::steady_clock::now();
  auto result = backend_.Push(events);
  if (hooks_.pushed) {
    hooks_.pushed(result, std::chrono::steady_clock::now() - start);
  }
  if (!result) return Fail(request, result.error(), out);
  wire::FrameBuilder b;
  auto body = fbw::CreatePushReplyDirect(
      b.fbb(), result->appended, result->noops, result->first_offset,
      result->last_offset, result->synced, backend_.durability().c_str());
  return out.Send(b.Finish(request, fbw::Body::PushReply, body.Union()));
}

bool Handler::List(uint64_t request, const fbw::ListRequest& list,
                   FrameSink& out) {
  ListRequest query;
  if (list.kind() != fb::Kind::none) {
    auto kind = protocol::DecodeKind(list.kind());
    if (!kind) return Fail(request, kind.error(), out);
    query.kind = *kind;
  }
  query.search = list.search() != nullptr ? list.search()->str() : "";
  query.selector = list.selector() != nullptr ? list.selector()->str() : "";
  query.at = protocol::DecodePoint(list.at());
  query.provenance = list.provenance();
  query.owner = list.owner() != nullptr ? list.owner()->str() : "";
  auto result = backend_.List(query);
  if (!result) return Fail(request, result.error(), out);
  wire::FrameBuilder b;
  return SendChunked<fbw::EntityState>(
      b, result->entities.size(),
      [&](size_t i) { return protocol::EncodeEntity(b, result->entities[i]); },
      [&](const auto& items, bool more) {
        auto body = fbw::CreateEntitiesReplyDirect(b.fbb(), &items,
                                                   result->at_offset, more);
        return b.Finish(request, fbw::Body::EntitiesReply, body.Union());
      },
      out);
}

bool Handler::Get(uint64_t request, const fbw::GetRequest& get,
                  FrameSink& out) {
  auto kind = protocol::DecodeKind(get.kind());
  if (!kind) return Fail(request, kind.error(), out);
  EntityId id{*kind, get.id() != nullptr ? get.id()->str() : ""};
  auto entity =
      backend_.Get(id, protocol::DecodePoint(get.at()), get.provenance());
  if (!entity) return Fail(request, entity.error(), out);
  wire::FrameBuilder b;
  std::vector<flatbuffers::Offset<fbw::EntityState>> items{
      protocol::EncodeEntity(b, *entity)};
  auto body = fbw::CreateEntitiesReplyDirect(b.fbb(), &items,
                                             entity->mod_offset(), false);
  return out.Send(b.Finish(request, fbw::Body::EntitiesReply, body.Union()));
}

bool Handler::History(uint64_t request, const fbw::HistoryRequest& history,
                      FrameSink& out) {
  auto kind = protocol::DecodeKind(history.kind());
  if (!kind) return Fail(request, kind.error(), out);
  auto entries = backend_.History(
      {*kind, history.id() != nullptr ? history.id()->str() : ""});
  if (!entries) return Fail(request, entries.error(), out);
  wire::FrameBuilder b;
  return SendChunked<fbw::HistoryEntry>(
      b, entries->size(),
      [&](size_t i) {
        const store::HistoryEntry& e = (*entries)[i];
        auto record = b.AddRecord(e.record->view());
        auto merged = b.AddRecord(e.merged->view());
        auto changes = EncodeChanges(b.fbb(), e.changes);
        return fbw::CreateHistoryEntryDirect(b.fbb(), record, merged, e.exists,
                                             &changes);
      },
      [&](const auto& items, bool more) {
        auto body = fbw::CreateHistoryReplyDirect(b.fbb(), &items, more);
        return b.Finish(request, fbw::Body::HistoryReply, body.Union());
      },
      out);
}

bool Handler::Diff(uint64_t request, const fbw::DiffRequest& diff,
                   FrameSink& out) {
  auto result = backend_.Diff(protocol::DecodePoint(diff.from()),
                              protocol::DecodePoint(diff.to()));
  if (!result) return Fail(request, result.error(), out);
  std::vector<std::pair<fbw::DiffChange, const store::EntityDiff*>> all;
  for (const auto& d : result->added)
    all.emplace_back(fbw::DiffChange::added, &d);
  for (const auto& d : result->removed) {
    all.emplace_back(fbw::DiffChange::removed, &d);
  }
  for (const auto& d : result->changed) {
    all.emplace_back(fbw::DiffChange::changed, &d);
  }
  wire::FrameBuilder b;
  return SendChunked<fbw::EntityDiff>(
      b, all.size(),
      [&](size_t i) {
        const store::EntityDiff& d = *all[i].second;
        auto changes = EncodeChanges(b.fbb(), d.changes);
        return fbw::CreateEntityDiffDirect(b.fbb(), all[i].first,
                                           static_cast<fb::Kind>(d.id.kind),
                                           d.id.id.c_str(), &changes);
      },
      [&](const auto& items, bool more) {
        auto body = fbw::CreateDiffReplyDirect(b.fbb(), result->from_offset,
                                               result->to_offset, &items, more);
        return b.Finish(request, fbw::Body::DiffReply, body.Union());
      },
      out);
}

bool Handler::Subscribe(uint64_t request, const fbw::SubscribeRequest& sub,
                        const std::string& peer, FrameSink& out) {
  auto watch = protocol::DecodeWatch(sub);
  if (!watch) return Fail(request, watch.error(), out);
  auto stream = backend_.Watch(*watch);
  if (!stream) return Fail(request, stream.error(), out);
  uint64_t id = subscribers_.Add(peer);
  struct Unregister {
    SubscriberRegistry& registry;
    uint64_t id;
    ~Unregister() { registry.Remove(id); }
  } unregister{subscribers_, id};

  wire::FrameBuilder b;
  uint64_t delivered = 0;
  auto end = [&] {
    auto body = fbw::CreateBundleDirect(b.fbb(), nullptr, true);
    return out.Send(b.Finish(request, fbw::Body::Bundle, body.Union()));
  };
  while (!out.cancelled()) {
    auto next =
        (*stream)->Next(std::chrono::steady_clock::now() + kPollInterval);
    if (!next) return Fail(request, next.error(), out);
    if (!*next) return end();
    subscribers_.Update(id, (*stream)->next_offset(), (*stream)->catching_up(),
                        delivered);
    if ((*next)->empty()) continue;
    // Large bundles go as several frames; they are only batches.
    const store::Bundle& bundle = **next;
    bool sent = SendChunked<fbw::Message>(
        b, bundle.size(),
        [&](size_t i) {
          const store::Message& m = bundle[i];
          flatbuffers::Offset<fbw::RecordBytes> event;
          if (m.event != nullptr) event = b.AddRecord(m.event->view());
          return fbw::CreateMessage(
              b.fbb(), static_cast<fbw::MessageType>(m.type), m.offset,
              static_cast<fb::EventType>(m.event_type), event);
        },
        [&](const auto& items, bool) {
          auto body = fbw::CreateBundleDirect(b.fbb(), &items, false);
          return b.Finish(request, fbw::Body::Bundle, body.Union());
        },
        out);
    if (!sent) return false;
    delivered += bundle.size();
  }
  return end();
}

bool Handler::Stats(uint64_t request, FrameSink& out) {
  auto stats = backend_.Stats();
  if (!stats) return Fail(request, stats.error(), out);
  wire::FrameBuilder b;
  auto& fbb = b.fbb();
  std::vector<flatbuffers::Offset<fbw::CollectorStatus>> collectors;
  for (const CollectorStatus& c : stats->collectors) {
    collectors.push_back(fbw::CreateCollectorStatusDirect(
        fbb, c.name.c_str(), c.state.c_str(), c.healthy, c.restarts, c.pulls,
        c.pull_errors, c.last_error.c_str()));
  }
  const log::Stats& log = stats->log;
  auto body = fbw::CreateStatsReplyDirect(
      fbb, log.store_id.c_str(), log.format_version, log.durability.c_str(),
      log.first_offset, log.last_offset, log.record_count,
      ToUnixNanos(log.first_ingest_time), ToUnixNanos(log.last_ingest_time),
      log.bytes_on_disk, log.indexed_offset, stats->applied_offset,
      stats->entities, stats->subscribers, &collectors, stats->data_dir.c_str(),
      log.recovered.empty() ? nullptr : log.recovered.c_str());
  return out.Send(b.Finish(request, fbw::Body::StatsReply, body.Union()));
}

bool Handler::Verify(uint64_t request, FrameSink& out) {
  auto report = backend_.Verify({});
  if (!report) return Fail(request, report.error(), out);
  wire::FrameBuilder b;
  std::vector<flatbuffers::Offset<fbw::VerifyProblem>> problems;
  for (const log::VerifyProblem& p : report->problems) {
    problems.push_back(
        fbw::CreateVerifyProblemDirect(b.fbb(), p.offset, p.message.c_str()));
  }
  auto body = fbw::CreateVerifyReplyDirect(b.fbb(), report->records_checked,
                                           report->index_entries_checked,
                                           report->problem_count, &problems);
  return out.Send(b.Finish(request, fbw::Body::VerifyReply, body.Union()));
}

}  // namespace wmeta::tools
