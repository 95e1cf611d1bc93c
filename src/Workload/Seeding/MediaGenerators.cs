using static Peeq.Cdc.Workload.Seeding.SeedUniverse;

namespace Peeq.Cdc.Workload.Seeding;

/// <summary>content-db, media-db, shoutout-db and mux-livestream-db (→ peeq_media).</summary>
internal static class MediaGenerators
{
    private static readonly ulong KCore = Prng.Kind("media.core");
    private static readonly ulong KFile = Prng.Kind("media.file");
    private static readonly ulong KPrice = Prng.Kind("media.price");
    private static readonly ulong KContent = Prng.Kind("content.file");
    private static readonly ulong KShoutout = Prng.Kind("shoutout.stream");
    private static readonly ulong KLivestream = Prng.Kind("livestream");

    private readonly record struct MediaCore(Guid Id, Guid Owner, string Name, long Length, string Md5, string? Mime, bool Video, DateTime CreatedOn);

    private static MediaCore Core(SeedUniverse u, int m)
    {
        var r = u.Rng(KCore, m);
        var owner = r.Chance(0.7) ? u.RandomCelebrity(ref r) : u.FanId(r.Int(u.Fans));
        var video = r.Chance(0.4);
        var (ext, mime) = video
            ? r.Chance(0.8) ? ("mp4", "video/mp4") : ("mov", "video/quicktime")
            : r.Chance(0.7) ? ("jpg", "image/jpeg") : ("png", "image/png");
        var name = $"{(video ? "clip" : "photo")}-{Words.Base36(m)}-{Words.Slug(ref r)}.{ext}";
        var length = video ? r.Long(200_000_000L) + 100_000 : r.Long(8_000_000L) + 5_000;
        return new MediaCore(u.MediaFileId(m), owner, name, length, r.Hex(16), r.Chance(0.02) ? null : mime, video,
            Time((double)m / u.MediaFiles * 0.95, ref r));
    }

    private static string State(SeedUniverse u, int m)
    {
        var r = u.Rng(KFile, m * 2L + 1);
        var p = r.Int(100);
        return m % 97 == 5 || p < 5 ? "DELETED" : p < 8 ? "PROCESSING" : p < 11 ? "FAILED" : "READY";
    }

    /// <summary>The file's price chain (empty when it is not for sale; a leading null when the price was added later).</summary>
    private static (decimal?[] Prices, bool Priced) Prices(SeedUniverse u, int m)
    {
        var r = u.Rng(KPrice, m);
        if (!r.Chance(0.1))
        {
            return ([], false);
        }

        var chain = new List<decimal?>();
        if (r.Chance(0.5))
        {
            chain.Add(null);
        }

        long cents = r.Int(99, 4_999);
        chain.Add(cents / 100m);
        for (var k = r.Int(3); k > 0; k--)
        {
            cents = Math.Max(1, cents * r.Int(60, 150) / 100 + 1);
            chain.Add(cents / 100m);
        }

        return ([.. chain], true);
    }

    public static long PlannedMedia(SeedUniverse u) => u.MediaFiles * 22L / 10;

    public static void Media(DatabaseLoader l, SeedUniverse u, AnomalyCounter a)
    {
        l.Copy("files", "content_id, owner_id, name, content_length, content_md5, mime_type, content_secret, url, duration, height, width, type, state, price, currency, inventory_item_id, media_info, mux_info, thumbnail_for, created_on, last_modified_on", w =>
        {
            for (var m = 0; m < u.MediaFiles; m++)
            {
                var core = Core(u, m);
                var r = u.Rng(KFile, m * 2L);
                var state = State(u, m);
                var (prices, priced) = Prices(u, m);
                if (core.Mime is null)
                {
                    a.Add(Anomalies.NullMimeType);
                }

                if (state == "DELETED")
                {
                    a.Add(Anomalies.DeletedFile);
                }

                string? mux = null;
                if (m % 200 == 37)
                {
                    var blob = Words.Incompressible(ref r, 9_000);
                    var asset = r.Hex(12);
                    mux = Json.Object(j =>
                    {
                        j.WriteString("asset_id", asset);
                        j.WriteString("status", "ready");
                        j.WriteString("webhook_payload", blob);
                    });
                    a.Add(Anomalies.ToastMediaMux);
                }
                else if (core.Video && state != "PROCESSING")
                {
                    var asset = r.Hex(12);
                    var playback = r.Hex(10);
                    var status = state == "FAILED" ? "errored" : "ready";
                    mux = Json.Object(j =>
                    {
                        j.WriteString("asset_id", asset);
                        j.WriteStartArray("playback_ids");
                        j.WriteStartObject();
                        j.WriteString("id", playback);
                        j.WriteString("policy", "signed");
                        j.WriteEndObject();
                        j.WriteEndArray();
                        j.WriteString("status", status);
                    });
                }

                var height = core.Video ? r.Pick(new[] { 720, 1080, 2160 }) : r.Int(300, 4000);
                var width = core.Video ? height * 16 / 9 : r.Int(300, 4000);
                var bitrate = r.Int(500, 20_000);
                Guid? thumbnailFor = null;
                if (!core.Video && m > 0 && r.Chance(0.5))
                {
                    var previous = Core(u, m - 1);
                    if (previous.Video)
                    {
                        thumbnailFor = previous.Id;
                    }
                }

                w.Row();
                w.Uuid(core.Id);
                w.Uuid(core.Owner);
                w.Text(core.Name);
                w.Long(core.Length);
                w.Text(core.Md5);
                w.Text(core.Mime);
                w.Text(r.Chance(0.7) ? r.Hex(16) : null);
                w.Text($"https://media.peeq.example/{core.Owner}/{core.Id}/{core.Name}");
                w.Int(core.Video ? r.Int(5, 3600) : null);
                w.Int(height);
                w.Int(width);
                w.Text(core.Video ? "video" : "photo");
                w.Text(state);
                w.Numeric(priced ? prices[^1] : null);
                w.Text(priced ? "USD" : null);
                w.Uuid(priced ? u.ItemOfType(ref r, "CONTENT").Id : null);
                w.Jsonb(r.Chance(0.9) ? $$$"""{"codec": "{{{(core.Video ? "h264" : "jpeg")}}}", "bitrate_kbps": {{{bitrate}}}, "exif": {"orientation": 1}}""" : null);
                w.Jsonb(mux);
                w.Uuid(thumbnailFor);
                w.TimestampTz(core.CreatedOn);
                w.TimestampTz(r.Chance(0.6) ? After(core.CreatedOn, ref r, 0.2) : null);
            }
        });

        l.Copy("files_price_history", "id, content_id, old_value, new_value, changed_on", w =>
        {
            for (var m = 0; m < u.MediaFiles; m++)
            {
                var (prices, priced) = Prices(u, m);
                if (!priced || prices.Length < 2)
                {
                    continue;
                }

                var core = Core(u, m);
                var r = u.Rng(KPrice, m + 1_000_000_000L);
                var t = core.CreatedOn;
                for (var k = 1; k < prices.Length; k++)
                {
                    t = After(t, ref r, 0.1);
                    w.Row();
                    w.Uuid(r.Uuid());
                    w.Uuid(core.Id);
                    w.Numeric(prices[k - 1]);
                    w.Numeric(prices[k]);
                    w.TimestampTz(t);
                }
            }
        });

        l.Copy("files_state_history", "id, content_id, old_value, new_value, changed_on", w =>
        {
            for (var m = 0; m < u.MediaFiles; m++)
            {
                var state = State(u, m);
                if (state == "PROCESSING")
                {
                    continue;
                }

                var core = Core(u, m);
                var r = u.Rng(KFile, m * 2L + 1_000_000_000_000L);
                var chain = new List<string> { "PROCESSING" };
                if (state == "FAILED")
                {
                    chain.Add("FAILED");
                }
                else
                {
                    chain.Add("READY");
                    if (r.Chance(0.1))
                    {
                        chain.Add("PROCESSING");
                        chain.Add("READY");
                    }

                    if (state == "DELETED")
                    {
                        chain.Add("DELETED");
                    }
                }

                var t = core.CreatedOn;
                for (var k = 1; k < chain.Count; k++)
                {
                    t = After(t, ref r, 0.05);
                    w.Row();
                    w.Uuid(r.Uuid());
                    w.Uuid(core.Id);
                    w.Text(chain[k - 1]);
                    w.Text(chain[k]);
                    w.TimestampTz(t);
                }
            }
        });
    }

    public static long PlannedContent(SeedUniverse u) => u.ContentFiles;

    public static void Content(DatabaseLoader l, SeedUniverse u, AnomalyCounter a)
    {
        Guid OwnId(int k) => u.Rng(KContent, k).Uuid();

        l.Copy("files", "id, content_id, content_length, mime_type, name, owner_id, content_md5, created_on", w =>
        {
            for (var k = 0; k < u.ContentFiles; k++)
            {
                var r = u.Rng(KContent, k + 1_000_000_000L);
                Guid contentId, owner;
                string name, md5;
                string? mime;
                long length;
                DateTime created;
                if (k % 10 == 1)
                {
                    // The same file registered by content-db and media-db (D8: one file in the target).
                    var media = Core(u, (int)((long)k * 37 % u.MediaFiles));
                    (contentId, owner, name, length, md5, mime, created) = (media.Id, media.Owner, media.Name, media.Length, media.Md5, media.Mime, media.CreatedOn);
                    a.Add(Anomalies.ContentAlsoInMedia);
                }
                else
                {
                    contentId = k % 50 == 7 ? OwnId(k - 1) : OwnId(k);
                    if (k % 50 == 7)
                    {
                        a.Add(Anomalies.ContentIdReused);
                    }

                    owner = u.AnyUser(ref r);
                    var (ext, type) = r.Int(4) switch
                    {
                        0 => ("pdf", "application/pdf"),
                        1 => ("jpg", "image/jpeg"),
                        2 => ("mp3", "audio/mpeg"),
                        _ => ("zip", "application/zip"),
                    };
                    name = $"upload-{Words.Base36(k)}.{ext}";
                    mime = r.Chance(0.05) ? null : type;
                    length = r.Long(50_000_000L) + 1_000;
                    md5 = r.Hex(16);
                    created = Time((double)k / u.ContentFiles * 0.95, ref r);
                }

                w.Row();
                w.Text($"{owner}/{contentId}/{Words.Base36(k)}-{name}");
                w.Uuid(contentId);
                w.Long(length);
                w.Text(mime);
                w.Text(name);
                w.Uuid(owner);
                w.Text(r.Chance(0.95) ? md5 : null);
                w.TimestampTz(created);
            }
        });
    }

    private static readonly string[] ShoutoutTitles = ["Happy birthday, {0}!", "Congrats on the win, {0}", "Good luck this season, {0}", "Get well soon, {0}", "Welcome to the team, {0}"];

    private static readonly string[] UnicodeShoutoutTitles = ["¡Feliz cumpleaños, {0}! 🎉", "お誕生日おめでとう、{0}", "Alles Gute, {0} 🎂", "Поздравляю, {0}!", "מזל טוב {0}"];

    public static long PlannedShoutout(SeedUniverse u) => u.Shoutouts;

    public static void Shoutout(DatabaseLoader l, SeedUniverse u, AnomalyCounter a)
    {
        l.Copy("mux_stream", "id, created_by_id, inventory_item_id, name, description, stream_state, stream_key, mux_info, inventory_info, created_on, last_modified_on", w =>
        {
            for (var s = 0; s < u.Shoutouts; s++)
            {
                var r = u.Rng(KShoutout, s);
                var item = u.ItemOfType(ref r, "SHOUTOUT");
                string? itemId = s % 20 == 3 ? $"SHOUTOUT-deleted-{Words.Base36(s)}" : r.Chance(0.05) ? null : item.ItemId;
                if (s % 20 == 3)
                {
                    a.Add(Anomalies.ShoutoutOfUnknownItem);
                }

                var unicode = r.Chance(0.08);
                var name = string.Format(System.Globalization.CultureInfo.InvariantCulture,
                    unicode ? r.Pick(UnicodeShoutoutTitles) : r.Pick(ShoutoutTitles), unicode ? r.Pick(Words.UnicodeNames).First : r.Pick(Words.FirstNames));
                if (!Words.IsAscii(name))
                {
                    a.Add(Anomalies.UnicodeShoutout);
                }

                var state = r.Int(10) switch { 0 => "active", < 8 => "idle", _ => "disabled" };
                string mux;
                var asset = r.Hex(12);
                if (s % 100 == 21)
                {
                    var blob = Words.Incompressible(ref r, 9_000);
                    mux = Json.Object(j =>
                    {
                        j.WriteString("live_stream_id", asset);
                        j.WriteString("recording", blob);
                    });
                    a.Add(Anomalies.ToastShoutoutMux);
                }
                else
                {
                    mux = $$"""{"live_stream_id": "{{asset}}", "latency_mode": "low", "reconnect_window": 60}""";
                }

                var created = Time((double)s / u.Shoutouts * 0.95, ref r);
                w.Row();
                w.Uuid(r.Uuid());
                w.Uuid(item.CreatedBy);
                w.Text(itemId);
                w.Text(name);
                w.Text(r.Chance(0.6) ? Words.Sentence(ref r, r.Int(4, 15)) : null);
                w.Text(state);
                w.Text(r.Hex(16));
                w.Jsonb(mux);
                w.Jsonb(itemId is null ? null : $$"""{"id": "{{item.Id}}", "itemId": "{{item.ItemId}}", "price": {{(item.Price ?? 0m).ToString(System.Globalization.CultureInfo.InvariantCulture)}}}""");
                w.TimestampTz(created);
                w.TimestampTz(r.Chance(0.5) ? After(created, ref r, 0.1) : null);
            }
        });
    }

    public static long PlannedLivestream(SeedUniverse u) => u.Livestreams;

    public static void MuxLivestream(DatabaseLoader l, SeedUniverse u, AnomalyCounter a)
    {
        l.Copy("mux_livestreams", "livestream_id, name, description, stream_key, stream_state, mux_info, inventory_info, group_id, created_by, created_on, last_modified_on", w =>
        {
            for (var v = 0; v < u.Livestreams; v++)
            {
                var r = u.Rng(KLivestream, v);
                Guid? group = v % 15 == 4 ? u.UnknownGroupId(v) : r.Chance(0.65) ? u.GroupId(r.Int(u.Groups)) : null;
                if (v % 15 == 4)
                {
                    a.Add(Anomalies.LivestreamOfUnknownGroup);
                }

                var item = u.ItemOfType(ref r, "EVENT");
                var created = Time((double)v / u.Livestreams * 0.95, ref r);
                var asset = r.Hex(12);
                w.Row();
                w.Uuid(r.Uuid());
                w.Text(Words.Title(ref r));
                w.Text(r.Chance(0.7) ? Words.Sentence(ref r, r.Int(5, 20)) : null);
                w.Text(r.Hex(16));
                w.Text(r.Int(10) switch { 0 => "active", < 8 => "idle", _ => "disabled" });
                w.Jsonb($$"""{"live_stream_id": "{{asset}}", "latency_mode": "standard", "max_continuous_duration": 43200}""");
                w.Jsonb(r.Chance(0.7) ? $$"""{"id": "{{item.Id}}", "itemId": "{{item.ItemId}}", "state": "{{item.State}}"}""" : null);
                w.Uuid(group);
                w.Uuid(item.CreatedBy);
                w.TimestampTz(created);
                w.TimestampTz(r.Chance(0.5) ? After(created, ref r, 0.1) : null);
            }
        });
    }
}
