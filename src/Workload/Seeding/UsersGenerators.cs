using System.Security.Cryptography;
using System.Text;
using static Peeq.Cdc.Workload.Seeding.SeedUniverse;

namespace Peeq.Cdc.Workload.Seeding;

/// <summary>celebrity-db, fan-db and group-profile-db (→ peeq_users).</summary>
internal static class UsersGenerators
{
    private static readonly ulong KCore = Prng.Kind("celebrity.core");
    private static readonly ulong KProfile = Prng.Kind("celebrity.profile");
    private static readonly ulong KHistory = Prng.Kind("celebrity.history");
    private static readonly ulong KParts = Prng.Kind("celebrity.parts");
    private static readonly ulong KFan = Prng.Kind("fan.profile");
    private static readonly ulong KFollows = Prng.Kind("fan.follows");
    private static readonly ulong KGroup = Prng.Kind("group.profile");
    private static readonly ulong KGroupParts = Prng.Kind("group.parts");
    private static readonly ulong KTagCopy = Prng.Kind("group.tag-copy");
    private static readonly ulong KCelebCopy = Prng.Kind("group.celeb-copy");

    private static readonly string[] Statuses = ["ACTIVE", "PENDING", "SUSPENDED", "INACTIVE"];

    // ------------------------------------------------------------------ celebrity-db

    private readonly record struct CelebrityCore(Guid Id, string Status, DateTime CreatedOn);

    private static CelebrityCore Core(SeedUniverse u, int c)
    {
        var r = u.Rng(KCore, c);
        var p = r.Int(100);
        var status = p < 80 ? "ACTIVE" : p < 88 ? "PENDING" : p < 92 ? "SUSPENDED" : "INACTIVE";
        return new CelebrityCore(u.CelebrityId(c), status, Time((double)c / u.Celebrities * 0.8, ref r));
    }

    /// <summary>first, last and display name; one in eight is not ASCII, one in 25 has no display name.</summary>
    internal static (string First, string Last, string? Display) CelebrityName(SeedUniverse u, int c)
    {
        var r = u.Rng(KProfile, c);
        string first, last, suffix = "";
        if (r.Chance(0.125))
        {
            (first, last, suffix) = r.Pick(Words.UnicodeNames);
        }
        else
        {
            first = r.Pick(Words.FirstNames);
            last = r.Pick(Words.LastNames);
        }

        var display = r.Int(25) == 0 ? null : r.Int(4) switch
        {
            0 => $"Coach {last}{suffix}",
            _ => $"{first} {last}{suffix}",
        };
        return (first, last, display);
    }

    public static long PlannedCelebrity(SeedUniverse u) => u.Celebrities * 9L;

    public static void Celebrity(DatabaseLoader l, SeedUniverse u, AnomalyCounter a)
    {
        l.Copy("celebrity_profiles", "celebrity_user_id, first_name, last_name, display_name, bio, status, store_code, display_weight, meta_data, created_on, last_modified_on", w =>
        {
            for (var c = 0; c < u.Celebrities; c++)
            {
                var core = Core(u, c);
                var (first, last, display) = CelebrityName(u, c);
                var r = u.Rng(KProfile, c + 1_000_000_000L);
                if (IsFanToo(c))
                {
                    a.Add(Anomalies.FanAndCelebrity);
                }

                if (display is null)
                {
                    a.Add(Anomalies.NullDisplayName);
                }
                else if (!Words.IsAscii(display))
                {
                    a.Add(Anomalies.UnicodeCelebrity);
                }

                string? meta = null;
                if (c % 50 == 9)
                {
                    var blob = Words.Incompressible(ref r, 9_000);
                    meta = Json.Object(j =>
                    {
                        j.WriteString("sport", r.Pick(Words.Sports));
                        j.WriteString("press_kit", blob);
                    });
                    a.Add(Anomalies.ToastCelebrityMeta);
                }
                else if (r.Chance(0.9))
                {
                    var sport = r.Pick(Words.Sports);
                    var handle = $"@{(display ?? first).Replace(" ", "", StringComparison.Ordinal).ToLowerInvariant()}{r.Int(100)}";
                    var verified = r.Chance(0.6);
                    meta = Json.Object(j =>
                    {
                        j.WriteString("sport", sport);
                        j.WriteStartObject("socials");
                        j.WriteString("instagram", handle);
                        j.WriteEndObject();
                        j.WriteBoolean("verified", verified);
                    });
                }

                w.Row();
                w.Uuid(core.Id);
                w.Text(first);
                w.Text(last);
                w.Text(display);
                w.Text(r.Chance(0.8) ? Words.Sentence(ref r, r.Int(6, 30)) : null);
                w.Text(core.Status);
                w.Text(r.Chance(0.6) ? $"ST-{Words.Base36(c).ToUpperInvariant()}" : null);
                w.Int(r.Chance(0.8) ? r.Int(1000) : null);
                w.Jsonb(meta);
                w.TimestampTz(core.CreatedOn);
                w.TimestampTz(r.Chance(0.7) ? After(core.CreatedOn, ref r) : null);
            }
        });

        l.Copy("celebrity_profile_status_history", "id, celebrity_user_id, status, occurred_on, meta_data", w =>
        {
            for (var c = 0; c < u.Celebrities; c++)
            {
                var core = Core(u, c);
                var r = u.Rng(KHistory, c);
                var chain = new List<string> { "PENDING" };
                if (core.Status != "PENDING")
                {
                    chain.Add("ACTIVE");
                    for (var flips = r.Int(3); flips > 0; flips--)
                    {
                        chain.Add(r.Pick(Statuses));
                    }

                    if (chain[^1] != core.Status)
                    {
                        chain.Add(core.Status);
                    }
                }

                var t = core.CreatedOn;
                for (var k = 0; k < chain.Count; k++)
                {
                    var previous = k == 0 ? null : chain[k - 1];
                    var by = r.Chance(0.5) ? "admin" : "self";
                    w.Row();
                    w.Uuid(r.Uuid());
                    w.Uuid(core.Id);
                    w.Text(chain[k]);
                    w.TimestampTz(t);
                    w.Jsonb(Json.Object(j =>
                    {
                        if (previous is null)
                        {
                            j.WriteNull("previous");
                        }
                        else
                        {
                            j.WriteString("previous", previous);
                        }

                        j.WriteString("by", by);
                    }));
                    t = After(t, ref r, 0.2);
                }
            }

            // The audit log outlives the profiles it describes.
            var deleted = Math.Max(3, u.Celebrities / 50);
            for (var d = 0; d < deleted; d++)
            {
                var r = u.Rng(KHistory, 1_000_000_000L + d);
                w.Row();
                w.Uuid(r.Uuid());
                w.Uuid(u.DeletedCelebrityId(d));
                w.Text("DELETED");
                w.TimestampTz(Time(r.Double(), ref r));
                w.Jsonb("""{"previous": "ACTIVE", "by": "admin", "reason": "account closed"}""");
                a.Add(Anomalies.StatusHistoryOfDeletedProfile);
            }
        });

        l.Copy("celebrity_profile_image", "id, celebrity_user_id, url, created_on", w =>
        {
            for (var c = 0; c < u.Celebrities; c++)
            {
                var core = Core(u, c);
                var r = u.Rng(KParts, c * 8L);
                for (var k = r.Int(4); k > 0; k--)
                {
                    var id = r.Uuid();
                    w.Row();
                    w.Uuid(id);
                    w.Uuid(core.Id);
                    w.Text($"https://cdn.peeq.example/celebrities/{core.Id}/images/{id}.jpg");
                    w.TimestampTz(After(core.CreatedOn, ref r, 0.3));
                }
            }
        });

        l.Copy("celebrity_profile_tags", "celebrity_user_id, tags", w =>
        {
            for (var c = 0; c < u.Celebrities; c++)
            {
                var r = u.Rng(KParts, c * 8L + 1);
                if (!r.Chance(0.9))
                {
                    continue;
                }

                var n = r.Chance(0.05) ? 0 : r.Int(1, 5);
                var tags = new HashSet<Guid>();
                while (tags.Count < n)
                {
                    tags.Add(u.TagId(r.Int(u.Tags)));
                }

                if (c % 30 == 4)
                {
                    tags.Add(u.DeletedTagId(c));
                    a.Add(Anomalies.CelebrityWithUnknownTag);
                }

                w.Row();
                w.Uuid(u.CelebrityId(c));
                w.UuidArray([.. tags]);
            }
        });

        l.Copy("celebrity_profile_banners", "id, celebrity_user_id, url, display_order, created_on", w =>
        {
            for (var c = 0; c < u.Celebrities; c++)
            {
                var core = Core(u, c);
                var r = u.Rng(KParts, c * 8L + 2);
                var n = r.Int(3);
                for (var k = 0; k < n; k++)
                {
                    var id = r.Uuid();
                    w.Row();
                    w.Uuid(id);
                    w.Uuid(core.Id);
                    w.Text($"https://cdn.peeq.example/celebrities/{core.Id}/banners/{id}.png");
                    w.Int(r.Chance(0.7) ? k : null);
                    w.TimestampTz(After(core.CreatedOn, ref r, 0.3));
                }
            }
        });

        l.Copy("profile_short_links", "id, celebrity_user_id, short_link, created_on", w =>
        {
            for (var c = 0; c < u.Celebrities; c++)
            {
                var r = u.Rng(KParts, c * 8L + 3);
                if (!r.Chance(0.6))
                {
                    continue;
                }

                var core = Core(u, c);
                var (first, last, _) = CelebrityName(u, c);
                var slug = Words.IsAscii(first + last) ? $"{first}{last}".ToLowerInvariant() : "athlete";
                w.Row();
                w.Uuid(r.Uuid());
                w.Uuid(core.Id);
                w.Text($"{slug}-{Words.Base36(c)}");
                w.TimestampTz(After(core.CreatedOn, ref r, 0.3));
            }
        });

        Offers(l, u, "cameo_offer", 0.5, 4);
        Offers(l, u, "shoutout_offer", 0.8, 5);
    }

    private static void Offers(DatabaseLoader l, SeedUniverse u, string table, double share, int part)
    {
        l.Copy(table, "id, celebrity_user_id, price, currency, is_available, meta_data, created_on, last_modified_on", w =>
        {
            for (var c = 0; c < u.Celebrities; c++)
            {
                var r = u.Rng(KParts, c * 8L + part);
                if (!r.Chance(share))
                {
                    continue;
                }

                var core = Core(u, c);
                var created = After(core.CreatedOn, ref r, 0.3);
                var days = r.Int(1, 14);
                w.Row();
                w.Uuid(r.Uuid());
                w.Uuid(core.Id);
                w.Numeric(r.Chance(0.9) ? r.Int(500, 100_000) / 100m : null);
                w.Text(r.Chance(0.9) ? "USD" : "EUR");
                w.Bool(r.Chance(0.7));
                w.Jsonb(r.Chance(0.5) ? $$"""{"turnaround_days": {{days}}}""" : null);
                w.TimestampTz(created);
                w.TimestampTz(r.Chance(0.5) ? After(created, ref r, 0.2) : null);
            }
        });
    }

    // ------------------------------------------------------------------ fan-db

    private sealed record Follow(string Id, Guid Fan, Guid Celebrity, DateTime FollowedOn, DateTime? UnfollowedOn, string? Notifications,
        DateTime? EarlierFollow, DateTime? EarlierUnfollow, DateTime? NotificationsChangedOn, bool RetriedFollow);

    private static int GhostFollowers(SeedUniverse u) => Math.Max(5, u.Fans / 100);

    internal static string FollowId(Guid fan, Guid celebrity) =>
        Convert.ToHexStringLower(MD5.HashData(Encoding.UTF8.GetBytes(fan.ToString() + celebrity.ToString())));

    /// <summary>The follows of follower <paramref name="f"/> (fans first, then users without a fan profile).</summary>
    private static List<Follow> FollowsOf(SeedUniverse u, int f, AnomalyCounter? a)
    {
        var r = u.Rng(KFollows, f);
        var isFan = f < u.Fans;
        var fan = isFan ? u.FanId(f) : u.GhostUserId(f - u.Fans);
        var start = isFan ? FanCreatedOn(u, f) : Time(r.Double() * 0.8, ref r);
        var p = r.Int(100);
        var n = p < 20 ? 0 : p < 60 ? r.Int(1, 3) : p < 90 ? r.Int(4, 10) : r.Int(11, 30);
        n = Math.Min(n, u.Celebrities / 2);
        var deletedPool = Math.Max(5, u.Celebrities / 20);
        var chosen = new HashSet<int>();
        var list = new List<Follow>(n);
        while (list.Count < n)
        {
            var orphan = r.Chance(0.02);
            var pick = orphan ? u.Celebrities + r.Int(deletedPool) : r.Int(u.Celebrities);
            if (!chosen.Add(pick))
            {
                continue;
            }

            var celebrity = orphan ? u.DeletedCelebrityId(pick - u.Celebrities) : u.CelebrityId(pick);
            var followed = After(start, ref r, 0.5);
            DateTime? unfollowed = r.Chance(0.12) ? After(followed, ref r, 0.3) : null;
            var notifications = r.Int(10) switch
            {
                0 => null,
                1 => "[]",
                2 or 3 => """["EMAIL"]""",
                4 => """["PUSH"]""",
                _ => """["EMAIL", "PUSH"]""",
            };
            DateTime? earlierFollow = null, earlierUnfollow = null;
            if (unfollowed is null && r.Chance(0.03))
            {
                // Unfollowed once and followed again: the same row (same md5 id), its history in the audit log.
                earlierFollow = start.AddTicks((followed - start).Ticks / 3);
                earlierUnfollow = start.AddTicks((followed - start).Ticks * 2 / 3);
            }

            DateTime? notificationsChanged = r.Chance(0.05) ? followed.AddTicks(((unfollowed ?? followed.AddDays(30)) - followed).Ticks / 2) : null;
            var retried = r.Chance(0.01);
            if (a is not null)
            {
                if (orphan)
                {
                    a.Add(Anomalies.FollowOfUnknownCelebrity);
                }

                if (!isFan)
                {
                    a.Add(Anomalies.FollowWithoutFanProfile);
                }

                if (unfollowed is not null)
                {
                    a.Add(Anomalies.Unfollowed);
                }
            }

            list.Add(new Follow(FollowId(fan, celebrity), fan, celebrity, followed, unfollowed, notifications, earlierFollow, earlierUnfollow,
                notificationsChanged, retried));
        }

        return list;
    }

    private static DateTime FanCreatedOn(SeedUniverse u, int f)
    {
        var r = u.Rng(KFan, f);
        return Time((double)f / u.Fans * 0.9, ref r);
    }

    public static long PlannedFan(SeedUniverse u) => u.Fans * 13L;

    public static void Fan(DatabaseLoader l, SeedUniverse u, AnomalyCounter a)
    {
        l.Copy("fan_profiles", "fan_user_id, meta_data, created_on, last_modified_on", w =>
        {
            for (var f = 0; f < u.Fans; f++)
            {
                var created = FanCreatedOn(u, f);
                var r = u.Rng(KFan, f + 1_000_000_000L);
                string? meta = null;
                if (r.Chance(0.08))
                {
                    a.Add(Anomalies.NullFanMetaData);
                }
                else
                {
                    var nickname = $"{r.Pick(Words.FirstNames).ToLowerInvariant()}{r.Int(1000)}";
                    var sport = r.Pick(Words.Sports);
                    var optIn = r.Chance(0.4);
                    var locale = r.Pick(new[] { "en-US", "en-GB", "es-MX", "fr-FR", "de-DE", "ja-JP", "pt-BR" });
                    meta = Json.Object(j =>
                    {
                        j.WriteString("nickname", nickname);
                        j.WriteStartArray("favorite_sports");
                        j.WriteStringValue(sport);
                        j.WriteEndArray();
                        j.WriteBoolean("marketing_opt_in", optIn);
                        j.WriteString("locale", locale);
                    });
                }

                w.Row();
                w.Uuid(u.FanId(f));
                w.Jsonb(meta);
                w.TimestampTz(created);
                w.TimestampTz(r.Chance(0.5) ? After(created, ref r) : null);
            }
        });

        var followers = u.Fans + GhostFollowers(u);
        l.Copy("fan_follows", "id, fan_user_id, celeb_user_id, followed_on, unfollowed_on, notifications", w =>
        {
            for (var f = 0; f < followers; f++)
            {
                foreach (var follow in FollowsOf(u, f, a))
                {
                    w.Row();
                    w.Text(follow.Id);
                    w.Uuid(follow.Fan);
                    w.Uuid(follow.Celebrity);
                    w.TimestampTz(follow.FollowedOn);
                    w.TimestampTz(follow.UnfollowedOn);
                    w.Jsonb(follow.Notifications);
                }
            }
        });

        l.Copy("fan_follow_changes", "fan_user_id, celeb_user_id, occurred_on, change", w =>
        {
            void Change(Follow follow, DateTime at, string change)
            {
                w.Row();
                w.Uuid(follow.Fan);
                w.Uuid(follow.Celebrity);
                w.TimestampTz(at);
                w.Jsonb(change);
            }

            for (var f = 0; f < followers; f++)
            {
                foreach (var follow in FollowsOf(u, f, null))
                {
                    var notifications = follow.Notifications ?? "null";
                    if (follow.EarlierFollow is { } ef && follow.EarlierUnfollow is { } eu)
                    {
                        Change(follow, ef, $$"""{"action": "FOLLOW", "notifications": {{notifications}}}""");
                        Change(follow, eu, """{"action": "UNFOLLOW"}""");
                    }

                    var followChange = $$"""{"action": "FOLLOW", "notifications": {{notifications}}}""";
                    Change(follow, follow.FollowedOn, followChange);
                    if (follow.RetriedFollow)
                    {
                        Change(follow, follow.FollowedOn, followChange);
                        a.Add(Anomalies.KeylessDuplicateRows);
                    }

                    if (follow.NotificationsChangedOn is { } nc)
                    {
                        Change(follow, nc, $$"""{"action": "NOTIFICATIONS", "notifications": {{notifications}}}""");
                    }

                    if (follow.UnfollowedOn is { } un)
                    {
                        Change(follow, un, """{"action": "UNFOLLOW"}""");
                    }
                }
            }
        });
    }

    // ------------------------------------------------------------------ group-profile-db (timestamps without zone)

    private static readonly (string Name, string Kind)[] UnicodeGroups =
    [
        ("FC Zürich Academy", "ACADEMY"), ("東京 Tigers", "TEAM"), ("Águilas de Mexicali", "TEAM"), ("Ліга Чемпіонів", "LEAGUE"),
        ("Équipe de France Espoirs", "TEAM"), ("서울 Dragons", "TEAM"), ("نادي الهلال", "ORGANIZATION"), ("Surf Crew 🏄", "ORGANIZATION"),
    ];

    private static DateTime GroupCreatedOn(SeedUniverse u, int g)
    {
        var r = u.Rng(KGroup, g);
        return Time((double)g / u.Groups * 0.8, ref r);
    }

    private static bool IsTagCopy(SeedUniverse u, int t) => u.Rng(KTagCopy, t).Chance(0.15) || t == 0;

    private static bool IsCelebCopy(SeedUniverse u, int c) => u.Rng(KCelebCopy, c).Chance(0.4) || c == 0;

    private static int DeletedCelebCopies(SeedUniverse u) => Math.Max(2, u.Celebrities / 50);

    public static long PlannedGroupProfile(SeedUniverse u) => u.Groups * 12L + u.Tags / 6 + u.Celebrities / 2;

    public static void GroupProfile(DatabaseLoader l, SeedUniverse u, AnomalyCounter a)
    {
        l.Copy("group_profiles", "profile_id, name, description, group_profile_type, is_approved, is_deleted, owner_id, parent_group_profile_id, meta_data, created_on, last_modified_on", w =>
        {
            for (var g = 0; g < u.Groups; g++)
            {
                var created = GroupCreatedOn(u, g);
                var r = u.Rng(KGroup, g + 1_000_000_000L);
                string name, kind;
                if (g % 10 == 4)
                {
                    (name, kind) = UnicodeGroups[g / 10 % UnicodeGroups.Length];
                    name = $"{name} {Words.Base36(g)}";
                }
                else
                {
                    kind = r.Pick(new[] { "TEAM", "ORGANIZATION", "LEAGUE", "ACADEMY" });
                    name = $"{Words.Capitalize(r.Pick(Words.Adjectives))} {Words.Capitalize(r.Pick(Words.Sports))} {Words.Capitalize(kind.ToLowerInvariant())} {Words.Base36(g)}";
                }

                if (!Words.IsAscii(name))
                {
                    a.Add(Anomalies.UnicodeGroup);
                }

                var deleted = g % 17 == 5;
                if (deleted)
                {
                    a.Add(Anomalies.DeletedGroup);
                }

                var o = r.Int(100);
                Guid? owner = o < 70 ? u.RandomCelebrity(ref r) : o < 95 ? u.FanId(r.Int(u.Fans)) : null;
                Guid? parent = g >= 3 && r.Chance(0.25) ? u.GroupId(r.Int(g)) : null;
                var founded = 1950 + r.Int(75);
                w.Row();
                w.Uuid(u.GroupId(g));
                w.Text(name);
                w.Text(r.Chance(0.8) ? Words.Sentence(ref r, r.Int(5, 25)) : null);
                w.Text(r.Chance(0.95) ? kind : null);
                w.Bool(r.Chance(0.85));
                w.Bool(deleted);
                w.Uuid(owner);
                w.Uuid(parent);
                w.Jsonb(r.Chance(0.6) ? $$"""{"founded": {{founded}}, "public": true}""" : null);
                w.Timestamp(created);
                w.Timestamp(r.Chance(0.6) ? After(created, ref r) : null);
            }
        });

        l.Copy("profile_thumbnails", "id, profile_id, url, created_on", w =>
        {
            for (var g = 0; g < u.Groups; g++)
            {
                var created = GroupCreatedOn(u, g);
                var r = u.Rng(KGroupParts, g * 4L);
                for (var k = r.Int(5); k > 0; k--)
                {
                    var id = r.Uuid();
                    w.Row();
                    w.Uuid(id);
                    w.Uuid(u.GroupId(g));
                    w.Text($"https://cdn.peeq.example/groups/{u.GroupId(g)}/thumbnails/{id}.jpg");
                    w.Timestamp(After(created, ref r, 0.3));
                }
            }
        });

        l.Copy("group_profile_tags", "tag_id, name, created_on", w =>
        {
            for (var t = 0; t < u.Tags; t++)
            {
                if (!IsTagCopy(u, t))
                {
                    continue;
                }

                var r = u.Rng(KTagCopy, t + 1_000_000_000L);
                w.Row();
                w.Uuid(u.TagId(t));
                w.Text(u.TagName(t));
                w.Timestamp(Time(r.Double(), ref r));
            }
        });

        l.Copy("group_profile_celebs", "celeb_user_id, display_name, created_on", w =>
        {
            for (var c = 0; c < u.Celebrities; c++)
            {
                if (!IsCelebCopy(u, c))
                {
                    continue;
                }

                var r = u.Rng(KCelebCopy, c + 1_000_000_000L);
                w.Row();
                w.Uuid(u.CelebrityId(c));
                w.Text(CelebrityName(u, c).Display);
                w.Timestamp(Time(r.Double(), ref r));
            }

            for (var d = 0; d < DeletedCelebCopies(u); d++)
            {
                var r = u.Rng(KCelebCopy, 2_000_000_000L + d);
                w.Row();
                w.Uuid(u.DeletedCelebrityId(d));
                w.Text($"{r.Pick(Words.FirstNames)} {r.Pick(Words.LastNames)}");
                w.Timestamp(Time(r.Double() * 0.5, ref r));
                a.Add(Anomalies.GroupCelebUnknown);
            }
        });

        l.Copy("profile_tags_association", "profile_id, tag_id", w =>
        {
            for (var g = 0; g < u.Groups; g++)
            {
                var r = u.Rng(KGroupParts, g * 4L + 1);
                var tags = new HashSet<int>();
                var n = r.Int(6);
                for (var attempt = 0; tags.Count < n && attempt < 1000; attempt++)
                {
                    var t = r.Int(u.Tags);
                    if (IsTagCopy(u, t))
                    {
                        tags.Add(t);
                    }
                }

                foreach (var t in tags)
                {
                    w.Row();
                    w.Uuid(u.GroupId(g));
                    w.Uuid(u.TagId(t));
                }
            }
        });

        l.Copy("profile_celebs_association", "profile_id, celeb_user_id", w =>
        {
            var deleted = DeletedCelebCopies(u);
            for (var g = 0; g < u.Groups; g++)
            {
                var r = u.Rng(KGroupParts, g * 4L + 2);
                var members = new HashSet<Guid>();
                var n = r.Int(1, 20);
                for (var attempt = 0; members.Count < n && attempt < 1000; attempt++)
                {
                    if (r.Chance(0.03))
                    {
                        members.Add(u.DeletedCelebrityId(r.Int(deleted)));
                        continue;
                    }

                    var c = r.Int(u.Celebrities);
                    if (IsCelebCopy(u, c))
                    {
                        members.Add(u.CelebrityId(c));
                    }
                }

                foreach (var m in members)
                {
                    w.Row();
                    w.Uuid(u.GroupId(g));
                    w.Uuid(m);
                }
            }
        });
    }
}
