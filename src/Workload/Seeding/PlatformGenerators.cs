using static Peeq.Cdc.Workload.Seeding.SeedUniverse;

namespace Peeq.Cdc.Workload.Seeding;

/// <summary>notification-service-db, message-board-db, sse-db and tags-db (→ peeq_platform); encryption-db and dwolla-db (→ peeq_encryption).</summary>
internal static class PlatformGenerators
{
    private static readonly ulong KTag = Prng.Kind("tags.row");
    private static readonly ulong KTemplate = Prng.Kind("notification.template");
    private static readonly ulong KNotification = Prng.Kind("notification.row");
    private static readonly ulong KBoard = Prng.Kind("board.row");
    private static readonly ulong KBoardMembers = Prng.Kind("board.members");
    private static readonly ulong KBoardMessages = Prng.Kind("board.messages");
    private static readonly ulong KSse = Prng.Kind("sse.group");
    private static readonly ulong KSseMembers = Prng.Kind("sse.members");
    private static readonly ulong KNamespace = Prng.Kind("vault.namespace.row");
    private static readonly ulong KSecret = Prng.Kind("vault.secret.row");
    private static readonly ulong KDwollaNamespace = Prng.Kind("dwolla.namespace");
    private static readonly ulong KDwollaSecret = Prng.Kind("dwolla.secret");

    private static readonly string[] Channels = ["EMAIL", "SMS", "PUSH", "IN_APP"];

    private static readonly string[] UnicodeMessages =
    [
        "¡Qué partido! ⚽🔥", "すごい試合でした！", "Allez les Bleus 🇫🇷", "최고의 경기 👏", "מדהים!!! 🙌", "رائع جدا", "Спасибо за урок!", "Danke, Trainer 💪",
    ];

    // ------------------------------------------------------------------ tags-db

    public static long PlannedTags(SeedUniverse u) => u.Tags;

    public static void Tags(DatabaseLoader l, SeedUniverse u, AnomalyCounter a)
    {
        l.Copy("tags", "id, name, description, type, color, thumbnail, keywords, associated_tags, meta_data, created_on, created_by_id, last_modified_on, updated_by_id", w =>
        {
            for (var t = 0; t < u.Tags; t++)
            {
                var r = u.Rng(KTag, t);
                var name = u.TagName(t);
                if (!Words.IsAscii(name))
                {
                    a.Add(Anomalies.UnicodeTag);
                }

                var untyped = t % 20 == 3;
                if (untyped)
                {
                    a.Add(Anomalies.NullTagType);
                }

                var created = Time((double)t / u.Tags * 0.9, ref r);
                var edited = r.Chance(0.4);
                w.Row();
                w.Uuid(u.TagId(t));
                w.Text(name);
                w.Text(r.Chance(0.5) ? Words.Sentence(ref r, r.Int(3, 12)) : null);
                w.Text(untyped ? null : r.Pick(new[] { "CATEGORY", "SKILL", "SPORT", "TOPIC" }));
                w.Text(r.Chance(0.7) ? $"#{r.Hex(3).ToUpperInvariant()}" : null);
                w.Text(r.Chance(0.4) ? $"tags/{u.TagId(t)}.svg" : null);
                w.TextArray(r.Chance(0.6) ? [r.Pick(Words.Sports), r.Pick(Words.Nouns)] : null);
                w.UuidArray(r.Chance(0.3) ? Enumerable.Range(0, r.Int(1, 3)).Select(_ => u.TagId(r.Int(u.Tags))).Distinct().ToArray() : null);
                w.Jsonb(r.Chance(0.3) ? $$"""{"featured": {{(r.Chance(0.2) ? "true" : "false")}}}""" : null);
                w.TimestampTz(created);
                w.Uuid(r.Chance(0.8) ? u.RandomCelebrity(ref r) : null);
                w.TimestampTz(edited ? After(created, ref r, 0.2) : null);
                w.Uuid(edited ? u.RandomCelebrity(ref r) : null);
            }
        });
    }

    // ------------------------------------------------------------------ notification-service-db

    public static long PlannedNotification(SeedUniverse u) => u.Templates + u.Notifications;

    public static void NotificationService(DatabaseLoader l, SeedUniverse u, AnomalyCounter a)
    {
        l.Copy("notification_templates", "id, template_key, channel, subject, body_template, created_on, last_modified_on", w =>
        {
            for (var t = 0; t < u.Templates; t++)
            {
                var r = u.Rng(KTemplate, t);
                var created = Time((double)t / u.Templates * 0.5, ref r);
                var channel = r.Pick(Channels);
                w.Row();
                w.Uuid(r.Uuid());
                w.Text(u.TemplateKey(t));
                w.Text(channel);
                w.Text(channel is "EMAIL" or "PUSH" ? $"{{{{name}}}}, {r.Pick(Words.Nouns)} news" : null);
                w.Text($"Hi {{{{name}}}}, your {r.Pick(Words.Nouns)} is {{{{status}}}}.");
                w.TimestampTz(created);
                w.TimestampTz(r.Chance(0.3) ? After(created, ref r, 0.3) : null);
            }
        });

        l.Copy("notifications", "id, user_id, template_key, channel, subject, body, status, failure_reason, meta_data, created_on, last_modified_on, sent_on, read_on", w =>
        {
            for (var n = 0; n < u.Notifications; n++)
            {
                var r = u.Rng(KNotification, n);
                string? key;
                if (n % 50 == 13)
                {
                    key = $"legacy.{TemplateKinds[n % TemplateKinds.Length]}.v0";
                    a.Add(Anomalies.NotificationOfUnknownTemplate);
                }
                else
                {
                    key = r.Chance(0.9) ? u.TemplateKey(r.Int(u.Templates)) : null;
                }

                string status;
                if (n % 97 == 11)
                {
                    status = r.Chance(0.5) ? "DELIVERED" : "BOUNCED";
                    a.Add(Anomalies.NotificationStatusOutside);
                }
                else
                {
                    var s = r.Int(100);
                    status = s < 10 ? "PENDING" : s < 60 ? "SENT" : s < 65 ? "FAILED" : "READ";
                }

                var created = Time((double)n / u.Notifications * 0.98, ref r);
                DateTime? sent = status is "PENDING" or "FAILED" ? null : created.AddSeconds(r.Int(1, 600));
                DateTime? read = status == "READ" && sent is { } s2 ? s2.AddMinutes(r.Int(1, 10_000)) : null;
                var name = r.Pick(Words.FirstNames);
                w.Row();
                w.Uuid(r.Uuid());
                w.Uuid(u.AnyUser(ref r));
                w.Text(key);
                w.Text(r.Pick(Channels));
                w.Text(r.Chance(0.6) ? $"{name}, {r.Pick(Words.Nouns)} news" : null);
                w.Text($"Hi {name}, your {r.Pick(Words.Nouns)} is {r.Pick(new[] { "ready", "confirmed", "starting soon", "updated" })}.");
                w.Text(status);
                w.Text(status == "FAILED" ? r.Pick(new[] { "mailbox full", "invalid token", "rate limited" }) : null);
                w.Jsonb(r.Chance(0.5) ? $$"""{"campaign": "c-{{r.Int(1, 300)}}"}""" : null);
                w.TimestampTz(created);
                w.TimestampTz(sent ?? (r.Chance(0.1) ? created.AddSeconds(1) : null));
                w.TimestampTz(sent);
                w.TimestampTz(read);
            }
        });
    }

    // ------------------------------------------------------------------ message-board-db

    private static Guid BoardId(SeedUniverse u, int b) => u.Rng(KBoard, 2_000_000_000L + b).Uuid();

    private static DateTime BoardCreatedOn(SeedUniverse u, int b)
    {
        var r = u.Rng(KBoard, b);
        return Time((double)b / u.Boards * 0.9, ref r);
    }

    private sealed record Member(Guid Id, Guid User, string? Name, DateTime AddedOn, DateTime? RemovedOn, string? MetaData);

    /// <summary>A board's members: distinct users; one in 40 left and joined again (a second row).</summary>
    private static List<Member> MembersOf(SeedUniverse u, int b, AnomalyCounter? a)
    {
        var r = u.Rng(KBoardMembers, b);
        var created = BoardCreatedOn(u, b);
        var average = Math.Max(1, u.BoardMembers / u.Boards);
        var count = r.Int(0, average * 2);
        var users = new HashSet<Guid>();
        var list = new List<Member>(count + 2);
        for (var attempt = 0; users.Count < count && attempt < count * 4; attempt++)
        {
            var user = u.AnyUser(ref r);
            if (!users.Add(user))
            {
                continue;
            }

            var added = After(created, ref r, 0.2);
            var rejoin = (list.Count + b) % 40 == 9;
            DateTime? removed = rejoin || r.Chance(0.08) ? After(added, ref r, 0.1) : null;
            var name = r.Chance(0.8) ? r.Pick(Words.FirstNames) : null;
            var role = r.Chance(0.1) ? "moderator" : "member";
            list.Add(new Member(r.Uuid(), user, name, added, removed, $$"""{"role": "{{role}}"}"""));
            if (removed is not null)
            {
                a?.Add(Anomalies.RemovedMember);
            }

            if (rejoin)
            {
                list.Add(new Member(r.Uuid(), user, name, After(removed!.Value, ref r, 0.05), null, $$"""{"role": "{{role}}", "rejoined": true}"""));
                a?.Add(Anomalies.MemberRejoined);
            }
        }

        return list;
    }

    public static long PlannedMessageBoard(SeedUniverse u) => u.Boards + u.BoardMembers + u.Messages;

    public static void MessageBoard(DatabaseLoader l, SeedUniverse u, AnomalyCounter a)
    {
        l.Copy("message_boards", "id, id_str, id_type, name, description, created_by_id, created_on, starts_on, stops_on, associated_item_ids, meta_data", w =>
        {
            for (var b = 0; b < u.Boards; b++)
            {
                var created = BoardCreatedOn(u, b);
                var r = u.Rng(KBoard, 1_000_000_000L + b);
                var idType = r.Int(3) switch { 0 => "CLASS", 1 => "BROADCAST", _ => null };
                DateTime? starts = r.Chance(0.5) ? After(created, ref r, 0.05) : null;
                w.Row();
                w.Uuid(BoardId(u, b));
                w.Text(idType is null ? null : r.Uuid().ToString());
                w.Text(idType);
                w.Text($"{Words.Title(ref r)} board");
                w.Text(r.Chance(0.5) ? Words.Sentence(ref r, r.Int(4, 15)) : null);
                w.Uuid(u.RandomCelebrity(ref r));
                w.TimestampTz(created);
                w.TimestampTz(starts);
                w.TimestampTz(starts is { } s && r.Chance(0.7) ? s.AddDays(r.Int(1, 90)) : null);
                w.UuidArray(r.Chance(0.4) ? [u.Item(r.Int(u.Items)).Id] : null);
                w.Jsonb(r.Chance(0.4) ? """{"slow_mode_seconds": 5}""" : null);
            }
        });

        l.Copy("members", "id, message_board_id, user_id, name, added_on, removed_on, meta_data", w =>
        {
            for (var b = 0; b < u.Boards; b++)
            {
                foreach (var m in MembersOf(u, b, a))
                {
                    w.Row();
                    w.Uuid(m.Id);
                    w.Uuid(BoardId(u, b));
                    w.Uuid(m.User);
                    w.Text(m.Name);
                    w.TimestampTz(m.AddedOn);
                    w.TimestampTz(m.RemovedOn);
                    w.Jsonb(m.MetaData);
                }
            }
        });

        l.Copy("messages", "id, message_board_id, members_id, message_content, message_content_type, meta_data, created_on", w =>
        {
            var average = Math.Max(1, u.Messages / u.Boards);
            for (var b = 0; b < u.Boards; b++)
            {
                var members = MembersOf(u, b, null);
                if (members.Count == 0)
                {
                    continue;
                }

                var r = u.Rng(KBoardMessages, b);
                for (var n = r.Int(0, average * 2); n > 0; n--)
                {
                    var m = members[r.Int(members.Count)];
                    var content = r.Chance(0.08) ? r.Pick(UnicodeMessages) : Words.Sentence(ref r, r.Int(3, 25));
                    if (!Words.IsAscii(content))
                    {
                        a.Add(Anomalies.UnicodeMessage);
                    }

                    var type = r.Int(20) switch { 0 => "IMAGE", 1 => "VIDEO", 2 => "RICH", _ => "TEXT" };
                    w.Row();
                    w.Uuid(r.Uuid());
                    w.Uuid(BoardId(u, b));
                    w.Uuid(m.Id);
                    w.Text(content);
                    w.Text(r.Chance(0.95) ? type : null);
                    w.Jsonb(type == "TEXT" ? null : $$"""{"attachment": "att-{{r.Hex(6)}}"}""");
                    w.TimestampTz(After(m.AddedOn, ref r, 0.05));
                }
            }
        });
    }

    // ------------------------------------------------------------------ sse-db (timestamps without zone)

    private static Guid SseId(SeedUniverse u, int g) => u.Rng(KSse, 2_000_000_000L + g).Uuid();

    public static long PlannedSse(SeedUniverse u) => u.SseGroups + u.SseMembers;

    public static void Sse(DatabaseLoader l, SeedUniverse u, AnomalyCounter a)
    {
        l.Copy("groups", "id, id_str, id_type, created_by_id, created_on, meta_data, associated_item_ids", w =>
        {
            for (var g = 0; g < u.SseGroups; g++)
            {
                var r = u.Rng(KSse, g);
                var idType = r.Int(3) switch { 0 => "BROADCAST", 1 => "EVENT", _ => "USER" };
                var topic = r.Pick(Words.Nouns);
                w.Row();
                w.Uuid(SseId(u, g));
                w.Text(r.Uuid().ToString());
                w.Text(idType);
                w.Uuid(u.RandomCelebrity(ref r));
                w.Timestamp(Time((double)g / u.SseGroups * 0.9, ref r));
                w.Jsonb(r.Chance(0.5) ? $$"""{"topic": "{{topic}}"}""" : null);
                w.UuidArray(r.Chance(0.3) ? [u.Item(r.Int(u.Items)).Id] : null);
            }
        });

        l.Copy("members", "id, group_id, user_id, added_on, meta_data", w =>
        {
            var average = Math.Max(1, u.SseMembers / u.SseGroups);
            for (var g = 0; g < u.SseGroups; g++)
            {
                var r = u.Rng(KSseMembers, g);
                var users = new HashSet<Guid>();
                var count = r.Int(0, average * 2);
                for (var attempt = 0; users.Count < count && attempt < count * 4; attempt++)
                {
                    var user = u.AnyUser(ref r);
                    if (!users.Add(user))
                    {
                        continue;
                    }

                    w.Row();
                    w.Uuid(r.Uuid());
                    w.Uuid(SseId(u, g));
                    w.Uuid(user);
                    w.Timestamp(Time(r.Double(), ref r));
                    w.Jsonb(r.Chance(0.2) ? """{"client": "web"}""" : null);
                }
            }
        });
    }

    // ------------------------------------------------------------------ encryption-db and dwolla-db

    private static string Pem(ref Prng r, string kind) =>
        $"-----BEGIN {kind}-----\n{Words.Incompressible(ref r, 96)}\n-----END {kind}-----\n";

    private static string DwollaNamespaceId(SeedUniverse u, int n) =>
        n % 10 == 3 && n < u.Namespaces ? u.NamespaceId(n) : $"dwolla/customer-{Words.Base36(n)}-{u.Rng(KDwollaNamespace, n).Hex(4)}";

    public static long PlannedEncryption(SeedUniverse u) => u.Namespaces + u.Secrets;

    public static void Encryption(DatabaseLoader l, SeedUniverse u, AnomalyCounter a)
    {
        l.Copy("vault_namespaces", "namespace_id, public_key, private_key, version, created_on, created_by", w =>
        {
            for (var n = 0; n < u.Namespaces; n++)
            {
                var r = u.Rng(KNamespace, n);
                Namespace(w, u.NamespaceId(n), ref r, (double)n / u.Namespaces);
            }
        });

        l.Copy("vault_secrets", "secret_id, namespace_id, key, value, created_on, updated_on", w =>
        {
            for (var s = 0; s < u.Secrets; s++)
            {
                var r = u.Rng(KSecret, s);
                string ns;
                if (s % 40 == 11)
                {
                    ns = $"general/retired-{Words.Base36(s)}";
                    a.Add(Anomalies.SecretOfUnknownNamespace);
                }
                else
                {
                    ns = u.NamespaceId(r.Int(u.Namespaces));
                }

                Secret(w, u.SecretId(s), ns, s, ref r, (double)s / u.Secrets);
            }
        });
    }

    public static long PlannedDwolla(SeedUniverse u) => u.DwollaNamespaces + u.DwollaSecrets;

    public static void Dwolla(DatabaseLoader l, SeedUniverse u, AnomalyCounter a)
    {
        l.Copy("vault_namespaces", "namespace_id, public_key, private_key, version, created_on, created_by", w =>
        {
            for (var n = 0; n < u.DwollaNamespaces; n++)
            {
                var r = u.Rng(KDwollaNamespace, 1_000_000_000L + n);
                var id = DwollaNamespaceId(u, n);
                if (id == u.NamespaceId(n))
                {
                    a.Add(Anomalies.NamespaceInBothVaults);
                }

                Namespace(w, id, ref r, (double)n / u.DwollaNamespaces);
            }
        });

        l.Copy("vault_secrets", "secret_id, namespace_id, key, value, created_on, updated_on", w =>
        {
            for (var s = 0; s < u.DwollaSecrets; s++)
            {
                var r = u.Rng(KDwollaSecret, s);
                var collides = s % 25 == 4 && s < u.Secrets;
                if (collides)
                {
                    a.Add(Anomalies.SecretInBothVaults);
                }

                var id = collides ? u.SecretId(s) : r.Uuid().ToString();
                Secret(w, id, DwollaNamespaceId(u, r.Int(u.DwollaNamespaces)), s, ref r, (double)s / u.DwollaSecrets);
            }
        });
    }

    private static void Namespace(TableCopy w, string id, ref Prng r, double at)
    {
        w.Row();
        w.Text(id);
        w.Text(Pem(ref r, "PUBLIC KEY"));
        w.Text(Pem(ref r, "PRIVATE KEY"));
        w.Int(r.Int(1, 3));
        w.TimestampTz(Time(at * 0.9, ref r));
        w.Text(r.Chance(0.9) ? $"svc-{r.Pick(Words.Nouns)}" : null);
    }

    private static void Secret(TableCopy w, string id, string ns, int s, ref Prng r, double at)
    {
        var created = Time(at * 0.95, ref r);
        w.Row();
        w.Text(id);
        w.Text(ns);
        w.Text($"{r.Pick(new[] { "api-key", "webhook-secret", "oauth-token", "bank-account", "funding-source" })}-{Words.Base36(s)}");
        w.Text(r.Chance(0.97) ? $"v1:{Words.Incompressible(ref r, 48)}" : null);
        w.TimestampTz(created);
        w.TimestampTz(r.Chance(0.4) ? After(created, ref r, 0.2) : null);
    }
}
