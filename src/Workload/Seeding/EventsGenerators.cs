using System.Globalization;
using static Peeq.Cdc.Workload.Seeding.SeedUniverse;

namespace Peeq.Cdc.Workload.Seeding;

/// <summary>broadcast-db, stream-db, onsite-event-db and class-catalog-db (→ peeq_events).</summary>
internal static class EventsGenerators
{
    private static readonly ulong KBroadcast = Prng.Kind("broadcast.row");
    private static readonly ulong KStream = Prng.Kind("stream.row");
    private static readonly ulong KStreamId = Prng.Kind("stream.id");
    private static readonly ulong KOnsite = Prng.Kind("onsite.event");
    private static readonly ulong KCheckin = Prng.Kind("onsite.checkin");
    private static readonly ulong KClass = Prng.Kind("class.row");
    private static readonly ulong KClassParts = Prng.Kind("class.parts");
    private static readonly ulong KSession = Prng.Kind("class.session");

    private static readonly string[] Badges = ["FIRST_CLASS", "PERFECT_ATTENDANCE", "FAST_LEARNER", "TEAM_PLAYER", "MVP", "FINISHER", "COACHS_PICK"];

    private sealed record EventRow(Guid Id, string? IdStr, string? IdType, Guid CreatedBy, DateTime CreatedOn, DateTime? StartsOn, DateTime? StopsOn,
        string? Name, string? Description, string? MuxInfo, string? MetaData, Guid[]? Items, bool UnknownItem, bool ToastMeta);

    /// <summary>A broadcast or stream (the two tables are identical); row <paramref name="index"/> of stream <paramref name="kind"/>.</summary>
    private static EventRow Row(SeedUniverse u, ulong kind, int index, int count, Guid id, bool toastMeta, bool unknownItem)
    {
        var r = u.Rng(kind, index);
        var created = Time((double)index / count * 0.95, ref r);
        DateTime? starts = r.Chance(0.9) ? After(created, ref r, 0.05) : null;
        DateTime? stops = starts is { } s && r.Chance(0.85) ? s.AddMinutes(r.Int(15, 240)) : null;
        var idType = r.Int(5) switch { 0 => "CLASS", 1 => "SESSION", 2 => "EVENT", 3 => "USER", _ => null };
        var idStr = idType switch
        {
            null => null,
            "EVENT" => $"evt-{Words.Base36(r.Long(1_000_000_000L))}",
            _ => r.Uuid().ToString(),
        };
        var items = r.Chance(0.3) ? null : Enumerable.Range(0, r.Int(0, 3)).Select(_ => u.ItemOfType(ref r, "EVENT").Id).Distinct().ToList();
        if (unknownItem)
        {
            items = [.. items ?? [], r.Uuid()];
        }

        var asset = r.Hex(12);
        var mux = r.Chance(0.9) ? $$"""{"live_stream_id": "{{asset}}", "playback_id": "{{r.Hex(10)}}", "status": "{{r.Pick(new[] { "idle", "active", "disabled" })}}"}""" : null;
        string? meta;
        if (toastMeta)
        {
            var blob = Words.Incompressible(ref r, 9_000);
            meta = Json.Object(j =>
            {
                j.WriteString("visibility", "public");
                j.WriteString("chat_transcript", blob);
            });
        }
        else
        {
            meta = r.Chance(0.8) ? $$"""{"visibility": "{{(r.Chance(0.8) ? "public" : "subscribers")}}", "max_viewers": {{r.Int(50, 50_000)}}}""" : null;
        }

        return new EventRow(id, idStr, idType, u.RandomCelebrity(ref r), created, starts, stops, Words.Title(ref r),
            r.Chance(0.7) ? Words.Sentence(ref r, r.Int(5, 25)) : null, mux, meta, items?.ToArray(), unknownItem, toastMeta);
    }

    private static EventRow Broadcast(SeedUniverse u, int b) =>
        Row(u, KBroadcast, b, u.Broadcasts, u.BroadcastId(b), toastMeta: b % 100 == 45, unknownItem: b % 25 == 6);

    private static bool IsCopiedBroadcast(SeedUniverse u, int s) => s % 20 == 7 && s < u.Broadcasts;

    private static void WriteEvent(TableCopy w, EventRow e)
    {
        w.Row();
        w.Uuid(e.Id);
        w.Text(e.IdStr);
        w.Text(e.IdType);
        w.Uuid(e.CreatedBy);
        w.TimestampTz(e.CreatedOn);
        w.TimestampTz(e.StartsOn);
        w.TimestampTz(e.StopsOn);
        w.Text(e.Name);
        w.Text(e.Description);
        w.Jsonb(e.MuxInfo);
        w.Jsonb(e.MetaData);
        w.UuidArray(e.Items);
    }

    private const string EventColumns = "id, id_str, id_type, created_by_id, created_on, starts_on, stops_on, name, description, mux_info, meta_data, associated_item_ids";

    public static long PlannedBroadcast(SeedUniverse u) => u.Broadcasts;

    public static void Broadcast(DatabaseLoader l, SeedUniverse u, AnomalyCounter a)
    {
        l.Copy("broadcasts", EventColumns, w =>
        {
            for (var b = 0; b < u.Broadcasts; b++)
            {
                var e = Broadcast(u, b);
                if (e.UnknownItem)
                {
                    a.Add(Anomalies.BroadcastOfUnknownItem);
                }

                if (e.ToastMeta)
                {
                    a.Add(Anomalies.ToastBroadcastMeta);
                }

                WriteEvent(w, e);
            }
        });
    }

    public static long PlannedStream(SeedUniverse u) => u.Streams;

    public static void Stream(DatabaseLoader l, SeedUniverse u, AnomalyCounter a)
    {
        l.Copy("streams", EventColumns, w =>
        {
            for (var s = 0; s < u.Streams; s++)
            {
                EventRow e;
                if (IsCopiedBroadcast(u, s))
                {
                    // The same broadcast in stream-db, same id; half of the copies have drifted since.
                    e = Broadcast(u, s);
                    var r = u.Rng(KStream, 1_000_000_000L + s);
                    if (r.Chance(0.5) && e.StopsOn is { } stops)
                    {
                        e = e with { StopsOn = stops.AddMinutes(r.Int(1, 60)) };
                    }

                    a.Add(Anomalies.StreamAlsoBroadcast);
                }
                else
                {
                    e = Row(u, KStream, s, u.Streams, u.Rng(KStreamId, s).Uuid(), toastMeta: false, unknownItem: false);
                }

                if (s % 100 == 55)
                {
                    var r = u.Rng(KStream, 2_000_000_000L + s);
                    var blob = Words.Incompressible(ref r, 9_000);
                    e = e with
                    {
                        MuxInfo = Json.Object(j =>
                        {
                            j.WriteString("live_stream_id", "recording");
                            j.WriteString("encoder_log", blob);
                        }),
                    };
                    a.Add(Anomalies.ToastStreamMux);
                }

                WriteEvent(w, e);
            }
        });
    }

    public static long PlannedOnsite(SeedUniverse u) => u.OnsiteEvents + u.Checkins;

    private static DateTime OnsiteCreatedOn(SeedUniverse u, int e)
    {
        var r = u.Rng(KOnsite, e);
        return Time((double)e / u.OnsiteEvents * 0.9, ref r);
    }

    public static void OnsiteEvent(DatabaseLoader l, SeedUniverse u, AnomalyCounter a)
    {
        l.Copy("on_site_events", "id, name, description, event_date, event_sign_up_type, group_id, inventory_state, inventory_info, created_by, created_on, last_modified_on", w =>
        {
            for (var e = 0; e < u.OnsiteEvents; e++)
            {
                var created = OnsiteCreatedOn(u, e);
                var r = u.Rng(KOnsite, e + 1_000_000_000L);
                var item = u.ItemOfType(ref r, "EVENT");
                // Venue wall clock: a local date and time, no zone (it is not UTC).
                var local = After(created, ref r, 0.1);
                var eventDate = new DateTime(local.Year, local.Month, local.Day, r.Int(9, 20), r.Pick(new[] { 0, 15, 30, 45 }), 0, DateTimeKind.Unspecified);
                w.Row();
                w.Uuid(OnsiteId(u, e));
                w.Text($"{Words.Title(ref r)} {local.Year}");
                w.Text(r.Chance(0.7) ? Words.Sentence(ref r, r.Int(5, 25)) : null);
                w.Timestamp(r.Chance(0.95) ? eventDate : null);
                w.Text(r.Pick(new[] { "OPEN", "INVITE_ONLY", "TICKETED", "TICKETED" }));
                w.Uuid(r.Chance(0.7) ? u.GroupId(r.Int(u.Groups)) : null);
                w.Text(item.State);
                w.Jsonb($$"""{"id": "{{item.Id}}", "itemId": "{{item.ItemId}}", "price": {{(item.Price ?? 0m).ToString(CultureInfo.InvariantCulture)}}}""");
                w.Uuid(item.CreatedBy);
                w.TimestampTz(created);
                w.TimestampTz(r.Chance(0.5) ? After(created, ref r, 0.1) : null);
            }
        });

        l.Copy("user_event_checkins", "id, user_id, event_id, checked_in_at", w =>
        {
            for (var x = 0; x < u.Checkins; x++)
            {
                var r = u.Rng(KCheckin, x);
                var e = r.Int(u.OnsiteEvents);
                w.Row();
                w.Uuid(r.Uuid());
                w.Uuid(u.AnyUser(ref r));
                w.Uuid(OnsiteId(u, e));
                w.TimestampTz(After(OnsiteCreatedOn(u, e), ref r, 0.1));
            }
        });
    }

    private static Guid OnsiteId(SeedUniverse u, int e) => u.Rng(KOnsite, 2_000_000_000L + e).Uuid();

    // ------------------------------------------------------------------ class-catalog-db

    private static Guid ClassId(SeedUniverse u, int k) => u.Rng(KClass, 2_000_000_000L + k).Uuid();

    private static Guid SessionId(SeedUniverse u, int q) => u.Rng(KSession, 2_000_000_000L + q).Uuid();

    public static long PlannedClassCatalog(SeedUniverse u) => u.Classes * 10L + u.Sessions * 3L;

    public static void ClassCatalog(DatabaseLoader l, SeedUniverse u, AnomalyCounter a)
    {
        l.Copy("classes", "id, name, description, prerequisites, blog_id, group_id, created_by_id, created_on, last_modified_on", w =>
        {
            for (var k = 0; k < u.Classes; k++)
            {
                var r = u.Rng(KClass, k);
                var created = Time((double)k / u.Classes * 0.9, ref r);
                var noDescription = k % 20 == 3;
                if (noDescription)
                {
                    a.Add(Anomalies.NullClassDescription);
                }

                Guid? group = k % 17 == 2 ? u.UnknownGroupId(1_000_000L + k) : r.Chance(0.6) ? u.GroupId(r.Int(u.Groups)) : null;
                if (k % 17 == 2)
                {
                    a.Add(Anomalies.ClassOfUnknownGroup);
                }

                w.Row();
                w.Uuid(ClassId(u, k));
                w.Text($"{Words.Title(ref r)} {Words.Base36(k)}");
                w.Text(noDescription ? null : Words.Sentence(ref r, r.Int(8, 30)));
                w.Text(r.Chance(0.3) ? Words.Sentence(ref r, r.Int(3, 10)) : null);
                w.Uuid(r.Chance(0.4) ? r.Uuid() : null);
                w.Uuid(group);
                w.Uuid(u.RandomCelebrity(ref r));
                w.TimestampTz(created);
                w.TimestampTz(r.Chance(0.5) ? After(created, ref r, 0.1) : null);
            }
        });

        l.Copy("class_thumbnails", "class_id, thumbnail_url", w =>
        {
            for (var k = 0; k < u.Classes; k++)
            {
                var r = u.Rng(KClassParts, k * 4L);
                for (var n = r.Int(4); n > 0; n--)
                {
                    w.Row();
                    w.Uuid(ClassId(u, k));
                    w.Text($"https://cdn.peeq.example/classes/{ClassId(u, k)}/thumb-{n}.jpg");
                }
            }
        });

        l.Copy("class_details", "id, class_id, name, description, display_order", w =>
        {
            long row = 0;
            for (var k = 0; k < u.Classes; k++)
            {
                var r = u.Rng(KClassParts, k * 4L + 1);
                var n = r.Int(2, 8);
                for (var d = 0; d < n; d++, row++)
                {
                    var noDescription = row % 15 == 4;
                    if (noDescription)
                    {
                        a.Add(Anomalies.NullDetailDescription);
                    }

                    w.Row();
                    w.Uuid(r.Uuid());
                    w.Uuid(ClassId(u, k));
                    w.Text($"Lesson {d + 1}: {r.Pick(Words.Nouns)}");
                    w.Text(noDescription ? null : Words.Sentence(ref r, r.Int(5, 20)));
                    w.Int(d + 1);
                }
            }
        });

        l.Copy("class_associated_tags", "class_id, tag_id", w =>
        {
            for (var k = 0; k < u.Classes; k++)
            {
                var r = u.Rng(KClassParts, k * 4L + 2);
                foreach (var t in Enumerable.Range(0, r.Int(5)).Select(_ => r.Int(u.Tags)).Distinct())
                {
                    w.Row();
                    w.Uuid(ClassId(u, k));
                    w.Uuid(u.TagId(t));
                }
            }
        });

        l.Copy("class_badges", "class_id, badge_id", w =>
        {
            for (var k = 0; k < u.Classes; k++)
            {
                var r = u.Rng(KClassParts, k * 4L + 3);
                foreach (var badge in Enumerable.Range(0, r.Int(3)).Select(_ => r.Pick(Badges)).Distinct())
                {
                    w.Row();
                    w.Uuid(ClassId(u, k));
                    w.Text(badge);
                }
            }
        });

        l.Copy("sessions", "id, class_id, name, attendance_format, inventory_info, original_price, starts_on, stops_on, created_by_id, created_on, last_modified_on", w =>
        {
            for (var q = 0; q < u.Sessions; q++)
            {
                var r = u.Rng(KSession, q);
                var item = u.ItemOfType(ref r, "CLASS");
                var created = Time((double)q / u.Sessions * 0.9, ref r);
                var starts = After(created, ref r, 0.05);
                w.Row();
                w.Uuid(SessionId(u, q));
                w.Uuid(r.Chance(0.9) ? ClassId(u, r.Int(u.Classes)) : null);
                w.Text(r.Chance(0.8) ? $"Session {q + 1}: {r.Pick(Words.Nouns)}" : null);
                w.Text(r.Pick(new[] { "ONLINE", "ONLINE", "ONSITE", "HYBRID" }));
                w.Jsonb(r.Chance(0.8) ? $$"""{"id": "{{item.Id}}", "itemId": "{{item.ItemId}}"}""" : null);
                w.Numeric(r.Chance(0.85) ? r.Int(500, 30_000) / 100m : null);
                w.TimestampTz(starts);
                w.TimestampTz(r.Chance(0.9) ? starts.AddMinutes(r.Int(30, 180)) : null);
                w.Uuid(item.CreatedBy);
                w.TimestampTz(created);
                w.TimestampTz(r.Chance(0.4) ? After(created, ref r, 0.1) : null);
            }
        });

        l.Copy("session_instructors", "session_id, instructor_id", w =>
        {
            for (var q = 0; q < u.Sessions; q++)
            {
                var r = u.Rng(KSession, 1_000_000_000L + q);
                var instructors = Enumerable.Range(0, r.Int(1, 3)).Select(_ => u.RandomCelebrity(ref r)).ToHashSet();
                if (q % 23 == 5)
                {
                    instructors.Add(u.DeletedCelebrityId(3_000_000L + q));
                    a.Add(Anomalies.InstructorUnknown);
                }

                foreach (var instructor in instructors)
                {
                    w.Row();
                    w.Uuid(SessionId(u, q));
                    w.Uuid(instructor);
                }
            }
        });
    }
}
